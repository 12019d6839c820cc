import Foundation
import GGUFFormat
import Adapters
import LocoTestSupport
import Testing

func floatBytes(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// Writes a GGUF adapter with the given tensors (ggml shapes) and the usual metadata, changed by `edit`.
func writeGGUFAdapter(
    _ path: String, tensors: [(String, [Int], GGMLType, [UInt8])], edit: (inout GGUFMetadata) -> Void = { _ in }
) throws {
    var metadata = GGUFMetadata()
    metadata[GGUFKey.architecture] = .string("llama")
    metadata[GGUFKey.type] = .string("adapter")
    metadata["adapter.type"] = .string("lora")
    metadata["adapter.lora.alpha"] = .float32(8)
    edit(&metadata)
    var writer = GGUFWriter(metadata: metadata)
    for (name, shape, type, _) in tensors { try writer.addTensor(name: name, shape: shape, type: type) }
    let data = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0, $0.3) })
    try writer.write(to: path) { tensor, sink in try data[tensor.name]!.withUnsafeBytes { try sink.write($0) } }
}

/// F32 values for a ggml shape: non-zero, distinct.
func f32Tensor(_ name: String, _ shape: [Int]) -> (String, [Int], GGMLType, [UInt8]) {
    (name, shape, .f32, floatBytes((0..<shape.reduce(1, *)).map { Float($0 + 1) / 8 }))
}

/// Writes a PEFT folder: the config as JSON and F32 tensors of the given row-major shapes.
func writePEFTFolder(_ folder: String, config: [String: Any], tensors: [(String, [Int])], dtype: SafeTensorsDType = .f32) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/adapter_config.json"))
    var writer = SafeTensorsWriter()
    for (name, shape) in tensors {
        try writer.addTensor(name: name, shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0 % 9) - 4.5 }, dtype: dtype)
    }
    try writer.write(to: folder + "/adapter_model.safetensors")
}

extension AdapterFormatTests {
    static var peftConfig: [String: Any] {
        ["peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": false,
         "use_rslora": false, "fan_in_fan_out": false, "bias": "none", "base_model_name_or_path": "m"]
    }
}

/// Each kind of broken adapter gets its own typed error naming the tensor, key or file; none crashes.
@Suite struct MalformedAdapterTests {
    static let q = "blk.0.attn_q.weight"
    static let qA = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    static let qB = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"

    func gguf(_ tensors: [(String, [Int], GGMLType, [UInt8])], edit: (inout GGUFMetadata) -> Void = { _ in }) throws -> String {
        let path = RandomModels.scratch("adapter.gguf")
        try writeGGUFAdapter(path, tensors: tensors, edit: edit)
        return path
    }

    var goodPair: [(String, [Int], GGMLType, [UInt8])] {
        [f32Tensor(Self.q + ".lora_a", [6, 2]), f32Tensor(Self.q + ".lora_b", [2, 5])]
    }

    @Test func theBaseCasesLoad() throws {
        let adapter = try LoRAAdapter(contentsOf: gguf(goodPair))
        #expect(adapter.weights[Self.q]?.a.shape == [2, 6])
        #expect(adapter.weights[Self.q]?.b.shape == [5, 2])
        #expect(adapter.weights[Self.q]?.a[1, 0] == 7.0 / 8)   // ggml row 1 (rank index 1), column 0
        #expect(adapter.scale(userScale: 1) == 4)
        let dir = RandomModels.scratch("peft")
        try writePEFTFolder(dir, config: AdapterFormatTests.peftConfig, tensors: [(Self.qA, [4, 6]), (Self.qB, [5, 4])])
        #expect(try LoRAAdapter(contentsOf: dir).weights[Self.q]?.rank == 4)
    }

