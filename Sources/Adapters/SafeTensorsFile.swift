import GGUFFormat
import Quantization
import LocoSupport

/// The element types LoRA adapters are stored in; everything else is refused.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    /// Bytes per element.
    public var byteSize: Int { self == .f32 ? 4 : 2 }
}

/// One tensor's entry in the header.
public struct SafeTensorsTensorInfo: Sendable, Equatable, Hashable {
    public let name: String
    public let dtype: SafeTensorsDType
    /// Row-major (outermost first), as PyTorch writes it.
    public let shape: [Int]
    /// Byte range relative to the start of the data, after the header.
    public let dataOffsets: Range<Int>
    public let elementCount: Int
}

/// A safetensors file: `u64` little-endian header length, a JSON header (per tensor its `dtype`,
/// `shape` and `data_offsets`; optionally `__metadata__`, a map of strings), then the raw
/// little-endian data.
///
/// Opening maps the file and checks the whole header against it before anything is decoded: the
/// header length (against the file and ``maximumHeaderLength``), the JSON, each dtype (F32, F16,
/// BF16), each shape (element count times element size equals the byte span), each offset pair
/// (inside the data), and that the tensors tile the data exactly, without overlaps, holes or
/// trailing bytes, as the format requires. Anything else throws a ``SafeTensorsError``.
///
/// ```swift
/// let file = try SafeTensorsFile(contentsOf: "adapter_model.safetensors")
/// let a = try file.floats(named: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
/// ```
public struct SafeTensorsFile: Sendable {
    /// The reference implementation's limit on the header, 100 MB.
    public static let maximumHeaderLength = 100_000_000

    public let path: String?
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensors in the order of their data.
    public let tensors: [SafeTensorsTensorInfo]
    /// Absolute offset of the data: 8 plus the header length.
    public let dataOffset: Int
    let storage: GGUFStorage
    private let index: [String: Int]

    /// Maps and checks the file at `path`.
    public init(contentsOf path: String) throws(SafeTensorsError) {
        let storage: GGUFStorage
        do {
            storage = try GGUFStorage(mapping: path)
        } catch {
            if let error = error as? GGUFError, case .io(let operation, let path, let code, let message) = error.kind {
                throw SafeTensorsError(.io(operation: operation, path: path, errno: code, message: message))
            }
            throw SafeTensorsError(.io(operation: "map", path: path, errno: 0, message: "\(error)"))
        }
        do {
            try self.init(storage: storage, path: path)
        } catch var error {
            error.path = path
            throw error
        }
    }

    /// Checks a copy of `bytes`.
    public init<Bytes: Collection>(bytes: Bytes) throws(SafeTensorsError) where Bytes.Element == UInt8 {
        try self.init(storage: GGUFStorage(copying: bytes), path: nil)
    }

