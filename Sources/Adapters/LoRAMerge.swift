import LocoSupport
import GGUFFormat
import Inference
import Quantization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Merging an adapter into its base: a standalone GGUF model whose targeted matrices are
/// `W + scale * B A`, loadable by llama.cpp, Ollama and LocoLLM without the adapter.
extension LoRAAdapter {
    /// What a merge wrote.
    public struct MergeSummary: Sendable {
        /// Tensors in the output.
        public var tensorCount: Int
        /// The base tensors that received a delta, in the adapter's canonical order.
        public var mergedTensors: [String]
        /// The scale each delta was multiplied by (``LoRAAdapter/scale(userScale:)``).
        public var scale: Float
        /// The file type the model was quantized to, nil when every tensor kept its type.
        public var fileType: QuantizationFileType?
        /// Bytes of tensor data written (without the header and padding).
        public var outputTensorBytes: Int
    }

    /// Progress after each tensor. A merge to a file type runs two stages: merging (targeted
    /// tensors to F32 in a temporary file) then quantizing (the model quantizer on that file).
    public struct MergeProgress: Sendable {
        public enum Stage: Sendable { case merging, quantizing }
        public var stage: Stage
        public var tensorIndex: Int
        public var tensorCount: Int
        public var tensorName: String
    }

    /// Writes `base` with this adapter merged into it to `path`: every targeted matrix becomes
    /// `W + scale * B A` with `scale = scale(userScale:)`.
    ///
    /// - Without `type`, every tensor keeps its type (the base's recipe): untouched tensors are
    ///   copied byte for byte, targeted ones are dequantized to F32, merged, and quantized back
    ///   to their own type with the reference codecs (`BlockCodec`, byte-exact with ggml).
    ///   Metadata, tensor order and alignment are the base's.
    /// - With `type`, targeted tensors are merged into F32 in a temporary file next to `path`,
    ///   which then goes through ``ModelQuantizer`` with `QuantizationRecipe(type)`: the output
    ///   is exactly what `llama-quantize` would make of an F32 merge (mixed recipes included).
    ///   Untouched tensors that are already quantized to another type than the recipe's need
    ///   `allowRequantize`, as with the quantizer itself.
    ///
    /// The delta is computed in double: `W'[o][i] = Float(Double(W[o][i]) + Double(scale) *
    /// sum_r Double(B[o][r]) * Double(A[r][i]))`, one rounding per weight. The token embedding
    /// (ggml `[n_embd, n_vocab]`, row `v` is the vector of token `v`; A is `rank x n_vocab`,
    /// B `n_embd x rank`) gets `W'[v][e] = W[v][e] + scale * (B A)[e][v]`, which is what
    /// llama.cpp adds to each looked-up row at run time.
    ///
    /// The adapter is validated against `base` first (``validate(against:)-(GGUFFile)``), so a
    /// mismatch throws ``LoRAError`` before anything is written. The output is written
    /// atomically; on an error or cancellation nothing is left under `path` (nor the temporary
    /// file). `path` must not be the base's own file.
    ///
    /// ```swift
    /// let base = try GGUFFile(contentsOf: "SmolLM2-135M-Instruct.Q8_0.gguf")
    /// let adapter = try LoRAAdapter(contentsOf: "math.gguf")
    /// try adapter.merge(into: base, to: "SmolLM2-math.Q8_0.gguf")                 // same types
    /// try adapter.merge(into: base, type: .q4_K_M, allowRequantize: true, to: "SmolLM2-math.Q4_K_M.gguf")
    /// ```
    @discardableResult
    public func merge(
        into base: GGUFFile, userScale: Float = 1, type: QuantizationFileType? = nil, allowRequantize: Bool = false,
        threads: Int? = nil, to path: String, progress: ((MergeProgress) -> Void)? = nil
    ) throws -> MergeSummary {
        try validate(against: base)
        if metadata.rowOrder == .huggingFace, base.architecture == "llama", firstPermutedTarget != nil {
            let c = try ModelConfiguration(metadata: base.metadata)
            return try reordered(to: .gguf, heads: c.headCount, kvHeads: c.kvHeadCount).merge(
                into: base, userScale: userScale, type: type, allowRequantize: allowRequantize, threads: threads, to: path, progress: progress)
        }
        if let input = base.path, let a = FileSystem.canonicalPath(input), let b = FileSystem.canonicalPath(path), a == b {
            throw QuantizationError.outputIsInput(input)
        }
        for target in targets {
            let info = base.tensor(named: target)!
            guard BlockCodec.format(for: info.type) != nil else {
                throw QuantizationError.unsupportedType(info.type, operation: "merged into (dequantized and quantized again)")
            }
        }
        let scale = scale(userScale: userScale)

        guard let type else {
            let bytes = try writeMerged(base, scale: scale, mergedType: { $0 }, to: path, stage: .merging, progress: progress)
            return MergeSummary(tensorCount: base.tensors.count, mergedTensors: targets, scale: scale, fileType: nil,
                                outputTensorBytes: bytes)
        }

        let quantizer = ModelQuantizer(recipe: QuantizationRecipe(type), allowRequantize: allowRequantize, threads: threads)
        let temporary = AtomicFile.scratchPath(beside: path, purpose: "merge")
        defer { AtomicFile.removeScratch(temporary) }
        try writeMerged(base, scale: scale, mergedType: { _ in .f32 }, to: temporary, stage: .merging, progress: progress)
        let summary = try quantizer.quantize(input: temporary, output: path) { p in
            progress?(MergeProgress(stage: .quantizing, tensorIndex: p.tensorIndex, tensorCount: p.tensorCount,
                                    tensorName: p.decision.name))
        }
        return MergeSummary(tensorCount: summary.tensorCount, mergedTensors: targets, scale: scale, fileType: type,
                            outputTensorBytes: summary.outputTensorBytes)
    }

