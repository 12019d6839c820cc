import Foundation
import GGUFFormat
import LocoTestSupport
import Quantization
import Testing

/// The model quantizer against llama.cpp's (`llama_model_quantize` through llama-cpp-python, no
/// importance matrix): for every file type, the output files must be byte-identical (the same
/// metadata in the same order, the same tensor order, types and bytes).
@Suite struct ModelQuantizerParityTests {
    static var peersAvailable: Bool {
        let available = Peers.pythonHas("llama_cpp")
        if !available { #expect(!Peers.required, "llama-cpp-python is required (LOCO_REQUIRE_PEERS=1)") }
        return available
    }

    @Test(arguments: QuantizationFileType.allCases)
    func randomLlamaMatchesLlamaCpp(_ fileType: QuantizationFileType) throws {
        guard Self.peersAvailable else { return }
        try Self.expectSameAsLlamaCpp(input: RandomModels.path("llama-f32"), fileType: fileType)
    }

    @Test(arguments: [QuantizationFileType.q4_K_M, .q3_K_M, .q3_K_L, .q5_K_M, .q4_K_S, .q2_K, .q6_K, .tq2_0, .q8_0, .bf16])
    func randomQwen3FromF16MatchesLlamaCpp(_ fileType: QuantizationFileType) throws {
        guard Self.peersAvailable else { return }
        try Self.expectSameAsLlamaCpp(input: RandomModels.path("qwen3-f16-tied"), fileType: fileType)
    }

    /// Quantizes `input` both ways and compares the files; on a difference, says which tensors differ.
    static func expectSameAsLlamaCpp(input: String, fileType: QuantizationFileType, allowRequantize: Bool = false) throws {
        let theirs = RandomModels.scratch("llama-\(fileType.rawValue).gguf")
        let ours = RandomModels.scratch("ours-\(fileType.rawValue).gguf")
        defer {
            try? FileManager.default.removeItem(atPath: theirs)
            try? FileManager.default.removeItem(atPath: ours)
        }
        var peerArguments = [Repository.path("scripts/llama_peer.py"), "quantize", input, theirs, "\(fileType.fileTypeID)"]
        if allowRequantize { peerArguments.append("--allow-requantize") }
        let peer = try run("python3", peerArguments)
        try #require(peer.status == 0, "llama.cpp failed to quantize to \(fileType): \(peer.stderr.suffix(2000))")
        try ModelQuantizer(recipe: QuantizationRecipe(fileType), allowRequantize: allowRequantize, threads: 2)
            .quantize(input: input, output: ours)
        try expectSameFiles(ours: ours, theirs: theirs, label: fileType.rawValue)
    }

    static func expectSameFiles(ours: String, theirs: String, label: String) throws {
        let a = try Data(contentsOf: URL(fileURLWithPath: ours))
        let b = try Data(contentsOf: URL(fileURLWithPath: theirs))
        guard a != b else { return }
        let x = try GGUFFile(contentsOf: ours), y = try GGUFFile(contentsOf: theirs)
        var differences: [String] = []
        if x.metadata.keys != y.metadata.keys { differences.append("metadata keys: ours \(x.metadata.keys), llama.cpp \(y.metadata.keys)") }
        for entry in y.metadata where x.metadata[entry.key] != entry.value { differences.append("metadata \(entry.key) differs") }
        if x.tensors.map(\.name) != y.tensors.map(\.name) { differences.append("tensor order differs") }
        for t in y.tensors {
            guard let o = x.tensor(named: t.name) else { differences.append("\(t.name) missing"); continue }
            if o.type != t.type { differences.append("\(t.name): ours \(o.type), llama.cpp \(t.type)"); continue }
            let same = x.tensorData(o).withUnsafeBytes { p in y.tensorData(t).withUnsafeBytes { q in p.elementsEqual(q) } }
            if !same { differences.append("\(t.name) (\(t.type)): bytes differ") }
        }
        Issue.record("\(label): files differ (\(a.count) vs \(b.count) bytes): \(differences.prefix(12).joined(separator: "; "))")
    }
}

/// Quantizer behaviour that does not need a peer.
@Suite struct ModelQuantizerTests {
    func smallModel() throws -> String {
        // A hand-built model: enough metadata for the recipes, tensors of several shapes.
        var writer = GGUFWriter(metadata: try GGUFMetadata([
            .init(key: "general.architecture", value: .string("llama")),
            .init(key: "llama.block_count", value: .uint32(1)),
            .init(key: "llama.attention.head_count", value: .uint32(2)),
            .init(key: "general.file_type", value: .uint32(0)),
        ]))
        try writer.addTensor(name: "token_embd.weight", shape: [64, 8], type: .f32)
        try writer.addTensor(name: "blk.0.attn_norm.weight", shape: [64], type: .f32)
        try writer.addTensor(name: "blk.0.attn_q.weight", shape: [256, 2], type: .f32)
        try writer.addTensor(name: "blk.0.ffn_up.weight", shape: [48, 2], type: .f32)
        let path = RandomModels.scratch("small.gguf")
        try writer.write(to: path) { tensor, sink in
            try sink.write(contentsOf: (0..<tensor.elementCount).map { Float(($0 * 37) % 101) / 50 - 1 })
        }
        return path
    }

