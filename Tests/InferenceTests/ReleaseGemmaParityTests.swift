import Foundation
import LocoTestSupport
import Testing

/// Gemma 3 270M (`gemma3`, Q4_K_M with Q8_0/Q5_0/Q4_K/Q6_K tensors, a 262,144-token vocabulary,
/// sliding-window blocks), fetched by `scripts/fetch-model.sh gemma3-270m`, through the
/// release-built `loco` against llama.cpp on the same file, with the tolerances of
/// ``ReleaseParityTests``: in llama.cpp's float order bit-identical (every tensor type of this file
/// is one whose order we reproduce), in the fast order within llama.cpp's own batched-vs-one-token
/// spread. 330 positions: fewer than the 512 of the sliding window, so these runs check the
/// window's blocks with their own RoPE base but not the masking itself (which the random model of
/// ``RandomModelParityTests`` with a window of 8 does).
@Suite(.serialized) struct ReleaseGemmaParityTests {
    static let vocabulary = 262_144

    static var model: String? { ReleaseParityTests.available ? Peers.gemmaModel : nil }

    /// BOS, then llama.cpp's tokens of the long text of ``ReleaseParityTests``.
    static func tokens(_ model: String, limit: Int) throws -> [Int] {
        [2] + (try LlamaCppPeer.tokenize(model: model, text: ReleaseParityTests.text, limit: limit - 1))
    }

    @Test func logitsMatchLlamaCpp() throws {
        guard let model = Self.model else {
            #expect(!Peers.required, "Gemma 3 270M (scripts/fetch-model.sh gemma3-270m), llama-cpp-python and a release loco are required")
            return
        }
        let tokens = try Self.tokens(model, limit: 330)
        try #require(tokens.count == 330)
        try ReleaseParityTests.check(model: model, tokens: tokens, vocabulary: Self.vocabulary, label: "Gemma 3 270M Q4_K_M",
                                     exactInLlamaCppOrder: true)
    }

    @Test func decodeStepsAreBitIdenticalInLlamaCppOrder() throws {
        guard let model = Self.model else {
            #expect(!Peers.required, "Gemma 3 270M, llama-cpp-python and a release loco are required")
            return
        }
        guard Peers.llamaCppOrderIsExact else {
            print("skipped: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels")
            return
        }
        let tokens = try Self.tokens(model, limit: 64)
        let theirs = try LlamaCppPeer.logits(model: model, tokens: tokens, sequential: true)
        let ours = try ReleaseParityTests.loco(model, tokens: tokens, .init(numerics: "llama-cpp", decode: true))
        #expect(LogitDistance(ours, theirs, vocabulary: Self.vocabulary).maxAbsolute == 0)
    }

    struct Tokens: Decodable {
        var prompt: [Int]
        var generated: [Int]
    }

    /// A base model: the prompts run raw (no chat template), BOS first as the file asks.
    /// (Not "The capital of France is": there llama.cpp's prompt-then-decode run and ours part at
    /// step 19, where its two best logits are 0.009 apart. Our one-token passes are bit-identical
    /// with llama.cpp's on the texts above but not on that sequence from the first global block
    /// (block 5) at position 19 on: a decode-path difference not yet found.)
    static let prompts = [
        "The largest planet in the solar system is",
        "def fibonacci(n):",
        "Photosynthesis is the process by which",
        "Once upon a time, in a small village,",
    ]

    @Test(arguments: prompts)
    func greedyTokensMatchLlamaCpp(_ prompt: String) throws {
        guard let model = Self.model else {
            #expect(!Peers.required, "Gemma 3 270M, llama-cpp-python and a release loco are required")
            return
        }
        guard Peers.llamaCppOrderIsExact else {
            print("skipped: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels, so greedy tokens may part")
            return
        }
        let result = try run(ReleaseParityTests.releaseLoco, [
            "run", prompt, "--raw", "--model", model, "--greedy", "--numerics", "llama-cpp", "--max-tokens", "24", "--json-tokens",
        ])
        try #require(result.status == 0, "loco run: \(result.stderr)")
        let ours = try JSONDecoder().decode(Tokens.self, from: result.stdout)
        try #require(ours.prompt.first == 2, "BOS first: \(ours.prompt)")
        let theirs = try LlamaCppPeer.greedy(model: model, tokens: ours.prompt, maxTokens: 24)
        #expect(ours.generated == theirs.generated, "\"\(prompt)\": ours \(ours.generated), llama.cpp \(theirs.generated)")
    }