    /// Writes `base` to `path` in its own order and metadata, targeted tensors merged and stored
    /// as `mergedType(their type)`, the others copied. Returns the tensor bytes written.
    @discardableResult
    private func writeMerged(
        _ base: GGUFFile, scale: Float, mergedType: (GGMLType) -> GGMLType, to path: String,
        stage: MergeProgress.Stage, progress: ((MergeProgress) -> Void)?
    ) throws -> Int {
        var writer = GGUFWriter(metadata: base.metadata, version: base.version)
        for tensor in base.tensors {
            let type = weights[tensor.name] == nil ? tensor.type : mergedType(tensor.type)
            try writer.addTensor(name: tensor.name, shape: tensor.shape, type: type)
        }
        var written = 0
        var index = 0
        try writer.write(to: path) { placed, sink in
            try LoRAAdapter.checkCancellation()
            let source = base.tensor(named: placed.name)!
            let data = base.tensorData(source)
            if let pair = weights[placed.name] {
                try mergeTensor(data, pair: pair, embedding: TargetNames.isEmbedding(placed.name), scale: scale,
                                to: placed.type, sink: sink)
            } else {
                try data.withUnsafeBytes { try sink.write($0) }
            }
            base.storage.release(data.range)
            written += placed.byteCount
            index += 1
            progress?(MergeProgress(stage: stage, tensorIndex: index, tensorCount: base.tensors.count, tensorName: placed.name))
        }
        return written
    }

    /// Dequantizes one tensor, adds `scale * B A` row by row, quantizes it to `type`, writes it.
    private func mergeTensor(
        _ data: GGUFTensorData, pair: LoRAWeights, embedding: Bool, scale: Float, to type: GGMLType, sink: GGUFDataSink
    ) throws {
        let info = data.info
        let rowLength = info.rowLength
        let rows = info.rowCount
        // delta[row][column] = scale * sum_r P[row][r] * Q[r][column]: for a linear layer P = B
        // (n_out x rank) and Q = A (rank x n_in); for the embedding, whose rows are tokens,
        // P = A^T (n_vocab x rank) and Q = B^T (rank x n_embd).
        let p = embedding ? pair.a.transposed() : pair.b
        let q = embedding ? pair.b.transposed() : pair.a
        precondition(p.rows == rows && q.columns == rowLength && p.columns == q.rows, "validated shapes")
        let rank = q.rows

        var weights = [Float](repeating: 0, count: rows * rowLength)
        try data.withUnsafeBytes { bytes in
            try weights.withUnsafeMutableBufferPointer { try BlockCodec.dequantize(info.type, bytes, into: $0) }
        }
        let qDouble = q.values.map(Double.init)
        let s = Double(scale)
        var delta = [Double](repeating: 0, count: rowLength)
        p.values.withUnsafeBufferPointer { pv in
            qDouble.withUnsafeBufferPointer { qv in
                weights.withUnsafeMutableBufferPointer { w in
                    delta.withUnsafeMutableBufferPointer { d in
                        for row in 0..<rows {
                            for c in 0..<rowLength { d[c] = 0 }
                            for r in 0..<rank {
                                let factor = Double(pv[row * rank + r])
                                guard factor != 0 else { continue }
                                let qRow = r * rowLength
                                for c in 0..<rowLength { d[c] += factor * qv[qRow + c] }
                            }
                            let base = row * rowLength
                            for c in 0..<rowLength { w[base + c] = Float(Double(w[base + c]) + s * d[c]) }
                        }
                    }
                }
            }
        }
        if type == .f32 {
            try sink.write(contentsOf: weights)
        } else {
            let encoded = try BlockCodec.quantize(type, weights)
            try sink.write(contentsOf: encoded)
        }
    }

    static func checkCancellation() throws {
        if withUnsafeCurrentTask(body: { $0?.isCancelled ?? false }) { throw CancellationError() }
    }
}
