import Foundation
import GGUFFormat
import Inference
import Adapters
import LocoTestSupport
import Quantization
import Testing

/// Merging an adapter into its base (`LoRAAdapter.merge(into:...)`): the merged weights against
/// `W + scale * B A` computed here in double, the merged model's logits against the unmerged
/// adapter in our runtime and in llama.cpp, the file-type path against the model quantizer, and
/// the errors.
@Suite(.serialized) struct MergeTests {
    static let userScale: Float = 0.7
    static let tokens = [3, 17, 5, 22, 9, 31, 0, 12, 7, 7, 28, 1, 200, 511, 64, 100]

    /// `W + scale * B A` for `name` in double, row-major over the base tensor's rows (for the
    /// token embedding, row v is token v: `W[v][e] + scale * sum_r B[e][r] A[r][v]`).
    static func expectedMerge(_ base: [Float], _ pair: LoRAWeights, embedding: Bool, scale: Float) -> [Double] {
        let rank = pair.rank
        var out = base.map(Double.init)
        let s = Double(scale)
        if embedding {
            let vocab = pair.a.columns, width = pair.b.rows
            for v in 0..<vocab {
                for e in 0..<width {
                    var sum = 0.0
                    for r in 0..<rank { sum += Double(pair.b[e, r]) * Double(pair.a[r, v]) }
                    out[v * width + e] += s * sum
                }
            }
        } else {
            let inputs = pair.a.columns, outputs = pair.b.rows
            for o in 0..<outputs {
                for i in 0..<inputs {
                    var sum = 0.0
                    for r in 0..<rank { sum += Double(pair.b[o, r]) * Double(pair.a[r, i]) }
                    out[o * inputs + i] += s * sum
                }
            }
        }
        return out
    }

    static func floats(_ file: GGUFFile, _ name: String) throws -> [Float] {
        let data = try file.tensorData(named: name)
        var out = [Float](repeating: 0, count: data.info.elementCount)
        try data.withUnsafeBytes { bytes in try out.withUnsafeMutableBufferPointer { try BlockCodec.dequantize(data.info.type, bytes, into: $0) } }
        return out
    }

    static func bytes(_ file: GGUFFile, _ name: String) throws -> [UInt8] {
        try file.tensorData(named: name).withUnsafeBytes { Array($0) }
    }

    /// The largest difference and the largest reference value.
    static func distance(_ x: [Float], _ y: [Float]) -> (difference: Float, largest: Float) {
        (zip(x, y).map { abs($0 - $1) }.max() ?? 0, y.map(abs).max() ?? 0)
    }

