/// The GGUF metadata value types, with the ids the format stores.
public enum GGUFValueType: UInt32, Sendable, CaseIterable, Codable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The name gguf-py uses (`UINT32`, `STRING`, ...).
    public var name: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }

    /// Encoded size of one value, or nil for strings and arrays whose size varies.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// Fewest bytes one encoded value can take (a string's length field, an array's header).
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}

/// One metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value of any integer type as a wide integer, or nil for other types.
    public var integerValue: Int64? {
        switch self {
        case .uint8(let v): Int64(v)
        case .int8(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint64(let v): Int64(exactly: v)
        case .int64(let v): v
        default: nil
        }
    }

    /// The value of either float type, or nil.
    public var floatingValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: GGUFArray? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Equality that treats floats by bit pattern, so NaNs and signed zeros compare as stored.
    public static func == (lhs: GGUFValue, rhs: GGUFValue) -> Bool {
        switch (lhs, rhs) {
        case let (.uint8(a), .uint8(b)): a == b
        case let (.int8(a), .int8(b)): a == b
        case let (.uint16(a), .uint16(b)): a == b
        case let (.int16(a), .int16(b)): a == b
        case let (.uint32(a), .uint32(b)): a == b
        case let (.int32(a), .int32(b)): a == b
        case let (.float32(a), .float32(b)): a.bitPattern == b.bitPattern
        case let (.bool(a), .bool(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.uint64(a), .uint64(b)): a == b
        case let (.int64(a), .int64(b)): a == b
        case let (.float64(a), .float64(b)): a.bitPattern == b.bitPattern
        default: false
        }
    }
}

/// A metadata array. Arrays read from a file stay encoded in the mapped bytes and are decoded on
/// access, so opening a model with a 150k-token vocabulary does not build 150k strings.
public struct GGUFArray: Sendable, Equatable {
    public let elementType: GGUFValueType
    public let count: Int
    let storage: Storage

    enum Storage: Sendable {
        case values([GGUFValue])
        /// The encoded elements (without the array header) in `GGUFStorage`; validated at parse.
        case encoded(GGUFStorage, Range<Int>)
    }

    /// An array of `values`, all of which must have type `elementType`.
    public init(elementType: GGUFValueType, values: [GGUFValue]) {
        precondition(values.allSatisfy { $0.type == elementType }, "array elements must all be \(elementType.name)")
        self.elementType = elementType
        self.count = values.count
        self.storage = .values(values)
    }

    init(elementType: GGUFValueType, count: Int, encodedIn storage: GGUFStorage, range: Range<Int>) {
        self.elementType = elementType
        self.count = count
        self.storage = .encoded(storage, range)
    }

    public init(strings: [String]) { self.init(elementType: .string, values: strings.map(GGUFValue.string)) }
    public init(int32s: [Int32]) { self.init(elementType: .int32, values: int32s.map(GGUFValue.int32)) }
    public init(float32s: [Float]) { self.init(elementType: .float32, values: float32s.map(GGUFValue.float32)) }

    /// Every element, decoded.
    public var values: [GGUFValue] {
        switch storage {
        case .values(let values):
            return values
        case .encoded(let storage, let range):
            var cursor = GGUFCursor(storage.bytes, offset: range.lowerBound)
            var out: [GGUFValue] = []
            out.reserveCapacity(count)
            for _ in 0..<count {
                // The range was validated when the file was parsed, so decoding cannot fail.
                out.append(try! GGUFValueDecoder.decode(elementType, &cursor, key: "", storage: storage, depth: 1, lossyStrings: true))
            }
            return withExtendedLifetime(storage) { out }
        }
    }

    /// The elements as strings; throws unless this is an array of strings. Bytes that are not
    /// valid UTF-8 are replaced with U+FFFD; `withStringBytes` gives the raw bytes.
    public func strings(key: String = "array") throws -> [String] {
        try requireElementType(.string, key: key)
        switch storage {
        case .values(let values):
            return values.map { $0.stringValue! }
        case .encoded:
            var out: [String] = []
            out.reserveCapacity(count)
            withStringBytes { _, bytes in out.append(String(decoding: bytes, as: UTF8.self)) }
            return out
        }
    }

    /// Calls `body` with each string element's index and raw bytes, without building Strings.
    /// Does nothing unless this is an array of strings.
    public func withStringBytes(_ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard elementType == .string else { return }
        switch storage {
        case .values(let values):
            for (i, value) in values.enumerated() {
                var string = value.stringValue!
                try string.withUTF8 { try body(i, UnsafeRawBufferPointer($0)) }
            }
        case .encoded(let storage, let range):
            try storage.withUnsafeBytes(in: range) { bytes in
                var offset = 0
                for i in 0..<count {
                    let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian)
                    offset += 8
                    try body(i, UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
                    offset += length
                }
            }
        }
    }

    /// Integer elements of any integer type, widened.
    public func integers(key: String = "array") throws -> [Int64] {
        guard elementType.isInteger else {
            throw GGUFError(.typeMismatch(key: key, expected: "array of integers", found: "array of \(elementType.name)"))
        }
        return try values.map { value in
            guard let v = value.integerValue else {
                throw GGUFError(.valueOutOfRange(key: key, value: "\(value)", expected: "a value that fits Int64"))
            }
            return v
        }
    }

    /// Float elements of either float type.
    public func floats(key: String = "array") throws -> [Float] {
        guard elementType == .float32 || elementType == .float64 else {
            throw GGUFError(.typeMismatch(key: key, expected: "array of floats", found: "array of \(elementType.name)"))
        }
        return values.map { Float($0.floatingValue!) }
    }

    func requireElementType(_ type: GGUFValueType, key: String) throws {
        guard elementType == type else {
            throw GGUFError(.typeMismatch(key: key, expected: "array of \(type.name)", found: "array of \(elementType.name)"))
        }
    }

    /// The encoded element bytes when this array was read from a file, for lossless copying.
    var encodedRange: (GGUFStorage, Range<Int>)? {
        if case .encoded(let s, let r) = storage { return (s, r) }
        return nil
    }

    public static func == (lhs: GGUFArray, rhs: GGUFArray) -> Bool {
        guard lhs.elementType == rhs.elementType, lhs.count == rhs.count else { return false }
        if let (ls, lr) = lhs.encodedRange, let (rs, rr) = rhs.encodedRange, lr.count == rr.count {
            let same = ls.withUnsafeBytes(in: lr) { a in rs.withUnsafeBytes(in: rr) { b in a.elementsEqual(b) } }
            if same { return true }
        }
        return lhs.values == rhs.values
    }
}

extension GGUFValueType {
    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64: true
        default: false
        }
    }
}