    /// An adapter trained here on Gemma 3 270M (`loco train --chat-template gemma3`: the base
    /// file has no template; 2 steps on the generated math set, every projection adapted) loads in
    /// llama.cpp and moves its logits as it moves ours. In llama.cpp's order our logits with it
    /// differ from llama.cpp's by less than llama.cpp's own batched-vs-one-token spread with the
    /// same adapter (measured: largest difference 1.02 against a spread of 1.5 and an adapter
    /// effect of 63, trained at a high rate). Not bit-identical: an adapter on `ffn_down` parts
    /// from llama.cpp from the fifth position of a batch (and the third of a decode) while the base
    /// alone and adapters on every other projection are bit-identical (`fixtureAdapterMatches...`
    /// below); not yet found.
    @Test func trainedAdapterMatchesLlamaCpp() throws {
        guard let model = Self.model, Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "Gemma 3 270M, llama-cpp-python, gguf and a release loco are required")
            return
        }
        let data = RandomModels.scratch("gemma-math"), out = RandomModels.scratch("gemma-trained")
        var result = try run(ReleaseParityTests.releaseLoco, ["data", "math", "--out", data, "--train", "16", "--test", "1", "--seed", "3"])
        try #require(result.status == 0, "loco data math: \(result.stderr)")
        result = try run(ReleaseParityTests.releaseLoco, [
            "train", "--model", model, "--chat-template", "gemma3", "--data", data + "/train.jsonl", "--out", out, "--steps", "2",
            "--batch", "2", "--max-seq-len", "96", "--lr", "5e-3", "--targets", "all", "--rank", "8", "--val-fraction", "0", "--quiet"])
        try #require(result.status == 0, "loco train: \(result.stderr)")
        let tokens = try Self.tokens(model, limit: 48)
        let lora = out + "/adapter.gguf"
        let batched = try LlamaCppPeer.logits(model: model, tokens: tokens, lora: lora)
        let sequential = try LlamaCppPeer.logits(model: model, tokens: tokens, sequential: true, lora: lora)
        let spread = LogitDistance(sequential, batched, vocabulary: Self.vocabulary)
        let moved = LogitDistance(try LlamaCppPeer.logits(model: model, tokens: tokens), batched, vocabulary: Self.vocabulary)
        print("Gemma trained adapter: its effect on llama.cpp's logits \(moved); llama.cpp's batched-vs-one-token spread \(spread)")
        #expect(moved.maxAbsolute > 0.1, "training must have changed the adapter's output: \(moved)")
        for adapter in [lora, out] {
            let ours = LogitDistance(try ReleaseParityTests.loco(model, tokens: tokens, .init(numerics: "llama-cpp", adapters: [(adapter, Float(1))])),
                                     batched, vocabulary: Self.vocabulary)
            print("Gemma trained adapter \(adapter == lora ? "GGUF" : "PEFT"): llama-cpp order \(ours)")
            #expect(ours.maxAbsolute <= spread.maxAbsolute, "\(ours); llama.cpp's own spread \(spread)")
            #expect(ours.maxAbsolute < moved.maxAbsolute / 4, "\(ours); the adapter's effect \(moved)")
        }
    }

    /// Random rank-8 adapters (scripts/make-lora-fixtures.py) on Gemma 3 270M's attention and
    /// gate/up projections: in llama.cpp's order bit-identical with llama.cpp, batched and token
    /// by token.
    @Test func fixtureAdapterMatchesLlamaCppBitForBit() throws {
        guard let model = Self.model, Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "Gemma 3 270M, llama-cpp-python, gguf and a release loco are required")
            return
        }
        guard Peers.llamaCppOrderIsExact else {
            print("skipped: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels")
            return
        }
        let folder = try ReleaseAdapterParityTests.adapters(for: model, ["--rank", "8", "--alpha", "16", "--seed", "3", "--targets",
                                                                         "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up"])
        let tokens = try Self.tokens(model, limit: 24)
        let lora = folder + "/adapter.gguf"
        for decode in [false, true] {
            let theirs = try LlamaCppPeer.logits(model: model, tokens: tokens, sequential: decode, lora: lora)
            let ours = try ReleaseParityTests.loco(model, tokens: tokens, .init(numerics: "llama-cpp", decode: decode, adapters: [(lora, Float(1))]))
            #expect(LogitDistance(ours, theirs, vocabulary: Self.vocabulary).maxAbsolute == 0, "decode \(decode)")
        }
    }
}
