import Foundation
import GGUFFormat
import Inference
import Adapters
import Quantization
import LocoTestSupport
import Testing

/// Adapters written by the peers (gguf-py, numpy) read exactly; our exports read back exactly here
/// and in gguf-py, and load in llama.cpp.
@Suite(.serialized) struct AdapterFormatTests {
    /// Every weight of `adapter` equals the script's values bit for bit, with its alpha and rank.
    func expectExact(_ adapter: LoRAAdapter, _ fixture: LoRAFixture, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try fixture.expected()
        #expect(adapter.targets == expected.order, sourceLocation: sourceLocation)
        #expect(adapter.alpha == expected.alpha, sourceLocation: sourceLocation)
        #expect(adapter.rank == expected.rank, sourceLocation: sourceLocation)
        #expect(adapter.scaling == .standard, sourceLocation: sourceLocation)
        for (name, pair) in expected.weights {
            #expect(adapter.weights[name] == pair, "\(name)", sourceLocation: sourceLocation)
        }
    }

    @Test func ggufFromGGUFPyGivesExactlyItsValues() throws {
        guard LoRAFixture.available else { return }
        for fixture in [try LoRAFixture.llama(), try LoRAFixture.qwen3()] {
            for path in [fixture.gguf, fixture.ggufF16] {
                let adapter = try LoRAAdapter(contentsOf: path)
                try expectExact(adapter, fixture)
                #expect(adapter.metadata.sourceFormat == .gguf)
                #expect(adapter.metadata.path == path)
                #expect(adapter.metadata.baseArchitecture == (try fixture.expected().architecture))
            }
        }
        let llama = try LoRAAdapter(contentsOf: LoRAFixture.llama().gguf)
        #expect(llama.targets.count == 4 * 7 + 2)
        #expect(llama.targets.first == "token_embd.weight" && llama.targets.last == "output.weight")
        #expect(llama.weights["token_embd.weight"]?.a.shape == [8, 512])
        #expect(llama.scale(userScale: 1) == 2)
        #expect(llama.scale(userScale: 0.5) == 1)
    }

    /// The base's configuration (head counts for the llama row order).
    static func configuration(_ fixture: LoRAFixture) throws -> ModelConfiguration {
        try ModelConfiguration(metadata: GGUFFile(contentsOf: fixture.base).metadata)
    }

    /// PEFT folders hold a llama base's query/key B rows in Hugging Face's order; put in the
    /// base's order they are the GGUF adapter exactly. For llama the raw rows differ (the
    /// permutation is real), for qwen3 they do not.
    @Test func peftFoldersGiveTheSameAdapterAsGGUF() throws {
        guard LoRAFixture.available else { return }
        for fixture in [try LoRAFixture.llama(), try LoRAFixture.qwen3()] {
            let gguf = try LoRAAdapter(contentsOf: fixture.gguf)
            let configuration = try Self.configuration(fixture)
            for dtype in ["f32", "f16", "bf16"] {
                let raw = try LoRAAdapter(contentsOf: fixture.peft(dtype))
                #expect(raw.metadata.rowOrder == .huggingFace)
                #expect((raw.weights == gguf.weights) == (configuration.architecture != .llama), "\(dtype)")
                let peft = try raw.inGGUFOrder(for: configuration)
                try expectExact(peft, fixture)
                #expect(peft.weights == gguf.weights, "\(dtype)")
                #expect(peft.metadata.sourceFormat == .peft)
                #expect(peft.metadata.baseArchitecture == nil)
                #expect(peft.metadata.baseModel == "random-\(try fixture.expected().architecture)")
                #expect(peft.scale(userScale: 1) == gguf.scale(userScale: 1))
            }
        }
    }

