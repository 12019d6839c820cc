import Foundation
import LocoTestSupport
import Quantization
import Testing
@testable import Inference
import Tensor

/// Small random models (scripts/make-random-model.py) through the SDK in this process, against
/// llama.cpp's logits for every position of 160 tokens.
///
/// - F32 weights: llama.cpp and transformers agree to ~1e-6 of the largest logit on such models
///   (PEERS.md); the only differences left are the order of float additions in the products, so
///   the bar is 1e-5 of the largest logit and every argmax the same.
/// - F16 weights: llama.cpp rounds each product's input to half (so do we); a last-bit difference
///   upstream now and then flips one of those roundings, a step of 2^-11 of the value. Measured:
///   4e-4 of the largest logit; the bar is 2^-10 (1e-3) and every argmax the same.
/// - Quantized weights with `Numerics.llamaCpp`: the activations are quantized by the same code
///   from the same floats, so the logits must be bit-identical.
@Suite(.serialized) struct RandomModelParityTests {
    static let tokens: [Int] = (0..<160).map { ($0 * 7919 + 13) % 509 }

    static func qwen3F32() throws -> String {
        let path = RandomModels.scratch("qwen3-f32.gguf")
        let result = try run("python3", [Repository.path("scripts/make-random-model.py"), path, "--arch", "qwen3", "--layers", "3",
                                         "--width", "256", "--ffn", "512", "--heads", "4", "--kv-heads", "2", "--head-dim", "128", "--seed", "4"])
        try #require(result.status == 0, "make-random-model.py: \(result.stderr)")
        return path
    }

    /// Our logits against llama.cpp's: all positions in one pass against its batch, or with
    /// `decode` one token at a time against its one-token passes. Both with an F32 KV cache (the
    /// peer's parity settings): an F16 one would put its rounding (~1e-4 here) above the bar.
    func compare(_ path: String, numerics: Numerics = .fast, decode: Bool = false) throws -> LogitDistance {
        let model = try Model(contentsOf: path)
        let session = model.makeSession(cachePrecision: .f32, numerics: numerics)
        let ours = decode ? try Self.tokens.flatMap { try session.decode($0) } : try session.forward(tokens: Self.tokens).values
        let theirs = try LlamaCppPeer.logits(model: path, tokens: Self.tokens, sequential: decode)
        return LogitDistance(ours, theirs, vocabulary: model.vocabularySize)
    }

    /// The architectures added after llama and qwen3, prefill and decode, F32 within the bar and
    /// a pure Q8_0 copy bit-identical in llama.cpp's order: Gemma 3's block with a sliding window
    /// of 8 over 160 positions, so the window masks most keys (llama-cpp-python keeps a full-size
    /// SWA cache, so its cells stay in position order), Qwen2's biased q, k and v, and BitNet's
    /// sub-norms and per-tensor scales (measured F32: 7e-7 batched, 3e-7 token by token).
    @Test(arguments: ["gemma3-f32", "qwen2-f32", "bitnet-f32"], [false, true])
    func newerArchitecturesMatchLlamaCpp(_ recipe: String, decode: Bool) throws {
        guard LlamaCppPeer.available else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        let source = try RandomModels.path(recipe)
        let distance = try compare(source, decode: decode)
        #expect(distance.maxRelative <= 1e-5 && distance.argmaxAgreement == 1, "\(recipe) decode \(decode): \(distance)")
        guard Peers.llamaCppOrderIsExact else { return }
        let path = RandomModels.scratch("\(recipe)-q8_0.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try ModelQuantizer(recipe: QuantizationRecipe(.q8_0, pure: true), allowRequantize: false).quantize(input: source, output: path)
        let exact = try compare(path, numerics: .llamaCpp, decode: decode)
        #expect(exact.maxAbsolute == 0, "\(recipe) Q8_0 decode \(decode): \(exact)")
    }

    @Test(arguments: ["llama-f32", "qwen3-f16-tied", "qwen3-f32"])
    func floatModelsMatchLlamaCpp(_ name: String) throws {
        guard LlamaCppPeer.available else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        let path = name == "qwen3-f32" ? try Self.qwen3F32() : try RandomModels.path(name)
        let distance = try compare(path)
        #expect(distance.maxRelative <= (name.contains("f16") ? 1e-3 : 1e-5), "\(name): \(distance)")
        #expect(distance.argmaxAgreement == 1, "\(name): \(distance)")
    }

    /// Every tensor quantized (`pure`), so every product takes quantized activations.
    @Test(arguments: [("llama-f32", QuantizationFileType.q4_1), ("qwen3-f32", .q8_0)])
    func quantizedModelsAreBitIdenticalInLlamaCppOrder(_ name: String, _ type: QuantizationFileType) throws {
        guard LlamaCppPeer.available else { #expect(!Peers.required, "llama-cpp-python is required"); return }
        guard Peers.llamaCppOrderIsExact else {
            print("skipped: llama.cpp's order is not reproduced on the \(Peers.kernelSet) kernels")
            return
        }
        let source = name == "qwen3-f32" ? try Self.qwen3F32() : try RandomModels.path(name)
        let path = RandomModels.scratch("\(name)-\(type.rawValue).gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try ModelQuantizer(recipe: QuantizationRecipe(type, pure: true), allowRequantize: false).quantize(input: source, output: path)
        let distance = try compare(path, numerics: .llamaCpp)
        #expect(distance.maxAbsolute == 0, "\(name) \(type.rawValue): \(distance)")
    }
}
