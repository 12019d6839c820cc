/// Every way reading or writing a GGUF file can fail, with the place it failed.
///
/// The reader never traps on malformed input: it throws one of these, naming the key, tensor or
/// byte offset and what was expected there.
public struct GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badMagic([UInt8])
        case unsupportedVersion(UInt32)
        /// The version field reads as a big-endian file (`version & 0xFFFF == 0`).
        case wrongEndianness(UInt32)
        /// The file ends before `needed` more bytes of `what`.
        case truncated(what: String, needed: Int, available: Int)
        /// A count or length that cannot fit in the rest of the file.
        case countExceedsFile(what: String, count: UInt64)
        case invalidValueType(key: String, rawType: UInt32)
        case invalidBool(key: String, value: UInt8)
        case invalidUTF8(what: String)
        case duplicateKey(String)
        case duplicateTensor(String)
        case tensorNameTooLong(name: String, bytes: Int)
        case invalidDimensionCount(tensor: String, count: UInt32)
        case invalidDimension(tensor: String, index: Int, value: UInt64)
        case rowNotWholeBlocks(tensor: String, rowLength: Int, type: GGMLType)
        case elementCountOverflow(tensor: String)
        case unknownTensorType(tensor: String, rawType: UInt32)
        case invalidAlignment(String)
        case misalignedTensorOffset(tensor: String, offset: UInt64, alignment: Int)
        case tensorBeyondFile(tensor: String, end: UInt64, dataSize: Int)
        case overlappingTensors(String, String)
        case nestingTooDeep(key: String)
        // Access
        case keyNotFound(String)
        case typeMismatch(key: String, expected: String, found: String)
        case valueOutOfRange(key: String, value: String, expected: String)
        case tensorNotFound(String)
        // Writing
        case invalidTensor(name: String, reason: String)
        case tensorDataSizeMismatch(tensor: String, expected: Int, written: Int)
        case io(operation: String, path: String, errno: Int32, message: String)
    }

    public var kind: Kind
    /// Byte offset in the file where the problem was found, when it is about a place in the file.
    public var offset: Int?
    /// The file, when known.
    public var path: String?

    public init(_ kind: Kind, offset: Int? = nil, path: String? = nil) {
        self.kind = kind
        self.offset = offset
        self.path = path
    }

    public var description: String {
        var prefix = ""
        if let path { prefix += "\(path): " }
        if let offset { prefix += "at byte \(offset): " }
        return prefix + kind.message
    }
}

extension GGUFError.Kind {
    var message: String {
        switch self {
        case .badMagic(let bytes):
            let hex = bytes.map { String($0, radix: 16) }.joined(separator: " ")
            return "not a GGUF file: magic is [\(hex)], expected 47 47 55 46 (\"GGUF\")"
        case .unsupportedVersion(let v):
            return "unsupported GGUF version \(v); versions 2 and 3 are readable"
        case .wrongEndianness(let v):
            return "GGUF version field reads \(v): the file is big-endian or byte-swapped; only little-endian files are supported"
        case .truncated(let what, let needed, let available):
            return "file ends inside \(what): \(needed) bytes needed, \(available) left"
        case .countExceedsFile(let what, let count):
            return "\(what) \(count) cannot fit in the rest of the file"
        case .invalidValueType(let key, let raw):
            return "key '\(key)': invalid value type \(raw) (expected 0...12)"
        case .invalidBool(let key, let value):
            return "key '\(key)': bool byte is \(value), expected 0 or 1"
        case .invalidUTF8(let what):
            return "\(what) is not valid UTF-8"
        case .duplicateKey(let key):
            return "duplicate metadata key '\(key)'"
        case .duplicateTensor(let name):
            return "duplicate tensor name '\(name)'"
        case .tensorNameTooLong(let name, let bytes):
            return "tensor name '\(name)' is \(bytes) bytes; ggml allows at most 63"
        case .invalidDimensionCount(let tensor, let count):
            return "tensor '\(tensor)': \(count) dimensions, expected 1...4"
        case .invalidDimension(let tensor, let index, let value):
            return "tensor '\(tensor)': ne[\(index)] = \(value) is out of range"
        case .rowNotWholeBlocks(let tensor, let rowLength, let type):
            return "tensor '\(tensor)': row length ne[0] = \(rowLength) is not a multiple of \(type)'s block size \(type.blockSize)"
        case .elementCountOverflow(let tensor):
            return "tensor '\(tensor)': element count or byte size overflows"
        case .unknownTensorType(let tensor, let raw):
            return "tensor '\(tensor)': unknown ggml type \(raw)"
        case .invalidAlignment(let reason):
            return "general.alignment: \(reason)"
        case .misalignedTensorOffset(let tensor, let offset, let alignment):
            return "tensor '\(tensor)': data offset \(offset) is not a multiple of the alignment \(alignment)"
        case .tensorBeyondFile(let tensor, let end, let dataSize):
            return "tensor '\(tensor)': data ends at \(end), beyond the data section of \(dataSize) bytes"
        case .overlappingTensors(let a, let b):
            return "tensors '\(a)' and '\(b)' overlap"
        case .nestingTooDeep(let key):
            return "key '\(key)': arrays nested too deeply"
        case .keyNotFound(let key):
            return "metadata key '\(key)' not found"
        case .typeMismatch(let key, let expected, let found):
            return "metadata key '\(key)': expected \(expected), found \(found)"
        case .valueOutOfRange(let key, let value, let expected):
            return "metadata key '\(key)': value \(value) out of range, expected \(expected)"
        case .tensorNotFound(let name):
            return "tensor '\(name)' not found"
        case .invalidTensor(let name, let reason):
            return "tensor '\(name)': \(reason)"
        case .tensorDataSizeMismatch(let tensor, let expected, let written):
            return "tensor '\(tensor)': producer wrote \(written) bytes, expected \(expected)"
        case .io(let operation, let path, let errno, let message):
            return "\(operation) '\(path)' failed: \(message) (errno \(errno))"
        }
    }
}