    @Test func planFollowsTheRulesAndFallbacks() throws {
        let file = try GGUFFile(contentsOf: try smallModel())
        let decisions = try ModelQuantizer(recipe: QuantizationRecipe(.q4_K_M)).plan(file)
        let types = Dictionary(uniqueKeysWithValues: decisions.map { ($0.name, $0.to) })
        #expect(types["blk.0.attn_norm.weight"] == .f32)      // 1-D: never quantized
        #expect(types["blk.0.attn_q.weight"] == .q4_K)
        #expect(types["token_embd.weight"] == .q8_0)          // tied output, 64 % 256 != 0
        #expect(types["blk.0.ffn_up.weight"] == .f16)         // 48: neither Q4_K nor Q5_0 fits
        #expect(decisions.first?.name == "token_embd.weight") // llama.cpp's order: non-layer tensors first
        #expect(decisions.filter(\.fellBack).map(\.name) == ["blk.0.ffn_up.weight"])
    }

    @Test func errorsAreClearAndLeaveNoFile() throws {
        let input = try smallModel()
        let quantizer = ModelQuantizer(recipe: QuantizationRecipe(.q8_0))
        #expect(throws: QuantizationError.outputIsInput(input)) { try quantizer.quantize(input: input, output: input) }
        let output = RandomModels.scratch("twice.gguf")
        try quantizer.quantize(input: input, output: output)
        let again = RandomModels.scratch("thrice.gguf")
        #expect(throws: QuantizationError.requantizeNotAllowed(tensor: "blk.0.attn_q.weight", from: .q8_0, to: .q4_0)) {
            try ModelQuantizer(recipe: QuantizationRecipe(.q4_0)).quantize(input: output, output: again)
        }
        #expect(!FileManager.default.fileExists(atPath: again))
        try ModelQuantizer(recipe: QuantizationRecipe(.q4_0), allowRequantize: true).quantize(input: output, output: again)
        #expect(try GGUFFile(contentsOf: again).tensor(named: "blk.0.attn_q.weight")?.type == .q4_0)
        #expect(QuantizationFileType(name: "q4_k") == .q4_K_M)
        #expect(QuantizationFileType(name: "Q9_X") == nil)
    }

    @Test func cancellationLeavesNoFile() async throws {
        let input = try smallModel()
        let output = RandomModels.scratch("cancelled.gguf")
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try ModelQuantizer(recipe: QuantizationRecipe(.q8_0)).quantize(input: input, output: output)
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func metadataIsUpdatedAsLlamaCppDoes() throws {
        let output = RandomModels.scratch("meta.gguf")
        try ModelQuantizer(recipe: QuantizationRecipe(.q5_1)).quantize(input: try smallModel(), output: output)
        let m = try GGUFFile(contentsOf: output).metadata
        #expect(m.keys.suffix(2) == [GGUFKey.quantizationVersion, GGUFKey.fileType])
        #expect(try m.integer(GGUFKey.fileType) == 9)
        #expect(try m.integer(GGUFKey.quantizationVersion) == 2)
    }
}
