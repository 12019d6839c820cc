import Foundation
import LocoTestSupport
import Testing

/// `loco embed` (release build, see ``ReleaseParityTests``) against llama.cpp's embeddings with
/// `pooling_type` MEAN (`Llama(embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN)`): the mean
/// over positions of the hidden states after the output norm.
///
/// Tolerances, all measured:
/// - Float weights (random tiny models, 160 tokens): the hidden states differ only by the order of
///   float additions in the products, as the logits do, and the mean adds one more order (we sum
///   in double, ggml in float). F32 agrees to 5.5e-7 of the largest value (bar 1e-5, the logits'
///   bar); F16 (qwen3, tied) to 2.2e-4 (bar 1e-3, for the half rounding of each product's input
///   described in ``RandomModelParityTests``). Cosine similarity at least 1 - 1e-5 (measured
///   1 - 1e-13 and 1 - 3e-8).
/// - SmolLM2 Q4_1 with `--numerics llama-cpp`: the hidden states are bit-identical with
///   llama.cpp's (its logits are, ``ReleaseParityTests``), so only the mean's order of additions
///   is left: measured at most 1.9e-7 of the largest value on 6-300 tokens, cosine 1 - 1e-14;
///   the bar is 1e-5 of the largest value and cosine at least 1 - 1e-9.
/// - SmolLM2 Q4_1 with `--numerics fast`: the 8-bit activations differ now and then by one
///   rounding step, and that grows through the layers (see ``ReleaseParityTests``). Measured
///   against llama.cpp on two builds of the fast kernels: 0.2-1.2% of the largest value, cosine
///   1 - 1.6e-5 to 1 - 4e-5 on 300 tokens, down to 1 - 1.8e-4 on 40: a short text averages fewer
///   positions, so the noise of each weighs more. The bar is cosine at least 0.999 (five times
///   the worst measured distance). For scale, llama.cpp's own token-by-token order is at
///   1 - 1e-5 from its batched one on 300 tokens.
@Suite(.serialized) struct ReleaseEmbeddingParityTests {
    static var releaseLoco: String { ReleaseParityTests.releaseLoco }
    static var available: Bool { ReleaseParityTests.available }

    /// `loco embed --json` with these arguments, parsed.
    static func loco(_ arguments: [String]) throws -> [Float] {
        let result = try run(releaseLoco, ["embed", "--json"] + arguments)
        try #require(result.status == 0, "loco embed: \(result.stderr)")
        return try LlamaCppPeer.decodeFloats(result.stdout)
    }

    static func loco(model: String, tokens: [Int], numerics: String) throws -> [Float] {
        try loco(["--model", model, "--tokens", tokens.map(String.init).joined(separator: ","), "--numerics", numerics])
    }

    @Test(arguments: ["llama-f32", "qwen3-f16-tied"])
    func randomFloatModelsMatchLlamaCpp(_ name: String) throws {
        guard Self.available else {
            #expect(!Peers.required, "llama-cpp-python and a release build of loco are required")
            return
        }
        let model = try RandomModels.path(name)
        let tokens = (0..<160).map { ($0 * 7919 + 13) % 509 }
        let theirs = try LlamaCppPeer.embedding(model: model, tokens: tokens)
        let distance = VectorDistance(try Self.loco(model: model, tokens: tokens, numerics: "fast"), theirs)
        print("embedding, random \(name): \(distance)")
        #expect(theirs.count == 256)
        #expect(distance.maxRelative <= (name.contains("f16") ? 1e-3 : 1e-5), "\(name): \(distance)")
        #expect(distance.cosine >= 1 - 1e-5, "\(name): \(distance)")
    }

    /// The default model on a long, a middling and a short run of tokens of a chat text.
    @Test(arguments: [0..<300, 0..<40, 200..<206])
    func smolLM2MatchesLlamaCpp(_ range: Range<Int>) throws {
        guard Self.available, let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model, llama-cpp-python and a release build of loco are required")
            return
        }
        let tokens = Array(try LlamaCppPeer.tokenize(model: model, text: ReleaseParityTests.text, limit: 300)[range])
        try #require(tokens.count == range.count)
        let theirs = try LlamaCppPeer.embedding(model: model, tokens: tokens)
        let spread = VectorDistance(try LlamaCppPeer.embedding(model: model, tokens: tokens, sequential: true), theirs)
        let exact = VectorDistance(try Self.loco(model: model, tokens: tokens, numerics: "llama-cpp"), theirs)
        let fast = VectorDistance(try Self.loco(model: model, tokens: tokens, numerics: "fast"), theirs)
        let report = "embedding, SmolLM2 Q4_1, \(tokens.count) tokens: --numerics llama-cpp \(exact); fast \(fast); "
            + "llama.cpp token by token vs batched: \(spread)"
        print(report)
        #expect(theirs.count == 576)
        if Peers.llamaCppOrderIsExact {
            #expect(exact.maxRelative <= 1e-5 && exact.cosine >= 1 - 1e-9, "\(report)")
        } else {
            #expect(exact.cosine >= 0.999, "\(report)")  // another float order: the fast bar
        }
        #expect(fast.cosine >= 0.999, "\(report)")
    }

    /// `--prompt` tokenizes as `Llama.embed(text)` does (BOS when the model asks for it, no
    /// control tokens parsed), and `--normalize` is its `normalize=True`: a unit vector.
    @Test func promptAndNormalizeMatchLlamaEmbed() throws {
        guard Self.available, let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model, llama-cpp-python and a release build of loco are required")
            return
        }
        let text = "Which adapter should answer this: how do I convert 3/8 to a decimal? <|im_end|>"
        let theirs = try LlamaCppPeer.embedding(model: model, text: text, normalize: true)
        let ours = try Self.loco(["--model", model, "--prompt", text, "--normalize", "--numerics", "llama-cpp"])
        let distance = VectorDistance(ours, theirs)
        let length = ours.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        print("embedding, SmolLM2 Q4_1, --prompt --normalize: \(distance), length \(length)")
        #expect(abs(length - 1) <= 1e-6)
        if Peers.llamaCppOrderIsExact {
            #expect(distance.maxAbsolute <= 1e-6 && distance.cosine >= 1 - 1e-9, "\(distance)")
        } else {
            #expect(distance.cosine >= 0.999, "\(distance)")
        }
    }
}
