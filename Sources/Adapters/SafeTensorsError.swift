import LocoSupport
/// Every way reading or writing a safetensors file can fail, naming the file, the tensor and what
/// was expected. The reader never traps or reads out of bounds on malformed input.
public struct SafeTensorsError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Fewer than the 8 bytes of the header length.
        case fileTooShort(size: Int)
        /// The header length field points past the end of the file.
        case headerBeyondFile(headerLength: UInt64, available: Int)
        /// The header length is over ``SafeTensorsFile/maximumHeaderLength``.
        case headerTooLarge(headerLength: UInt64, limit: Int)
        /// The header is not a JSON object of the expected form (syntax, first byte, `__metadata__`).
        case invalidHeader(String)
        /// A tensor's entry lacks `dtype`, `shape` or `data_offsets`, or one has the wrong form.
        case invalidEntry(tensor: String, reason: String)
        /// A dtype other than F32, F16 or BF16.
        case unsupportedDType(tensor: String, dtype: String)
        /// The shape's element count times the dtype's size differs from the span of `data_offsets`.
        case sizeMismatch(tensor: String, shape: [Int], dtype: String, expectedBytes: Int, spanBytes: Int)
        /// `data_offsets` reach past the data that follows the header.
        case offsetsBeyondData(tensor: String, begin: Int, end: Int, dataSize: Int)
        case overlappingTensors(String, String)
        /// The data is not fully indexed: bytes before `tensor` belong to no tensor.
        case gapBeforeTensor(tensor: String, begin: Int, expected: Int)
        /// Bytes after the last tensor belong to no tensor.
        case unindexedTrailingData(end: Int, dataSize: Int)
        case tensorNotFound(String)
        // Writing
        case duplicateTensor(String)
        case invalidTensor(name: String, reason: String)
        case io(operation: String, path: String, errno: Int32, message: String)
    }

    public var kind: Kind
    /// The file, when known.
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public init(_ failure: FileSystemFailure) {
        self.init(.io(operation: failure.operation, path: failure.path, errno: failure.code, message: failure.message))
    }

    public var description: String { (path.map { "\($0): " } ?? "") + kind.message }
}

extension SafeTensorsError.Kind {
    var message: String {
        switch self {
        case .fileTooShort(let size):
            return "file is \(size) bytes; a safetensors file starts with an 8-byte header length"
        case .headerBeyondFile(let length, let available):
            return "header length \(length) runs past the end of the file (\(available) bytes after the length field)"
        case .headerTooLarge(let length, let limit):
            return "header length \(length) is over the limit of \(limit) bytes"
        case .invalidHeader(let reason):
            return "invalid header: \(reason)"
        case .invalidEntry(let tensor, let reason):
            return "tensor '\(tensor)': \(reason)"
        case .unsupportedDType(let tensor, let dtype):
            return "tensor '\(tensor)': dtype '\(dtype)' is not supported (expected F32, F16 or BF16)"
        case .sizeMismatch(let tensor, let shape, let dtype, let expected, let span):
            return "tensor '\(tensor)': shape \(shape) of \(dtype) needs \(expected) bytes but data_offsets span \(span)"
        case .offsetsBeyondData(let tensor, let begin, let end, let size):
            return "tensor '\(tensor)': data_offsets [\(begin), \(end)] reach past the \(size) bytes of data"
        case .overlappingTensors(let a, let b):
            return "tensors '\(a)' and '\(b)' overlap"
        case .gapBeforeTensor(let tensor, let begin, let expected):
            return "tensor '\(tensor)' starts at data offset \(begin), expected \(expected): the bytes between belong to no tensor"
        case .unindexedTrailingData(let end, let size):
            return "the last tensor ends at data offset \(end) but the data is \(size) bytes: the rest belongs to no tensor"
        case .tensorNotFound(let name):
            return "tensor '\(name)' not found"
        case .duplicateTensor(let name):
            return "duplicate tensor name '\(name)'"
        case .invalidTensor(let name, let reason):
            return "tensor '\(name)': \(reason)"
        case .io(let operation, let path, let errno, let message):
            return "\(operation) '\(path)' failed: \(message) (errno \(errno))"
        }
    }
}
