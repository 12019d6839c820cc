import Quantization
import LocoSupport

/// Writes safetensors files deterministically and atomically.
///
/// Tensors are laid out in the order of their names' UTF-8 bytes, the header lists `__metadata__`
/// (when not empty) and then the tensors in that order, with sorted metadata keys, and is padded
/// with spaces so the data starts at a multiple of 8 bytes. The same tensors and metadata therefore
/// always give the same bytes. The file is written to a temporary file in the destination folder
/// and renamed into place only when complete.
///
/// ```swift
/// var writer = SafeTensorsWriter(metadata: ["format": "pt"])
/// try writer.addTensor(name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6], dtype: .f16)
/// try writer.write(to: "out.safetensors")
/// ```
public struct SafeTensorsWriter: Sendable {
    public var metadata: [String: String]
    private var pending: [String: Pending] = [:]

    private struct Pending: Sendable {
        var dtype: SafeTensorsDType
        var shape: [Int]
        var bytes: [UInt8]
    }

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// The tensors' names in file order.
    public var tensorNames: [String] { pending.keys.sorted(by: SafeTensorsWriter.byteOrder) }

    /// Adds a tensor of `shape` (row-major) holding `values`, stored as `dtype` (F16 and BF16 round
    /// to nearest even, as PyTorch and ggml do).
    public mutating func addTensor(
        name: String, shape: [Int], values: [Float], dtype: SafeTensorsDType = .f32
    ) throws(SafeTensorsError) {
        guard name != "__metadata__" else {
            throw SafeTensorsError(.invalidTensor(name: name, reason: "the name is reserved for the metadata map"))
        }
        guard pending[name] == nil else { throw SafeTensorsError(.duplicateTensor(name)) }
        var elements = 1
        for n in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard n >= 0, !overflow else {
                throw SafeTensorsError(.invalidTensor(name: name, reason: "shape \(shape) is negative or overflows"))
            }
            elements = product
        }
        guard elements == values.count else {
            throw SafeTensorsError(.invalidTensor(name: name, reason: "shape \(shape) holds \(elements) values, \(values.count) given"))
        }
        var bytes = [UInt8](repeating: 0, count: elements * dtype.byteSize)
        if elements > 0 {
            values.withUnsafeBufferPointer { source in
                bytes.withUnsafeMutableBytes { destination in
                    switch dtype {
                    case .f32: F32Format.quantize(source.baseAddress!, destination.baseAddress!, blocks: elements)
                    case .f16: F16Format.quantize(source.baseAddress!, destination.baseAddress!, blocks: elements)
                    case .bf16: BF16Format.quantize(source.baseAddress!, destination.baseAddress!, blocks: elements)
                    }
                }
            }
        }
        pending[name] = Pending(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// The header length field and the padded JSON header.
    public func encodedHeader() -> [UInt8] {
        var root = JSONObject()
        if !metadata.isEmpty {
            let keys = metadata.keys.sorted(by: SafeTensorsWriter.byteOrder)
            root.insert("__metadata__", .object(JSONObject(keys.map { ($0, JSONValue.string(metadata[$0]!)) })))
        }
        var offset = 0
        for name in tensorNames {
            let tensor = pending[name]!
            let entry = JSONObject([
                ("dtype", .string(tensor.dtype.rawValue)),
                ("shape", .array(tensor.shape.map { .number(String($0)) })),
                ("data_offsets", .array([.number(String(offset)), .number(String(offset + tensor.bytes.count))])),
            ])
            root.insert(name, .object(entry))
            offset += tensor.bytes.count
        }
        var json = Array(JSONWriter.encode(.object(root), pretty: false).utf8)
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    /// The whole file.
    public func encoded() -> [UInt8] {
        var out = encodedHeader()
        for name in tensorNames { out += pending[name]!.bytes }
        return out
    }

    /// Writes the file to `path` atomically.
    public func write(to path: String) throws(SafeTensorsError) {
        do {
            let file = try AtomicFile(destination: path)
            try file.write(encodedHeader())
            for name in tensorNames { try file.write(pending[name]!.bytes) }
            try file.commit()
        } catch {
            throw SafeTensorsError(error)
        }
    }

    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