    static func removing(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    // MARK: (a) the merged weights

    /// Every targeted tensor of the F32 random llama (all seven block matrices, the token
    /// embedding and the output layer) equals `W + scale * B A` in double rounded once to F32;
    /// every other tensor, the metadata and the tensor order are the base's, byte for byte.
    @Test func mergedWeightsAreWPlusScaledBA() throws {
        guard LoRAFixture.available else { return }
        let fixture = try LoRAFixture.llama()
        let base = try GGUFFile(contentsOf: fixture.base)
        let adapter = try LoRAAdapter(contentsOf: fixture.gguf)
        let out = RandomModels.scratch("merged-f32.gguf")
        defer { Self.removing(out) }
        let summary = try adapter.merge(into: base, userScale: Self.userScale, to: out)
        #expect(summary.mergedTensors == adapter.targets && summary.fileType == nil)
        #expect(adapter.targets.contains("token_embd.weight") && adapter.targets.contains("output.weight"))
        let merged = try GGUFFile(contentsOf: out)
        #expect(merged.tensors.map(\.name) == base.tensors.map(\.name))
        #expect(merged.tensors.map(\.type) == base.tensors.map(\.type))
        #expect(merged.tensors.map(\.shape) == base.tensors.map(\.shape))
        // Header (metadata, tensor infos, offsets) byte for byte.
        #expect(try GGUFWriter(copying: merged).encodedHeader() == GGUFWriter(copying: base).encodedHeader())
        let scale = adapter.scale(userScale: Self.userScale)
        var worstUlps: Float = 0
        for tensor in base.tensors {
            if let pair = adapter.weights[tensor.name] {
                let expected = Self.expectedMerge(try Self.floats(base, tensor.name), pair,
                                                  embedding: tensor.name == "token_embd.weight", scale: scale)
                let got = try Self.floats(merged, tensor.name)
                for (g, e) in zip(got, expected) {
                    let rounded = Float(e)
                    worstUlps = max(worstUlps, abs(g - rounded) / rounded.ulp)
                }
                let original = try Self.floats(base, tensor.name)
                let moved = Self.distance(got, original).difference > 1e-3
                #expect(moved, "\(tensor.name) did not change")
            } else {
                #expect(try Self.bytes(merged, tensor.name) == Self.bytes(base, tensor.name), "\(tensor.name) changed")
            }
        }
        // Our delta is summed in double like the reference, in another order: at most one ulp.
        #expect(worstUlps <= 1, "largest difference \(worstUlps) ulp")
        print("merge F32: largest difference from W + scale * B A (double) = \(worstUlps) ulp")
    }

    /// A merge into an F16 base keeps F16: merged tensors are the F16 rounding of the merged
    /// values (within one F16 ulp of the double reference), the rest byte for byte.
    @Test func mergeIntoF16BaseKeepsItsTypes() throws {
        guard LoRAFixture.available else { return }
        let fixture = try LoRAFixture.qwen3()
        let base = try GGUFFile(contentsOf: fixture.base)
        let adapter = try LoRAAdapter(contentsOf: fixture.gguf)
        let out = RandomModels.scratch("merged-f16.gguf")
        defer { Self.removing(out) }
        try adapter.merge(into: base, to: out)
        let merged = try GGUFFile(contentsOf: out)
        #expect(merged.tensors.map(\.type) == base.tensors.map(\.type))
        let scale = adapter.scale()
        var worst: Float = 0
        for tensor in base.tensors {
            if let pair = adapter.weights[tensor.name] {
                #expect(tensor.type == .f16)
                let expected = Self.expectedMerge(try Self.floats(base, tensor.name), pair, embedding: false, scale: scale)
                for (g, e) in zip(try Self.floats(merged, tensor.name), expected) {
                    let half = Float(Float16(Float(e)))
                    worst = max(worst, abs(g - half) / max(Float(Float16(Float(e)).ulp), .leastNormalMagnitude))
                }
            } else {
                #expect(try Self.bytes(merged, tensor.name) == Self.bytes(base, tensor.name), "\(tensor.name) changed")
            }
        }
        #expect(worst <= 1, "largest difference \(worst) F16 ulp")
        print("merge F16: largest difference from the F16 rounding of W + scale * B A (double) = \(worst) F16 ulp")
    }

    // MARK: (b) our runtime, merged vs unmerged

    /// The merged F32 model's logits equal the base's with the adapter applied unmerged
    /// (`AdapterSet`), within 1e-5 of the largest logit. The runtime refuses a token-embedding
    /// adapter, so this uses every other target of the fixture.
    @Test func mergedLogitsMatchUnmergedAdapter() throws {
        guard LoRAFixture.available else { return }
        let fixture = try LoRAFixture.llama()
        let full = try LoRAAdapter(contentsOf: fixture.gguf)
        let adapter = try LoRAAdapter(weights: full.weights.filter { $0.key != "token_embd.weight" }, alpha: full.alpha,
                                      scaling: full.scaling, metadata: full.metadata)
        let out = RandomModels.scratch("merged-runtime.gguf")
        defer { Self.removing(out) }
        try adapter.merge(into: GGUFFile(contentsOf: fixture.base), userScale: Self.userScale, to: out)

        let model = try Model(contentsOf: fixture.base)
        // F32 caches: the bar is on the merge, and F16 keys would round the two sides apart.
        let session = model.makeSession(cachePrecision: .f32)
        session.adapters = try AdapterSet(model: model, adapters: [(adapter, Self.userScale)])
        let unmerged = try session.forward(tokens: Self.tokens).values
        let merged = try Model(contentsOf: out).makeSession(cachePrecision: .f32).forward(tokens: Self.tokens).values
        let base = try model.makeSession().forward(tokens: Self.tokens).values
        let (difference, largest) = Self.distance(merged, unmerged)
        let effect = Self.distance(base, unmerged).difference
        print("runtime merged vs unmerged: \(difference) of largest logit \(largest) (\(difference / largest)); adapter effect \(effect)")
        #expect(difference <= 1e-5 * largest, "\(difference) of \(largest)")
        #expect(effect > 0.05 * largest, "the adapter barely changes the logits: \(effect)")
    }

    // MARK: (c) llama.cpp

    static func llamaCppLogits(_ model: String, lora: String? = nil, scale: Float = 1) throws -> [Float] {
        let out = RandomModels.scratch("peer-logits.f32")
        defer { removing(out) }
        let result = try run("python3", [Repository.path("scripts/inference_peer.py"), "logits", model, "--tokens",
                                         tokens.map(String.init).joined(separator: ","), "--out", out]
                                        + (lora.map { ["--lora", $0, "--lora-scale", "\(scale)"] } ?? []))
        try #require(result.status == 0, "inference_peer.py: \(result.stderr.suffix(2000))")
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// llama.cpp loads the merged GGUF and gives the logits it gives with the unmerged adapter
    /// (`--lora --lora-scale`), token embedding and output layer included. F32: within 1e-5 of
    /// the largest logit (the two differ only in F32 summation order). Q8_0 (`merge(type:)`): the
    /// file equals the model quantizer's Q8_0 of the F32 merge byte for byte, its weights are
    /// within half a Q8_0 step (plus the F16 rounding of the step) of the F32 merge, and its
    /// logits are at most twice as far from the unmerged F32 adapter as Q8_0 alone takes the
    /// unadapted base from itself (measured: 0.088 vs 0.084, 2.4% of the largest logit).
    @Test func llamaCppLoadsTheMergedModel() throws {
        guard LoRAFixture.available else { return }
        guard Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "python3 with llama_cpp is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let fixture = try LoRAFixture.llama()
        let adapter = try LoRAAdapter(contentsOf: fixture.gguf)
        let base = try GGUFFile(contentsOf: fixture.base)
        let f32 = RandomModels.scratch("merged-llamacpp-f32.gguf")
        let q8 = RandomModels.scratch("merged-llamacpp-q8_0.gguf")
        let reference = RandomModels.scratch("merged-then-quantized-q8_0.gguf")
        defer { for path in [f32, q8, reference] { Self.removing(path) } }
        try adapter.merge(into: base, userScale: Self.userScale, to: f32)
        let summary = try adapter.merge(into: base, userScale: Self.userScale, type: .q8_0, to: q8)
        #expect(summary.fileType == .q8_0)

        // The file-type path is the quantizer applied to the F32 merge.
        try ModelQuantizer(recipe: QuantizationRecipe(.q8_0)).quantize(input: f32, output: reference)
        let q8Bytes = try Data(contentsOf: URL(fileURLWithPath: q8))
        #expect(q8Bytes == (try Data(contentsOf: URL(fileURLWithPath: reference))))

        // Q8_0 weights: each within half a step (block amax / 127) of the F32 merge.
        let q8File = try GGUFFile(contentsOf: q8), f32File = try GGUFFile(contentsOf: f32)
        var worstSteps: Float = 0
        for tensor in q8File.tensors where tensor.type == .q8_0 {
            let exact = try Self.floats(f32File, tensor.name), quantized = try Self.floats(q8File, tensor.name)
            for block in stride(from: 0, to: exact.count, by: 32) {
                let amax = exact[block..<(block + 32)].map(abs).max()!
                guard amax > 0 else { continue }
                let step = Float(Float16(amax / 127))
                for i in block..<(block + 32) { worstSteps = max(worstSteps, abs(quantized[i] - exact[i]) / step) }
            }
        }
        // ggml rounds x / d with d = amax / 127 but stores d in F16 (relative error <= 2^-11),
        // so a value is within half a step plus 127 * 2^-11 steps of the exact one.
        #expect(worstSteps <= 0.5 + 127.0 / 2048, "Q8_0 weights \(worstSteps) steps from the F32 merge")

        let unmerged = try Self.llamaCppLogits(fixture.base, lora: fixture.gguf, scale: Self.userScale)
        let mergedF32 = try Self.llamaCppLogits(f32)
        let mergedQ8 = try Self.llamaCppLogits(q8)
        let baseLogits = try Self.llamaCppLogits(fixture.base)
        // What Q8_0 alone does to this model: the base quantized by the same recipe, unadapted.
        let baseQ8 = RandomModels.scratch("base-q8_0.gguf")
        defer { Self.removing(baseQ8) }
        try ModelQuantizer(recipe: QuantizationRecipe(.q8_0)).quantize(input: fixture.base, output: baseQ8)
        let quantizationEffect = Self.distance(try Self.llamaCppLogits(baseQ8), baseLogits).difference
        let (d32, largest) = Self.distance(mergedF32, unmerged)
        let (d8, _) = Self.distance(mergedQ8, unmerged)
        let effect = Self.distance(baseLogits, unmerged).difference
        print("llama.cpp merged F32 vs unmerged: \(d32) (\(d32 / largest) of largest \(largest)); merged Q8_0: \(d8) "
              + "(\(d8 / largest)); Q8_0 of the base alone moves its logits by \(quantizationEffect); adapter effect \(effect) "
              + "(\(effect / largest)); Q8_0 weights within \(worstSteps) steps")
        #expect(d32 <= 1e-5 * largest, "F32: \(d32) of \(largest)")
        // The merged Q8_0 model is as far from the exact adapted model as Q8_0 takes the base
        // from itself (same weights' magnitudes, same step size): allow twice that.
        #expect(d8 <= 2 * quantizationEffect, "Q8_0: \(d8); Q8_0 of the base alone: \(quantizationEffect)")
        #expect(effect > 0.05 * largest, "the adapter barely changes the logits: \(effect)")
    }

    // MARK: (d) errors

    @Test func adapterForAnotherArchitectureIsRefused() throws {
        guard LoRAFixture.available else { return }
        let base = try GGUFFile(contentsOf: LoRAFixture.llama().base)
        let qwen3 = try LoRAAdapter(contentsOf: LoRAFixture.qwen3().gguf)
        let out = RandomModels.scratch("never-arch.gguf")
        expectLoRAError({ try qwen3.merge(into: base, to: out) }) { $0 == .architectureMismatch(adapter: "qwen3", base: "llama") }
        #expect(!FileManager.default.fileExists(atPath: out))
        for type in [QuantizationFileType.q8_0, .q4_K_M] {
            expectLoRAError({ try qwen3.merge(into: base, type: type, to: out) }) { $0 == .architectureMismatch(adapter: "qwen3", base: "llama") }
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        #expect(try leftovers(near: out).isEmpty)
    }

    @Test func wrongWidthAndMissingTargetAreRefused() throws {
        guard LoRAFixture.available else { return }
        let base = try GGUFFile(contentsOf: LoRAFixture.llama().base)
        let out = RandomModels.scratch("never-width.gguf")
        let wide = try memoryAdapter(["blk.0.attn_q.weight": (inputs: 255, outputs: 256)], architecture: "llama")
        expectLoRAError({ try wide.merge(into: base, to: out) }) {
            if case .shapeMismatch(target: "blk.0.attn_q.weight", _, _, expected: [255, 256], base: [256, 256]) = $0 { return true }
            return false
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        let missing = try memoryAdapter(["blk.9.attn_q.weight": (inputs: 256, outputs: 256)])
        expectLoRAError({ try missing.merge(into: base, type: .q8_0, to: out) }) { $0 == .targetNotInBase(target: "blk.9.attn_q.weight", hint: nil) }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try leftovers(near: out).isEmpty)
    }

    @Test func outputMustNotBeTheBase() throws {
        guard LoRAFixture.available else { return }
        let fixture = try LoRAFixture.llama()
        let adapter = try LoRAAdapter(contentsOf: fixture.gguf)
        let before = try Data(contentsOf: URL(fileURLWithPath: fixture.base))
        #expect(throws: QuantizationError.outputIsInput(fixture.base)) {
            try adapter.merge(into: GGUFFile(contentsOf: fixture.base), to: fixture.base)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.base)) == before)
    }

    /// Temporary files of a merge to `path` left in its folder.
    func leftovers(near path: String) throws -> [String] {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent
        return try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
            .filter { $0.hasPrefix(".\(name)") }
    }
}