    @Test func roundTripsAreLossless() throws {
        guard LoRAFixture.available else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try LoRAFixture.llama()
        let configuration = try Self.configuration(fixture)
        let original = try LoRAAdapter(contentsOf: fixture.ggufF16)

        try original.writeGGUF(to: dir + "/a.gguf")
        let viaGGUF = try LoRAAdapter(contentsOf: dir + "/a.gguf")
        // A llama adapter's query/key rows change order on the way to PEFT: that takes the base.
        #expect(throws: LoRAError.self) { try original.writePEFT(to: dir + "/nobase") }
        try original.writePEFT(to: dir + "/peft", base: configuration)
        let viaPEFT = try LoRAAdapter(contentsOf: dir + "/peft").inGGUFOrder(for: configuration)
        // PEFT records no architecture: it must be given to go back to GGUF, with the base for the rows.
        try LoRAAdapter(contentsOf: dir + "/peft").writeGGUF(to: dir + "/b.gguf", architecture: "llama", base: configuration)
        let viaBoth = try LoRAAdapter(contentsOf: dir + "/b.gguf")
        try viaGGUF.writePEFT(to: dir + "/peft2", base: configuration)

        for adapter in [viaGGUF, viaPEFT, viaBoth] {
            #expect(adapter.weights == original.weights)
            #expect(adapter.alpha.bitPattern == original.alpha.bitPattern)
            #expect(adapter.rank == original.rank)
            #expect(adapter.targets == original.targets)
        }
        #expect(viaGGUF.metadata.baseArchitecture == "llama")
        // Deterministic: the same adapter gives the same bytes whatever path it took.
        #expect(FileManager.default.contentsEqual(atPath: dir + "/a.gguf", andPath: dir + "/b.gguf"))
        for file in [LoRAAdapter.peftWeightsName, LoRAAdapter.peftConfigName] {
            #expect(FileManager.default.contentsEqual(atPath: dir + "/peft/" + file, andPath: dir + "/peft2/" + file), "\(file)")
        }
        // Only the final files: no temporaries left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/peft").sorted()
                == [LoRAAdapter.peftConfigName, LoRAAdapter.peftWeightsName])
    }

    @Test func exportsReadBackEqualInThePeers() throws {
        guard LoRAFixture.available else { return }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for fixture in [try LoRAFixture.llama(), try LoRAFixture.qwen3()] {
            let adapter = try LoRAAdapter(contentsOf: fixture.peft("bf16"))
            let gguf = dir + "/\(UUID().uuidString).gguf"
            try adapter.writeGGUF(to: gguf, architecture: try fixture.expected().architecture, base: Self.configuration(fixture))
            let peft = dir + "/\(UUID().uuidString)"
            try adapter.writePEFT(to: peft)
            for (command, path) in [("read-gguf", gguf), ("read-peft", peft)] {
                let result = try run("python3", [Repository.path("scripts/lora_peer.py"), command, path, fixture.expectedFolder])
                #expect(result.status == 0, "\(result.stderr)")
                let report = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]
                #expect(report?["problems"] as? [String] == [], "\(command): \(report ?? [:])")
                #expect(report?["tensors"] as? Int == 2 * adapter.targets.count)
            }
        }
    }

    /// llama.cpp loads our exports onto their bases and refuses a mismatched pair, so the check can fail.
    @Test func exportedGGUFLoadsInLlamaCpp() throws {
        guard LoRAFixture.available else { return }
        guard Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "llama-cpp-python is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let llama = try LoRAFixture.llama()
        let qwen3 = try LoRAFixture.qwen3()
        try LoRAAdapter(contentsOf: llama.peft("f16")).writeGGUF(to: dir + "/llama.gguf", architecture: "llama", base: Self.configuration(llama))
        try LoRAAdapter(contentsOf: qwen3.gguf).writeGGUF(to: dir + "/qwen3.gguf")
        for (base, adapter, loads) in [(llama.base, "llama.gguf", true), (qwen3.base, "qwen3.gguf", true), (llama.base, "qwen3.gguf", false)] {
            let result = try run("python3", [Repository.path("scripts/lora_peer.py"), "llama-load", base, dir + "/" + adapter])
            #expect((result.status == 0) == loads, "\(adapter) on \(base): \(result.stdoutText)")
        }
    }

    @Test func rankStabilizedScaleSurvivesExport() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = Self.peftConfig
        config["use_rslora"] = true
        config["r"] = 4
        config["lora_alpha"] = 8
        try writePEFTFolder(dir + "/rs", config: config, tensors: [
            ("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", [4, 3]),
            ("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", [5, 4]),
        ])
        let adapter = try LoRAAdapter(contentsOf: dir + "/rs")
        #expect(adapter.scaling == .rankStabilized)
        #expect(adapter.scale(userScale: 1) == 4)   // 8 / sqrt(4)
        #expect(adapter.standardAlpha == 16)
        try adapter.writePEFT(to: dir + "/rs2")
        #expect(try LoRAAdapter(contentsOf: dir + "/rs2") == LoRAAdapter(contentsOf: dir + "/rs").with(path: dir + "/rs2"))
        // GGUF has no rsLoRA: the file gets the alpha that gives llama.cpp the same scale.
        try adapter.writeGGUF(to: dir + "/rs.gguf", architecture: "llama")
        let gguf = try LoRAAdapter(contentsOf: dir + "/rs.gguf")
        #expect(gguf.alpha == 16 && gguf.scaling == .standard && gguf.scale(userScale: 1) == 4)
        #expect(gguf.weights == adapter.weights)
    }

    @Test func alphaZeroMeansUnscaled() throws {
        let adapter = try memoryAdapter(["blk.0.attn_v.weight": (3, 5)], rank: 2, alpha: 0, architecture: "llama")
        #expect(adapter.scale(userScale: 0.75) == 0.75)
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try adapter.writePEFT(to: dir + "/p")
        let peft = try LoRAAdapter(contentsOf: dir + "/p")
        #expect(peft.alpha == 2 && peft.scale(userScale: 0.75) == 0.75)
    }

    /// A quantized GGUF LoRA (Q8_0) is dequantized exactly as ggml does.
    @Test func quantizedTensorsAreDequantized() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = (0..<64).map { Float($0) / 10 - 3 }
        let b = (0..<96).map { sin(Float($0)) }
        let aBytes = try BlockCodec.quantize(.q8_0, a)
        // A is [n_in 32, rank 2] in Q8_0 blocks along n_in; B's rows of 2 values cannot be Q8_0, so it is F32.
        try writeGGUFAdapter(dir + "/q.gguf", tensors: [
            ("blk.0.attn_q.weight.lora_a", [32, 2], .q8_0, aBytes),
            ("blk.0.attn_q.weight.lora_b", [2, 48], .f32, floatBytes(b)),
        ])
        let adapter = try LoRAAdapter(contentsOf: dir + "/q.gguf")
        #expect(adapter.weights["blk.0.attn_q.weight"]?.a.values == (try BlockCodec.dequantize(.q8_0, aBytes)))
        #expect(adapter.weights["blk.0.attn_q.weight"]?.b.values == b)
    }
}

extension LoRAAdapter {
    /// The same adapter as if loaded from `path`.
    func with(path: String) -> LoRAAdapter {
        var copy = self
        copy.metadata.path = path
        return copy
    }
}
