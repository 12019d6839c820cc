import Foundation
import LocoTestSupport
import Testing

/// LoRA adapters applied unmerged (`loco logits --adapter`, release build) against llama.cpp with
/// the same adapter (`Llama(lora_path:, lora_scale:)`), every position. Adapters come from
/// scripts/make-lora-fixtures.py: random, non-zero A and B (so an adapter that is ignored, or
/// applied with the wrong scale, moves the logits by far more than the bars), as a GGUF LoRA
/// written by gguf-py and as PEFT folders.
@Suite(.serialized) struct ReleaseAdapterParityTests {
    static var available: Bool {
        let has = ReleaseParityTests.available && Peers.pythonHas("gguf")
        if !has { #expect(!Peers.required, "the release loco, llama-cpp-python and gguf are required (LOCO_REQUIRE_PEERS=1)") }
        return has
    }

    static func adapters(for base: String, _ arguments: [String]) throws -> String {
        let folder = RandomModels.scratch("lora")
        let result = try run("python3", [Repository.path("scripts/make-lora-fixtures.py"), base, folder] + arguments)
        try #require(result.status == 0, "make-lora-fixtures.py: \(result.stderr)")
        return folder
    }

    /// A random F32 model with a rank-8 adapter at user scale 0.7, against llama.cpp with the same
    /// adapter: the F32 parity bar of the inference runtime (1e-5 of the largest logit), from the
    /// GGUF LoRA and from PEFT folders read directly (F32 and BF16: the fixture's values are exact
    /// in both), batched and token by token.
    /// - qwen3 (untied output): every projection, the output layer and the token embedding;
    ///   measured 8e-7.
    /// - gemma3 (sliding window of 8 over 160 positions, post-norms, GeGLU, tied output): every
    ///   projection; measured 5.4e-6. Not the token embedding: with the output tied to it,
    ///   llama.cpp also applies that adapter to the output product, in the embedding's
    ///   orientation, and aborts on the shapes.
    /// - qwen2 (biased q, k and v, untied output): every projection, the output layer and the
    ///   token embedding.
    /// - bitnet (sub-norms, a scale on every projection, tied output): every projection; the
    ///   peer scales q, k, v, the attention output and down before adding the delta and gate and
    ///   up after it, and so do we (measured 6.7e-7; with either single order, 0.06-0.08).
    /// The adapter moves the logits far more than the bar (qwen3 over 0.05 of the largest logit;
    /// gemma3, whose largest logit is about 270, 0.024, measured).
    @Test(arguments: [
        ("qwen3-f32", "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down,output,token_embd", Float(0.05)),
        ("gemma3-f32", "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down", Float(0.01)),
        ("qwen2-f32", "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down,output,token_embd", Float(0.05)),
        ("bitnet-f32", "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down", Float(0.05)),
    ])
    func randomModelsMatchLlamaCpp(recipe: String, targets: String, effectAtLeast: Float) throws {
        guard Self.available else { return }
        let base = try RandomModels.path(recipe)
        let folder = try Self.adapters(for: base, ["--rank", "8", "--alpha", "16", "--seed", "7", "--targets", targets])
        let tokens = (0..<160).map { ($0 * 37 + 11) % 512 }
        let theirs = try LlamaCppPeer.logits(model: base, tokens: tokens, lora: folder + "/adapter.gguf", loraScale: 0.7)
        let bare = try ReleaseParityTests.loco(base, tokens: tokens, .init())
        let effect = LogitDistance(bare, theirs, vocabulary: 512)
        for adapter in ["adapter.gguf", "peft-f32", "peft-bf16"] {
            for decode in [false, true] {
                let ours = try ReleaseParityTests.loco(base, tokens: tokens, .init(decode: decode, adapters: [(folder + "/" + adapter, 0.7)]))
                let distance = LogitDistance(ours, theirs, vocabulary: 512)
                print("\(recipe) + \(adapter)\(decode ? " (decode)" : ""): \(distance); without the adapter: \(effect)")
                #expect(distance.maxRelative <= 1e-5, "\(adapter): \(distance)")
                #expect(distance.argmaxAgreement == 1, "\(adapter): \(distance)")
            }
        }
        #expect(effect.maxRelative > effectAtLeast, "the adapter must matter: \(effect)")
    }

    /// An adapter trained here (`loco train`, release build: a few steps on the generated math
    /// set, every projection adapted) loads in llama.cpp and gives the same logits as here: in
    /// llama.cpp's order bit-identical, from the GGUF LoRA and from the PEFT folder the trainer
    /// wrote (Hugging Face's row order, put back in the GGUF's on loading). The training moved the
    /// logits away from the base's. (Token-by-token decoding with an adapter: the fixture test below.)
    @Test func trainedAdapterMatchesLlamaCpp() throws {
        guard Self.available, let model = Peers.defaultModel else { return }
        let data = RandomModels.scratch("math"), out = RandomModels.scratch("trained")
        var result = try run(ReleaseParityTests.releaseLoco, ["data", "math", "--out", data, "--train", "24", "--test", "1", "--seed", "3"])
        try #require(result.status == 0, "loco data math: \(result.stderr)")
        result = try run(ReleaseParityTests.releaseLoco, [
            "train", "--model", model, "--data", data + "/train.jsonl", "--out", out, "--steps", "3", "--batch", "4",
            "--max-seq-len", "128", "--lr", "5e-3", "--targets", "all", "--rank", "8", "--val-fraction", "0", "--quiet"])
        try #require(result.status == 0, "loco train: \(result.stderr)")
        let tokens = try LlamaCppPeer.tokenize(model: model, text: ReleaseParityTests.text, limit: 100)
        let lora = out + "/adapter.gguf"
        let batched = try LlamaCppPeer.logits(model: model, tokens: tokens, lora: lora)
        let moved = LogitDistance(try LlamaCppPeer.logits(model: model, tokens: tokens), batched, vocabulary: 49152)
        print("trained adapter: its effect on llama.cpp's logits \(moved)")
        #expect(moved.maxAbsolute > 0.1, "training must have changed the adapter's output: \(moved)")
        for adapter in [lora, out] {
            let exact = LogitDistance(try ReleaseParityTests.loco(model, tokens: tokens, .init(numerics: "llama-cpp", adapters: [(adapter, Float(1))])),
                                      batched, vocabulary: 49152)
            print("trained adapter \(adapter == lora ? "GGUF" : "PEFT"): llama-cpp order \(exact)")
            if Peers.llamaCppOrderIsExact {
                #expect(exact.maxAbsolute == 0, "\(exact)")
            } else {
                // Another float order (the scalar kernels): the adapter's effect must still come through.
                #expect(exact.maxAbsolute < moved.maxAbsolute / 4, "\(exact); the adapter's effect \(moved)")
            }
        }
    }

    /// SmolLM2-135M-Instruct as shipped (Q4_1, tied output) with a rank-16 adapter on q, k, v and
    /// o. In llama.cpp's order (`--numerics llama-cpp`: the base products as ggml, the F32 factors
    /// as llamafile's tinyBLAS for a batch and `ggml_vec_dot_f32` for one token, then scale and
    /// add) the logits are bit-identical with llama.cpp's, batched and token by token. In the fast
    /// order the last-bit differences cross 8-bit activation roundings downstream, so the bar is
    /// llama.cpp's own batched-vs-token-by-token spread with the adapter (largest difference at
    /// most twice it, argmax agreement at most 5 points below), as for the K-quants. The adapter
    /// itself moves the logits several times further.
    @Test func smolLM2MatchesLlamaCpp() throws {
        guard Self.available, let model = Peers.defaultModel else { return }
        let folder = try Self.adapters(for: model, ["--rank", "16", "--alpha", "32", "--seed", "8", "--targets",
                                                    "attn_q,attn_k,attn_v,attn_output"])
        let tokens = try LlamaCppPeer.tokenize(model: model, text: ReleaseParityTests.text, limit: 120)
        let lora = folder + "/adapter.gguf"
        let batched = try LlamaCppPeer.logits(model: model, tokens: tokens, lora: lora)
        let sequential = try LlamaCppPeer.logits(model: model, tokens: tokens, sequential: true, lora: lora)
        let spread = LogitDistance(sequential, batched, vocabulary: 49152)
        let bare = LogitDistance(try LlamaCppPeer.logits(model: model, tokens: tokens), batched, vocabulary: 49152)
        for adapter in ["adapter.gguf", "peft-f16"] {
            let path = folder + "/" + adapter
            let exact = LogitDistance(try ReleaseParityTests.loco(model, tokens: tokens, .init(numerics: "llama-cpp", adapters: [(path, Float(1))])),
                                      batched, vocabulary: 49152)
            let exactDecode = LogitDistance(
                try ReleaseParityTests.loco(model, tokens: tokens, .init(numerics: "llama-cpp", decode: true, adapters: [(path, Float(1))])),
                sequential, vocabulary: 49152)
            let fast = LogitDistance(try ReleaseParityTests.loco(model, tokens: tokens, .init(adapters: [(path, Float(1))])), batched, vocabulary: 49152)
            let report = "SmolLM2 Q4_1 + \(adapter): llama-cpp order \(exact), decode \(exactDecode); fast \(fast); "
                + "llama.cpp batched vs token by token: \(spread); without the adapter: \(bare)"
            print(report)
            if Peers.llamaCppOrderIsExact {
                #expect(exact.maxAbsolute == 0 && exactDecode.maxAbsolute == 0, "\(report)")
            } else {
                #expect(exact.maxAbsolute <= 2 * spread.maxAbsolute && exactDecode.maxAbsolute <= 2 * spread.maxAbsolute, "\(report)")
            }
            #expect(fast.maxAbsolute <= 2 * spread.maxAbsolute, "\(report)")
            #expect(fast.argmaxAgreement >= spread.argmaxAgreement - 0.05, "\(report)")
            #expect(bare.maxAbsolute > 4 * fast.maxAbsolute, "\(report)")
        }
    }
}