    init(storage: GGUFStorage, path: String?) throws(SafeTensorsError) {
        self.storage = storage
        self.path = path
        let size = storage.count
        guard size >= 8 else { throw SafeTensorsError(.fileTooShort(size: size)) }
        let headerLength = storage.withUnsafeBytes(in: 0..<8) { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard headerLength <= UInt64(SafeTensorsFile.maximumHeaderLength) else {
            throw SafeTensorsError(.headerTooLarge(headerLength: headerLength, limit: SafeTensorsFile.maximumHeaderLength))
        }
        guard headerLength <= UInt64(size - 8) else {
            throw SafeTensorsError(.headerBeyondFile(headerLength: headerLength, available: size - 8))
        }
        dataOffset = 8 + Int(headerLength)
        let header = storage.withUnsafeBytes(in: 8..<dataOffset) { Array($0) }
        guard header.first == UInt8(ascii: "{") else {
            throw SafeTensorsError(.invalidHeader("the JSON header must start with '{'"))
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(header)
        } catch {
            throw SafeTensorsError(.invalidHeader("\(error.message) at header byte \(error.offset)"))
        }
        guard case .object(let object) = root else { throw SafeTensorsError(.invalidHeader("the header is not a JSON object")) }

        let dataSize = size - dataOffset
        var metadata: [String: String] = [:]
        var tensors: [SafeTensorsTensorInfo] = []
        for (name, value) in object.members {
            if name == "__metadata__" {
                guard case .object(let map) = value else {
                    throw SafeTensorsError(.invalidHeader("__metadata__ is \(value.kindName), expected an object of strings"))
                }
                for (key, entry) in map.members {
                    guard let text = entry.string else {
                        throw SafeTensorsError(.invalidHeader("__metadata__ value of '\(key)' is \(entry.kindName), expected a string"))
                    }
                    metadata[key] = text
                }
            } else {
                tensors.append(try SafeTensorsFile.tensorInfo(name, value, dataSize: dataSize))
            }
        }
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        try SafeTensorsFile.checkTiling(tensors, dataSize: dataSize)
        self.metadata = metadata
        self.tensors = tensors
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    // MARK: Access

    public func tensor(named name: String) -> SafeTensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The values of the tensor called `name`, widened to F32 (exactly: every F16 and BF16 value is a float).
    public func floats(named name: String) throws(SafeTensorsError) -> [Float] {
        guard let info = tensor(named: name) else { throw SafeTensorsError(.tensorNotFound(name), path: path) }
        return floats(info)
    }

    /// The values of `info`, one of this file's tensors, widened to F32.
    public func floats(_ info: SafeTensorsTensorInfo) -> [Float] {
        let count = info.elementCount
        var out = [Float](repeating: 0, count: count)
        guard count > 0 else { return out }
        self.withUnsafeBytes(of: info) { raw in
            out.withUnsafeMutableBufferPointer { destination in
                switch info.dtype {
                case .f32:
                    UnsafeMutableRawBufferPointer(destination).copyMemory(from: raw)
                case .f16, .bf16:
                    // Copied first: the data of a 2-byte type may start at an odd file offset.
                    var halves = [UInt16](repeating: 0, count: count)
                    halves.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
                    halves.withUnsafeBytes { source in
                        if info.dtype == .f16 {
                            F16Format.dequantize(source.baseAddress!, destination.baseAddress!, blocks: count)
                        } else {
                            BF16Format.dequantize(source.baseAddress!, destination.baseAddress!, blocks: count)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Calls `body` with the raw little-endian bytes of `info`, one of this file's tensors.
    public func withUnsafeBytes<R>(of info: SafeTensorsTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(in: (dataOffset + info.dataOffsets.lowerBound)..<(dataOffset + info.dataOffsets.upperBound), body)
    }

    // MARK: Checks

    private static func tensorInfo(_ name: String, _ value: JSONValue, dataSize: Int) throws(SafeTensorsError) -> SafeTensorsTensorInfo {
        func invalid(_ reason: String) -> SafeTensorsError { SafeTensorsError(.invalidEntry(tensor: name, reason: reason)) }
        guard case .object(let entry) = value else { throw invalid("entry is \(value.kindName), expected an object") }
        for key in entry.keys where !["dtype", "shape", "data_offsets"].contains(key) {
            throw invalid("unexpected key '\(key)' (expected dtype, shape and data_offsets)")
        }
        guard let dtypeValue = entry["dtype"] else { throw invalid("no dtype") }
        guard let dtypeName = dtypeValue.string else { throw invalid("dtype is \(dtypeValue.kindName), expected a string") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError(.unsupportedDType(tensor: name, dtype: dtypeName))
        }
        guard case .array(let shapeValues)? = entry["shape"] else { throw invalid("shape is missing or not an array") }
        var shape: [Int] = []
        var elements = 1
        for dimension in shapeValues {
            guard let n = dimension.nonNegativeInteger else {
                throw invalid("shape must be an array of non-negative integers, found \(JSONWriter.encode(dimension, pretty: false))")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow else { throw invalid("the element count of shape \(shape + [n]) overflows") }
            shape.append(n)
            elements = product
        }
        guard case .array(let offsetValues)? = entry["data_offsets"], offsetValues.count == 2,
              let begin = offsetValues[0].nonNegativeInteger, let end = offsetValues[1].nonNegativeInteger else {
            throw invalid("data_offsets must be two non-negative integers [begin, end]")
        }
        guard begin <= end else { throw invalid("data_offsets [\(begin), \(end)] end before they begin") }
        guard end <= dataSize else {
            throw SafeTensorsError(.offsetsBeyondData(tensor: name, begin: begin, end: end, dataSize: dataSize))
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == end - begin else {
            throw SafeTensorsError(.sizeMismatch(tensor: name, shape: shape, dtype: dtypeName,
                                                 expectedBytes: overflow ? Int.max : bytes, spanBytes: end - begin))
        }
        return SafeTensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end, elementCount: elements)
    }

    /// The format requires the tensors, in offset order, to cover the data exactly.
    private static func checkTiling(_ sorted: [SafeTensorsTensorInfo], dataSize: Int) throws(SafeTensorsError) {
        var expected = 0
        var previous: SafeTensorsTensorInfo?
        for tensor in sorted {
            if tensor.dataOffsets.lowerBound < expected, let previous {
                throw SafeTensorsError(.overlappingTensors(previous.name, tensor.name))
            }
            if tensor.dataOffsets.lowerBound > expected {
                throw SafeTensorsError(.gapBeforeTensor(tensor: tensor.name, begin: tensor.dataOffsets.lowerBound, expected: expected))
            }
            expected = tensor.dataOffsets.upperBound
            previous = tensor
        }
        guard expected == dataSize else { throw SafeTensorsError(.unindexedTrailingData(end: expected, dataSize: dataSize)) }
    }
}