    @Test func ggufMetadata() throws {
        let notAdapter = try gguf(goodPair) { $0[GGUFKey.type] = .string("model") }
        let error = expectLoRAError({ _ = try LoRAAdapter(contentsOf: notAdapter) }) { $0 == .notAnAdapter(found: "'model'") }
        #expect(error?.path == notAdapter)
        #expect(error?.description == "\(notAdapter): general.type is 'model', expected 'adapter': this is not an adapter file")
        let noType = try gguf(goodPair) { $0[GGUFKey.type] = nil }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: noType) }) { $0 == .notAnAdapter(found: nil) }
        let cvec = try gguf(goodPair) { $0["adapter.type"] = .string("control_vector") }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: cvec) }) { $0 == .notLoRA(found: "'control_vector'") }
        let noArchitecture = try gguf(goodPair) { $0[GGUFKey.architecture] = nil }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: noArchitecture) }) { $0 == .missingKey("general.architecture") }
        let doubleAlpha = try gguf(goodPair) { $0["adapter.lora.alpha"] = .float64(8) }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: doubleAlpha) }) {
            $0 == .invalidValue(key: "adapter.lora.alpha", value: "a FLOAT64", expected: "a FLOAT32")
        }
        let nanAlpha = try gguf(goodPair) { $0["adapter.lora.alpha"] = .float32(.nan) }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: nanAlpha) }) { if case .invalidValue(key: "alpha", _, _) = $0 { true } else { false } }
        let noAlpha = try gguf(goodPair) { $0["adapter.lora.alpha"] = nil }
        #expect(try LoRAAdapter(contentsOf: noAlpha).alpha == 0)
    }

    @Test func ggufTensors() throws {
        let aOnly = try gguf([f32Tensor(Self.q + ".lora_a", [6, 2])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: aOnly) }) { $0 == .missingHalf(target: Self.q, missing: Self.q + ".lora_b") }
        let bOnly = try gguf([f32Tensor(Self.q + ".lora_b", [2, 5])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: bOnly) }) { $0 == .missingHalf(target: Self.q, missing: Self.q + ".lora_a") }
        let wrongRank = try gguf([f32Tensor(Self.q + ".lora_a", [6, 2]), f32Tensor(Self.q + ".lora_b", [3, 5])])
        let error = expectLoRAError({ _ = try LoRAAdapter(contentsOf: wrongRank) }) { $0 == .rankMismatch(target: Self.q, a: [2, 6], b: [5, 3]) }
        #expect(error?.description.contains("A is 2 x 6 and B is 5 x 3") == true)
        let cube = try gguf([f32Tensor(Self.q + ".lora_a", [6, 2, 2]), f32Tensor(Self.q + ".lora_b", [2, 5])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: cube) }) { $0 == .notAMatrix(tensor: Self.q + ".lora_a", shape: [6, 2, 2]) }
        let vector = try gguf([f32Tensor(Self.q + ".lora_a", [6]), f32Tensor(Self.q + ".lora_b", [2, 5])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: vector) }) { $0 == .notAMatrix(tensor: Self.q + ".lora_a", shape: [6]) }
        let trailingOne = try gguf([f32Tensor(Self.q + ".lora_a", [6, 2, 1]), f32Tensor(Self.q + ".lora_b", [2, 5, 1, 1])])
        #expect(try LoRAAdapter(contentsOf: trailingOne).rank == 2)
        let stray = try gguf(goodPair + [f32Tensor("blk.0.attn_q.weight.lora_c", [2])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: stray) }) {
            $0 == .unexpectedTensor(tensor: "blk.0.attn_q.weight.lora_c", reason: "expected a name ending in .lora_a or .lora_b")
        }
        let norm = try gguf(goodPair + [f32Tensor("blk.0.attn_norm.weight", [6])])
        #expect(try LoRAAdapter(contentsOf: norm).targets == [Self.q])   // skipped, as llama.cpp does
        let integers = try gguf([(Self.q + ".lora_a", [6, 2], .i32, [UInt8](repeating: 0, count: 48)), f32Tensor(Self.q + ".lora_b", [2, 5])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: integers) }) { $0 == .unsupportedTensorType(tensor: Self.q + ".lora_a", type: "I32") }
        let mixed = try gguf(goodPair + [f32Tensor("blk.0.attn_k.weight.lora_a", [6, 3]), f32Tensor("blk.0.attn_k.weight.lora_b", [3, 5])])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: mixed) }) { $0 == .mixedRanks(target: "blk.0.attn_k.weight", rank: 3, expected: 2) }
        let empty = try gguf([])
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: empty) }) { $0 == .noTargets }
    }

    /// A broken container is the container's error, and every truncation of a small adapter is an
    /// error rather than a crash.
    @Test func truncatedFiles() throws {
        let path = try gguf(goodPair)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let cut = RandomModels.scratch("cut.gguf")
        for n in stride(from: 0, to: bytes.count, by: 7) {
            try Data(bytes[0..<n]).write(to: URL(fileURLWithPath: cut))
            #expect(throws: GGUFError.self) { try LoRAAdapter(contentsOf: cut) }
        }
        let dir = RandomModels.scratch("peft-cut")
        try writePEFTFolder(dir, config: AdapterFormatTests.peftConfig, tensors: [(Self.qA, [4, 6]), (Self.qB, [5, 4])])
        let safetensors = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_model.safetensors")))
        for n in stride(from: 0, to: safetensors.count, by: 5) {
            try Data(safetensors[0..<n]).write(to: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
            #expect(throws: SafeTensorsError.self) { try LoRAAdapter(contentsOf: dir) }
        }
        // Header length beyond the file, and data shorter than the offsets, name the file.
        try Data(safetensors[0..<8] + Array("{}".utf8)).write(to: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
        do {
            _ = try LoRAAdapter(contentsOf: dir)
            Issue.record("loaded")
        } catch let error as SafeTensorsError {
            #expect(error.path == dir + "/adapter_model.safetensors")
            guard case .headerBeyondFile = error.kind else { Issue.record("\(error)"); return }
        }
        try Data(safetensors.dropLast(4)).write(to: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
        let short = #expect(throws: SafeTensorsError.self) { try LoRAAdapter(contentsOf: dir) }
        guard case .offsetsBeyondData(let tensor, _, _, _)? = short?.kind else { Issue.record("\(String(describing: short))"); return }
        #expect(tensor == Self.qB && short?.description.contains(tensor) == true)
    }

    @Test func peftConfig() throws {
        let tensors = [(Self.qA, [4, 6]), (Self.qB, [5, 4])]
        func load(_ edit: (inout [String: Any]) -> Void) throws -> String {
            var config = AdapterFormatTests.peftConfig
            edit(&config)
            let dir = RandomModels.scratch("peft")
            try writePEFTFolder(dir, config: config, tensors: tensors)
            return dir
        }
        let cases: [((inout [String: Any]) -> Void, (LoRAError.Kind) -> Bool)] = [
            ({ $0["use_dora"] = true }, { if case .unsupportedOption(key: "use_dora", value: "true", _) = $0 { true } else { false } }),
            ({ $0["fan_in_fan_out"] = true }, { if case .unsupportedOption(key: "fan_in_fan_out", _, _) = $0 { true } else { false } }),
            ({ $0["rank_pattern"] = ["q_proj": 8] }, { if case .unsupportedOption(key: "rank_pattern", _, _) = $0 { true } else { false } }),
            ({ $0["alpha_pattern"] = ["q_proj": 8] }, { if case .unsupportedOption(key: "alpha_pattern", _, _) = $0 { true } else { false } }),
            ({ $0["modules_to_save"] = ["lm_head"] }, { if case .unsupportedOption(key: "modules_to_save", _, _) = $0 { true } else { false } }),
            ({ $0["bias"] = "all" }, { if case .unsupportedOption(key: "bias", value: "\"all\"", _) = $0 { true } else { false } }),
            ({ $0["peft_type"] = "IA3" }, { if case .unsupportedOption(key: "peft_type", _, _) = $0 { true } else { false } }),
            ({ $0["r"] = nil }, { $0 == .missingKey("r") }),
            ({ $0["r"] = 0 }, { $0 == .invalidValue(key: "r", value: "0", expected: "a positive integer") }),
            ({ $0["r"] = "4" }, { $0 == .invalidValue(key: "r", value: "\"4\"", expected: "a positive integer") }),
            ({ $0["lora_alpha"] = nil }, { $0 == .missingKey("lora_alpha") }),
            ({ $0["lora_alpha"] = 0 }, { $0 == .invalidValue(key: "lora_alpha", value: "0", expected: "a finite non-zero number") }),
            ({ $0["use_rslora"] = "yes" }, { $0 == .invalidValue(key: "use_rslora", value: "\"yes\"", expected: "true or false") }),
            ({ $0["r"] = 8 }, { $0 == .configRankMismatch(target: Self.q, rank: 4, configured: 8) }),
        ]
        for (edit, check) in cases {
            let dir = try load(edit)
            expectLoRAError({ _ = try LoRAAdapter(contentsOf: dir) }, check)
        }
        // Accepted: floats for alpha, null base, empty patterns, rsLoRA off.
        let fine = try load {
            $0["lora_alpha"] = 12.5
            $0["base_model_name_or_path"] = NSNull()
            $0["rank_pattern"] = [String: Int]()
            $0["modules_to_save"] = NSNull()
        }
        let adapter = try LoRAAdapter(contentsOf: fine)
        #expect(adapter.alpha == 12.5 && adapter.metadata.baseModel == nil)

        let dir = RandomModels.scratch("peft-json")
        try writePEFTFolder(dir, config: AdapterFormatTests.peftConfig, tensors: tensors)
        for text in ["{\"r\": 4,", "[4]", "{\"r\": 4, \"r\": 8, \"lora_alpha\": 8}"] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/adapter_config.json"))
            let error = expectLoRAError({ _ = try LoRAAdapter(contentsOf: dir) }) { if case .invalidConfig = $0 { true } else { false } }
            #expect(error?.path == dir + "/adapter_config.json")
        }
        try FileManager.default.removeItem(atPath: dir + "/adapter_config.json")
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: dir) }) { $0 == .missingFile("adapter_config.json") }
        let noWeights = try load { _ in }
        try FileManager.default.moveItem(atPath: noWeights + "/adapter_model.safetensors", toPath: noWeights + "/adapter_model.bin")
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: noWeights) }) {
            if case .missingFile(let what) = $0 { what.contains("adapter_model.bin") } else { false }
        }
    }

    @Test func peftTensors() throws {
        func load(_ tensors: [(String, [Int])], dtype: SafeTensorsDType = .f32) throws -> String {
            let dir = RandomModels.scratch("peft")
            try writePEFTFolder(dir, config: AdapterFormatTests.peftConfig, tensors: tensors, dtype: dtype)
            return dir
        }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: load([(Self.qA, [4, 6])])) }) { $0 == .missingHalf(target: Self.q, missing: Self.qB) }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: load([(Self.qB, [5, 4])])) }) { $0 == .missingHalf(target: Self.q, missing: Self.qA) }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: load([(Self.qA, [4, 6]), (Self.qB, [5, 3])])) }) {
            $0 == .rankMismatch(target: Self.q, a: [4, 6], b: [5, 3])
        }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: load([(Self.qA, [4, 6, 1]), (Self.qB, [5, 4])])) }) {
            $0 == .notAMatrix(tensor: Self.qA, shape: [4, 6, 1])
        }
        expectLoRAError({ _ = try LoRAAdapter(contentsOf: load([(Self.qA, [4, 0]), (Self.qB, [5, 4])])) }) {
            $0 == .notAMatrix(tensor: Self.qA, shape: [4, 0])
        }
        let strays = [
            "base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight",
            "base_model.model.model.layers.00.self_attn.q_proj.lora_A.weight",
            "model.layers.0.self_attn.q_proj.lora_A.weight",
            "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
            "base_model.model.model.embed_tokens.lora_A.weight",
            "base_model.model.lm_head.lora_embedding_A",
        ]
        for stray in strays {
            expectLoRAError({ _ = try LoRAAdapter(contentsOf: load([(Self.qA, [4, 6]), (Self.qB, [5, 4]), (stray, [4, 6])])) }) {
                if case .unexpectedTensor(tensor: stray, _) = $0 { true } else { false }
            }
        }
        // A dtype the format allows but adapters may not use.
        let dir = try load([(Self.qA, [4, 6]), (Self.qB, [5, 4])])
        let path = dir + "/adapter_model.safetensors"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let start = bytes.firstRange(of: Array("\"F32\"".utf8))!.lowerBound
        bytes.replaceSubrange(start..<(start + 5), with: Array("\"I64\"".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafeTensorsError(.unsupportedDType(tensor: Self.qA, dtype: "I64"), path: path)) { try LoRAAdapter(contentsOf: dir) }
    }

    @Test func exportErrors() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fused = try memoryAdapter(["blk.0.attn_qkv.weight": (4, 12)])
        expectLoRAError({ try fused.writePEFT(to: dir + "/fused") }) { $0 == .unmappableTarget(target: "blk.0.attn_qkv.weight", format: "PEFT") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/fused"))
        let anonymous = try memoryAdapter([MalformedAdapterTests.q: (4, 4)])
        expectLoRAError({ try anonymous.writeGGUF(to: dir + "/a.gguf") }) { $0 == .unknownArchitecture }
        expectLoRAError({ try anonymous.writePEFT(to: dir + "/missing/peft") }) { if case .io(operation: "create folder", _, _, _) = $0 { true } else { false } }
        let llama = try memoryAdapter([MalformedAdapterTests.q: (4, 4)], architecture: "llama")
        expectLoRAError({ try llama.writePEFT(to: dir + "/llama") }) { $0 == .needsHeadCounts(target: MalformedAdapterTests.q) }
        #expect(throws: GGUFError.self) { try anonymous.writeGGUF(to: dir + "/missing/a.gguf", architecture: "llama") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
