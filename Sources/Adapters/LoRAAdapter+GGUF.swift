import GGUFFormat
import Inference
import Quantization
import LocoSupport

/// llama.cpp's GGUF LoRA format: `general.type = adapter`, `general.architecture` equal to the
/// base's, `adapter.type = lora`, `adapter.lora.alpha` (FLOAT32; absent means 0), and per adapted
/// tensor `<name>.lora_a` of ggml shape `[n_in, rank]` and `<name>.lora_b` of `[rank, n_out]`.
/// The token embedding is flipped: `token_embd.weight.lora_a` is `[rank, n_vocab]` (llama.cpp
/// gathers rows of it per token) and `.lora_b` is `[rank, n_embd]`.
extension LoRAAdapter {
    public static let ggufAdapterTypeKey = "adapter.type"
    public static let ggufAlphaKey = "adapter.lora.alpha"

    /// Reads the adapter in `file`, a llama.cpp GGUF LoRA. Tensors may be F32, F16, BF16 or any
    /// type `BlockCodec` dequantizes (Q8_0, ...); `*_norm.weight` tensors are skipped, as
    /// llama.cpp skips them.
    public init(gguf file: GGUFFile) throws {
        let path = file.path
        func failure(_ kind: LoRAError.Kind) -> LoRAError { LoRAError(kind, path: path) }
        let metadata = file.metadata

        guard case .string("adapter")? = metadata[GGUFKey.type] else {
            throw failure(.notAnAdapter(found: metadata[GGUFKey.type].map(LoRAAdapter.describe)))
        }
        guard case .string("lora")? = metadata[LoRAAdapter.ggufAdapterTypeKey] else {
            throw failure(.notLoRA(found: metadata[LoRAAdapter.ggufAdapterTypeKey].map(LoRAAdapter.describe)))
        }
        guard let architectureValue = metadata[GGUFKey.architecture] else { throw failure(.missingKey(GGUFKey.architecture)) }
        guard case .string(let architecture) = architectureValue else {
            throw failure(.invalidValue(key: GGUFKey.architecture, value: LoRAAdapter.describe(architectureValue), expected: "a STRING"))
        }
        let alpha: Float
        switch metadata[LoRAAdapter.ggufAlphaKey] {
        case nil: alpha = 0
        case .float32(let value)?: alpha = value
        case let other?:
            // llama.cpp reads the key with gguf_get_val_f32, which aborts on any other type.
            throw failure(.invalidValue(key: LoRAAdapter.ggufAlphaKey, value: LoRAAdapter.describe(other), expected: "a FLOAT32"))
        }

        var halves: [String: (a: GGUFTensorInfo?, b: GGUFTensorInfo?)] = [:]
        for tensor in file.tensors {
            if tensor.name.hasSuffix(".lora_a") {
                halves[String(tensor.name.dropLast(7)), default: (nil, nil)].a = tensor
            } else if tensor.name.hasSuffix(".lora_b") {
                halves[String(tensor.name.dropLast(7)), default: (nil, nil)].b = tensor
            } else if !tensor.name.hasSuffix("_norm.weight") {
                throw failure(.unexpectedTensor(tensor: tensor.name, reason: "expected a name ending in .lora_a or .lora_b"))
            }
        }

        var weights: [String: LoRAWeights] = [:]
        for target in halves.keys.sorted(by: TargetNames.precedes) {
            let pair = halves[target]!
            guard let aInfo = pair.a else { throw failure(.missingHalf(target: target, missing: target + ".lora_a")) }
            guard let bInfo = pair.b else { throw failure(.missingHalf(target: target, missing: target + ".lora_b")) }
            let aShape = try LoRAAdapter.matrixShape(aInfo, path: path)
            let bShape = try LoRAAdapter.matrixShape(bInfo, path: path)
            let aValues = try LoRAAdapter.floats(file, aInfo)
            let bValues = try LoRAAdapter.floats(file, bInfo)
            // ggml [ne0, ne1] is ne1 rows of ne0 values.
            let b = LoRAMatrix(rows: bShape[1], columns: bShape[0], values: bValues)
            let a = TargetNames.isEmbedding(target)
                ? LoRAMatrix(rows: aShape[1], columns: aShape[0], values: aValues).transposed()
                : LoRAMatrix(rows: aShape[1], columns: aShape[0], values: aValues)
            guard a.rows == b.columns else { throw failure(.rankMismatch(target: target, a: a.shape, b: b.shape)) }
            weights[target] = LoRAWeights(a: a, b: b)
        }
        try self.init(
            weights: weights, alpha: alpha, scaling: .standard,
            metadata: Metadata(sourceFormat: .gguf, path: path, baseArchitecture: architecture,
                               name: metadata[GGUFKey.name]?.stringValue))
    }

