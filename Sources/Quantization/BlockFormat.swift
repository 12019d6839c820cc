import GGUFFormat

/// One ggml element format's reference codec.
///
/// `quantize` is byte-identical with ggml's `quantize_row_*_ref` (what llama.cpp's quantizer does
/// without an importance matrix), rounding modes included; `dequantize` is bit-identical with
/// ggml's `dequantize_row_*` and gguf-py's `gguf.quants.dequantize`. These are the exact reference
/// paths; the fast kernels in `CKernels` are checked against them.
public protocol BlockFormat: Sendable {
    /// The ggml type this codec reads and writes.
    static var type: GGMLType { get }
    /// Quantizes `blocks` blocks of `type.blockSize` values from `source` into `destination`
    /// (`blocks * type.blockBytes` bytes).
    static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int)
    /// Dequantizes `blocks` blocks from `source` into `blocks * type.blockSize` floats.
    static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int)
}

/// Errors of the quantization layer, naming the type and sizes involved.
public enum QuantizationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No codec for `type` (IQ types, MXFP4, integer types, ...).
    case unsupportedType(GGMLType, operation: String)
    /// `count` values are not a whole number of `type` blocks.
    case notWholeBlocks(GGMLType, count: Int)
    /// A buffer has `actual` bytes (or values) where `expected` are needed.
    case sizeMismatch(GGMLType, what: String, expected: Int, actual: Int)
    /// A tensor's rows fit neither the chosen type nor any fallback llama.cpp defines for it.
    case noFallback(tensor: String, type: GGMLType, rowLength: Int)
    /// Quantizing an already quantized tensor needs `allowRequantize` (`--allow-requantize`).
    case requantizeNotAllowed(tensor: String, from: GGMLType, to: GGMLType)
    /// The output path names the input file.
    case outputIsInput(String)
    /// The input has no `general.architecture` or the hyper-parameters the recipes use.
    case notAModel(String)

    public var description: String {
        switch self {
        case .unsupportedType(let type, let operation):
            "\(type) cannot be \(operation) by LocoLLM"
        case .notWholeBlocks(let type, let count):
            "\(count) values are not a whole number of \(type) blocks of \(type.blockSize)"
        case .sizeMismatch(let type, let what, let expected, let actual):
            "\(type): \(what) has \(actual), expected \(expected)"
        case .noFallback(let tensor, let type, let rowLength):
            "tensor '\(tensor)': row length \(rowLength) is not a multiple of \(type)'s block size \(type.blockSize) and llama.cpp defines no fallback for \(type)"
        case .requantizeNotAllowed(let tensor, let from, let to):
            "tensor '\(tensor)' is already \(from); quantizing it to \(to) loses precision twice, pass --allow-requantize (allowRequantize) to do it anyway"
        case .outputIsInput(let path):
            "the output path is the input file \(path); choose another output"
        case .notAModel(let reason):
            "not a model file LocoLLM can quantize: \(reason)"
        }
    }
}

/// The codecs by type, and checked entry points over buffers and arrays.
public enum BlockCodec {
    /// Every format with a reference codec.
    public static let formats: [any BlockFormat.Type] = [
        F32Format.self, F16Format.self, BF16Format.self,
        Q4_0Format.self, Q4_1Format.self, Q5_0Format.self, Q5_1Format.self, Q8_0Format.self, Q8_1Format.self, Q8_KFormat.self, TQ1_0Format.self, TQ2_0Format.self,
        Q2_KFormat.self, Q3_KFormat.self, Q4_KFormat.self, Q5_KFormat.self, Q6_KFormat.self,
    ]

    private static let byType: [GGMLType: any BlockFormat.Type] = Dictionary(
        uniqueKeysWithValues: formats.map { ($0.type, $0) })

    /// The codec for `type`, or nil when LocoLLM has none.
    public static func format(for type: GGMLType) -> (any BlockFormat.Type)? { byType[type] }

    /// Types that can be quantized to and dequantized from.
    public static var supportedTypes: [GGMLType] { formats.map { $0.type } }

    /// Quantizes all of `values` into `destination`, which must hold exactly their encoded size.
    public static func quantize(
        _ type: GGMLType, _ values: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawBufferPointer
    ) throws {
        let (format, blocks) = try check(type, count: values.count, bytes: destination.count, operation: "quantized")
        guard blocks > 0 else { return }
        format.quantize(values.baseAddress!, destination.baseAddress!, blocks: blocks)
    }

    /// Dequantizes all of `bytes` into `destination`, which must hold exactly their value count.
    public static func dequantize(
        _ type: GGMLType, _ bytes: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>
    ) throws {
        let (format, blocks) = try check(type, count: destination.count, bytes: bytes.count, operation: "dequantized")
        guard blocks > 0 else { return }
        format.dequantize(bytes.baseAddress!, destination.baseAddress!, blocks: blocks)
    }

    public static func quantize(_ type: GGMLType, _ values: [Float]) throws -> [UInt8] {
        guard let bytes = type.byteCount(elements: values.count) else {
            throw QuantizationError.notWholeBlocks(type, count: values.count)
        }
        var out = [UInt8](repeating: 0, count: bytes)
        try values.withUnsafeBufferPointer { v in try out.withUnsafeMutableBytes { try quantize(type, v, into: $0) } }
        return out
    }

    public static func dequantize(_ type: GGMLType, _ bytes: [UInt8]) throws -> [Float] {
        guard bytes.count % type.blockBytes == 0 else {
            throw QuantizationError.sizeMismatch(type, what: "input bytes", expected: (bytes.count / type.blockBytes + 1) * type.blockBytes, actual: bytes.count)
        }
        var out = [Float](repeating: 0, count: bytes.count / type.blockBytes * type.blockSize)
        try bytes.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try dequantize(type, b, into: $0) } }
        return out
    }

    private static func check(_ type: GGMLType, count: Int, bytes: Int, operation: String) throws -> (any BlockFormat.Type, Int) {
        guard let format = format(for: type) else { throw QuantizationError.unsupportedType(type, operation: operation) }
        guard count % type.blockSize == 0 else { throw QuantizationError.notWholeBlocks(type, count: count) }
        let blocks = count / type.blockSize
        guard bytes == blocks * type.blockBytes else {
            throw QuantizationError.sizeMismatch(type, what: "the encoded buffer (bytes)", expected: blocks * type.blockBytes, actual: bytes)
        }
        return (format, blocks)
    }
}
