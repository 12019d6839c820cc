import LocoSupport
import Dispatch
import GGUFFormat
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Quantizes a GGUF model into another GGUF, as llama.cpp's `llama-quantize` does without an
/// importance matrix: the same tensor types (see `QuantizationRecipe`), the same bytes, the same
/// tensor order and metadata updates (`general.file_type`, `general.quantization_version`).
///
/// It streams: each tensor is converted a slab of rows at a time, so memory stays near one slab
/// (16 MiB of floats per thread) plus the mapped input, whatever the model's size. Rows are split
/// across `threads`. The output is written atomically; a failure or cancellation leaves nothing.
///
/// ```swift
/// let quantizer = ModelQuantizer(recipe: QuantizationRecipe(.q4_K_M))
/// let summary = try quantizer.quantize(input: "model-f32.gguf", output: "model-q4_k_m.gguf")
/// ```
public struct ModelQuantizer: Sendable {
    public var recipe: QuantizationRecipe
    /// Quantize tensors that are already quantized (dequantize, then quantize), like
    /// llama-quantize's `--allow-requantize`. Off by default: it loses precision twice.
    public var allowRequantize: Bool
    public var threads: Int

    public init(recipe: QuantizationRecipe, allowRequantize: Bool = false, threads: Int? = nil) {
        self.recipe = recipe
        self.allowRequantize = allowRequantize
        self.threads = max(1, threads ?? ModelQuantizer.processorCount)
    }

    /// Progress after each tensor.
    public struct Progress: Sendable {
        public var tensorIndex: Int
        public var tensorCount: Int
        public var decision: QuantizationRecipe.Decision
        public var inputBytes: Int
        public var outputBytes: Int
    }

    public struct Summary: Sendable {
        public var tensorCount: Int
        public var convertedCount: Int
        public var fallbackCount: Int
        public var inputTensorBytes: Int
        public var outputTensorBytes: Int
        public var decisions: [QuantizationRecipe.Decision]
    }

    /// The decisions the quantizer would make for `input`, without writing anything.
    public func plan(_ input: GGUFFile) throws -> [QuantizationRecipe.Decision] {
        let shape: QuantizationRecipe.ModelShape
        do {
            shape = try QuantizationRecipe.ModelShape(metadata: input.metadata)
        } catch {
            throw QuantizationError.notAModel("\(error)")
        }
        let decisions = try recipe.plan(tensors: input.tensors, shape: shape)
        for d in decisions where d.from != d.to {
            guard BlockCodec.format(for: d.from) != nil else { throw QuantizationError.unsupportedType(d.from, operation: "dequantized") }
            guard BlockCodec.format(for: d.to) != nil else { throw QuantizationError.unsupportedType(d.to, operation: "quantized") }
            if d.from.isQuantized && !allowRequantize {
                throw QuantizationError.requantizeNotAllowed(tensor: d.name, from: d.from, to: d.to)
            }
        }
        return decisions
    }

    /// Reads `input`, writes the quantized model to `output`.
    @discardableResult
    public func quantize(input: String, output: String, progress: ((Progress) -> Void)? = nil) throws -> Summary {
        if let a = FileSystem.canonicalPath(input), let b = FileSystem.canonicalPath(output), a == b {
            throw QuantizationError.outputIsInput(input)
        }
        let file = try GGUFFile(contentsOf: input)
        let decisions = try plan(file)
        let byName = Dictionary(uniqueKeysWithValues: decisions.map { ($0.name, $0) })
        let ordered = QuantizationRecipe.processingOrder(file.tensors)

        var writer = GGUFWriter(metadata: outputMetadata(file.metadata), version: 3)
        for tensor in ordered {
            try writer.addTensor(name: tensor.name, shape: tensor.shape, type: byName[tensor.name]!.to)
        }

        var inputBytes = 0
        var outputBytes = 0
        var index = 0
        try writer.write(to: output) { placed, sink in
            try ModelQuantizer.checkCancellation()
            let source = file.tensor(named: placed.name)!
            let decision = byName[placed.name]!
            let data = file.tensorData(source)
            if decision.from == decision.to {
                try data.withUnsafeBytes { try sink.write($0) }
            } else {
                try convert(data, to: decision.to, sink: sink)
            }
            file.storage.release(data.range)
            index += 1
            inputBytes += source.byteCount
            outputBytes += placed.byteCount
            progress?(Progress(tensorIndex: index, tensorCount: ordered.count, decision: decision,
                               inputBytes: source.byteCount, outputBytes: placed.byteCount))
        }
        return Summary(
            tensorCount: decisions.count, convertedCount: decisions.filter { $0.from != $0.to }.count,
            fallbackCount: decisions.filter(\.fellBack).count, inputTensorBytes: inputBytes,
            outputTensorBytes: outputBytes, decisions: decisions)
    }