    /// Writes the adapter as a llama.cpp GGUF LoRA (loadable with `--lora`) with F32 tensors,
    /// atomically. `architecture` defaults to the recorded base architecture; a PEFT adapter
    /// records none, so it must be given. A rank-stabilized adapter is written with
    /// ``standardAlpha``, which gives llama.cpp the same scale.
    public func writeGGUF(to path: String, architecture: String? = nil, base: ModelConfiguration? = nil) throws {
        guard let architecture = architecture ?? metadata.baseArchitecture ?? base?.architecture.rawValue else {
            throw LoRAError(.unknownArchitecture, path: path)
        }
        if metadata.rowOrder == .huggingFace, architecture == "llama", let permuted = firstPermutedTarget {
            // A PEFT adapter's query/key rows go into the GGUF's order, as convert_lora_to_gguf.py writes them.
            guard let base else { throw LoRAError(.needsHeadCounts(target: permuted), path: path) }
            return try reordered(to: .gguf, heads: base.headCount, kvHeads: base.kvHeadCount).writeGGUF(to: path, architecture: architecture)
        }
        var header = GGUFMetadata()
        header[GGUFKey.architecture] = .string(architecture)
        header[GGUFKey.type] = .string("adapter")
        if let name = metadata.name { header[GGUFKey.name] = .string(name) }
        header[LoRAAdapter.ggufAdapterTypeKey] = .string("lora")
        header[LoRAAdapter.ggufAlphaKey] = .float32(standardAlpha)

        var writer = GGUFWriter(metadata: header)
        var data: [String: [Float]] = [:]
        for target in targets {
            let pair = weights[target]!
            // Stored as ggml [columns, rows] of the matrix written.
            let a = TargetNames.isEmbedding(target) ? pair.a.transposed() : pair.a
            try writer.addTensor(name: target + ".lora_a", shape: [a.columns, a.rows], type: .f32)
            try writer.addTensor(name: target + ".lora_b", shape: [pair.b.columns, pair.b.rows], type: .f32)
            data[target + ".lora_a"] = a.values
            data[target + ".lora_b"] = pair.b.values
        }
        try writer.write(to: path) { tensor, sink in
            try sink.write(contentsOf: data[tensor.name]!)
        }
    }

    /// The `[ne0, ne1]` of a LoRA tensor: two dimensions (further ones must be 1), none empty.
    private static func matrixShape(_ info: GGUFTensorInfo, path: String?) throws(LoRAError) -> [Int] {
        let shape = info.shape
        guard shape.count >= 2, shape[2...].allSatisfy({ $0 == 1 }), shape[0] > 0, shape[1] > 0 else {
            throw LoRAError(.notAMatrix(tensor: info.name, shape: shape), path: path)
        }
        return [shape[0], shape[1]]
    }

    /// The tensor's values as F32, dequantized exactly as ggml does.
    private static func floats(_ file: GGUFFile, _ info: GGUFTensorInfo) throws(LoRAError) -> [Float] {
        guard BlockCodec.format(for: info.type) != nil else {
            throw LoRAError(.unsupportedTensorType(tensor: info.name, type: info.type.name), path: file.path)
        }
        var out = [Float](repeating: 0, count: info.elementCount)
        do {
            try file.tensorData(info).withUnsafeBytes { bytes in
                try out.withUnsafeMutableBufferPointer { try BlockCodec.dequantize(info.type, bytes, into: $0) }
            }
        } catch {
            throw LoRAError(.unsupportedTensorType(tensor: info.name, type: "\(info.type.name) (\(error))"), path: file.path)
        }
        return out
    }

    /// A metadata value for an error message.
    static func describe(_ value: GGUFValue) -> String {
        if case .string(let s) = value { return "'\(s)'" }
        return "a \(value.type.name)"
    }
}