    /// The input's metadata with llama.cpp's updates: split keys removed, then
    /// `general.quantization_version` and `general.file_type` set.
    func outputMetadata(_ input: GGUFMetadata) -> GGUFMetadata {
        var metadata = input
        for key in ["split.no", "split.count", "split.tensors.count"] { metadata[key] = nil }
        // ggml's gguf_set_val_* removes an existing key and appends it at the end.
        metadata[GGUFKey.quantizationVersion] = nil
        metadata[GGUFKey.quantizationVersion] = .uint32(2)
        metadata[GGUFKey.fileType] = nil
        metadata[GGUFKey.fileType] = .uint32(recipe.fileType.fileTypeID)
        return metadata
    }

    /// Converts one tensor slab by slab: dequantize rows to floats, quantize them to `type`, write.
    func convert(_ data: GGUFTensorData, to type: GGMLType, sink: GGUFDataSink) throws {
        let info = data.info
        let rowLength = info.rowLength
        let rows = info.rowCount
        guard rows > 0, rowLength > 0 else { return }
        let from = BlockCodec.format(for: info.type)!
        let to = BlockCodec.format(for: type)!
        let inRowBytes = info.rowByteCount
        let outRowBytes = type.byteCount(elements: rowLength)!
        let slabRows = max(1, (4 << 20) / rowLength) * threads  // 16 MiB of floats per thread
        let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: min(rows, slabRows) * rowLength)
        defer { floats.deallocate() }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: min(rows, slabRows) * outRowBytes, alignment: 64)
        defer { out.deallocate() }
        let workers = threads

        try data.withUnsafeBytes { input in
            var first = 0
            while first < rows {
                try ModelQuantizer.checkCancellation()
                let count = min(slabRows, rows - first)
                let src = SendablePointer(UnsafeMutableRawPointer(mutating: input.baseAddress!) + first * inRowBytes)
                let floatBase = SendablePointer(UnsafeMutableRawPointer(floats.baseAddress!))
                let outBase = SendablePointer(out.baseAddress!)
                // Workers take chunks of rows from a shared counter (as llama.cpp does), so a core
                // busy with something else does not hold the others up; chunks are disjoint.
                let chunkRows = max(1, 16_384 / rowLength)
                let chunks = (count + chunkRows - 1) / chunkRows
                let next = Atomic<Int>(0)
                let job = { @Sendable (_: Int) in
                    while true {
                        let chunk = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard chunk < chunks else { return }
                        let lo = chunk * chunkRows
                        let n = min(count, lo + chunkRows) - lo
                        let slab = floatBase.pointer.assumingMemoryBound(to: Float.self) + lo * rowLength
                        from.dequantize(src.pointer + lo * inRowBytes, slab, blocks: n * rowLength / info.type.blockSize)
                        to.quantize(slab, outBase.pointer + lo * outRowBytes, blocks: n * rowLength / type.blockSize)
                    }
                }
                if workers > 1 && chunks > 1 {
                    DispatchQueue.concurrentPerform(iterations: min(workers, chunks), execute: job)
                } else {
                    job(0)
                }
                try sink.write(UnsafeRawBufferPointer(rebasing: out[0..<(count * outRowBytes)]))
                first += count
            }
        }
    }

    static func checkCancellation() throws {
        if withUnsafeCurrentTask(body: { $0?.isCancelled ?? false }) { throw CancellationError() }
    }

    static var processorCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

/// A pointer handed to worker threads that touch disjoint parts of its memory.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
}
