/// One value of Thrift's compact protocol, read without a schema: Parquet's footer and page
/// headers are structs of these, and ``ParquetFile`` picks the fields it knows by id.
enum ThriftValue: Sendable {
    case bool(Bool)
    /// i8, i16, i32, i64 and enums.
    case int(Int64)
    case double(Double)
    case binary(ArraySlice<UInt8>)
    case list([ThriftValue])
    case structure(ThriftStruct)
    /// A map, read past but not kept (Parquet's structs have none).
    case map
}

/// A struct's fields by id.
struct ThriftStruct: Sendable {
    var fields: [Int16: ThriftValue] = [:]

    func int(_ id: Int16) -> Int64? {
        if case .int(let value)? = fields[id] { return value }
        return nil
    }

    func bool(_ id: Int16) -> Bool? {
        if case .bool(let value)? = fields[id] { return value }
        return nil
    }

    func binary(_ id: Int16) -> ArraySlice<UInt8>? {
        if case .binary(let value)? = fields[id] { return value }
        return nil
    }

    func list(_ id: Int16) -> [ThriftValue]? {
        if case .list(let value)? = fields[id] { return value }
        return nil
    }

    func structure(_ id: Int16) -> ThriftStruct? {
        if case .structure(let value)? = fields[id] { return value }
        return nil
    }

    /// Field `id` as an integer in `range`, or an error naming `name`.
    func required(_ id: Int16, _ name: String, in range: ClosedRange<Int64> = 0...Int64(Int32.max)) throws(EvaluationDataError) -> Int {
        guard let value = int(id) else { throw EvaluationDataError(path: nil, line: nil, message: "no \(name)") }
        guard range.contains(value) else { throw EvaluationDataError(path: nil, line: nil, message: "\(name) \(value) is out of range") }
        return Int(value)
    }
}

/// Reads Thrift compact-protocol structs from `bytes[position..<end]`. Every read is bounds-checked,
/// a count is checked against the bytes left before anything is allocated for it, and nesting is
/// limited, so malformed input throws instead of trapping or allocating without bound.
struct ThriftCompactReader {
    static let maximumDepth = 32

    private let bytes: [UInt8]
    private(set) var position: Int
    private let end: Int

    init(bytes: [UInt8], from start: Int, to end: Int) {
        self.bytes = bytes
        self.position = start
        self.end = min(end, bytes.count)
    }

    private func error(_ message: String) -> EvaluationDataError {
        EvaluationDataError(path: nil, line: nil, message: "\(message) at byte \(position)")
    }

    /// One struct, up to and including its stop byte.
    mutating func readStruct() throws(EvaluationDataError) -> ThriftStruct { try readStruct(depth: 0) }

    private mutating func byte() throws(EvaluationDataError) -> UInt8 {
        guard position < end else { throw error("Thrift data ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func varint() throws(EvaluationDataError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            let b = try byte()
            guard shift < 63 || b <= 1 else { throw error("Thrift varint longer than 64 bits") }
            value |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return value }
        }
        throw error("Thrift varint longer than 64 bits")
    }

    private mutating func zigzag() throws(EvaluationDataError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    private mutating func readStruct(depth: Int) throws(EvaluationDataError) -> ThriftStruct {
        guard depth <= Self.maximumDepth else { throw error("Thrift structs nested more than \(Self.maximumDepth) deep") }
        var result = ThriftStruct()
        var last: Int64 = 0
        while true {
            let header = try byte()
            if header == 0 { return result }
            let type = header & 0x0F, delta = Int64(header >> 4)
            let id = delta == 0 ? try zigzag() : last + delta
            guard (Int64(Int16.min)...Int64(Int16.max)).contains(id) else { throw error("Thrift field id \(id) out of range") }
            let value: ThriftValue = type == 1 || type == 2 ? .bool(type == 1) : try readValue(type: type, depth: depth)
            result.fields[Int16(id)] = value
            last = id
        }
    }

    private mutating func readValue(type: UInt8, depth: Int) throws(EvaluationDataError) -> ThriftValue {
        switch type {
        case 1, 2:  // a boolean inside a list or map: one byte
            return .bool(try byte() == 1)
        case 3:
            return .int(Int64(Int8(bitPattern: try byte())))
        case 4, 5, 6:
            return .int(try zigzag())
        case 7:
            guard end - position >= 8 else { throw error("Thrift double ends early") }
            var raw: UInt64 = 0
            for i in 0..<8 { raw |= UInt64(bytes[position + i]) << UInt64(8 * i) }
            position += 8
            return .double(Double(bitPattern: raw))
        case 8:
            let length = try varint()
            guard length <= UInt64(end - position) else { throw error("Thrift binary of \(length) bytes runs past the end") }
            defer { position += Int(length) }
            return .binary(bytes[position..<(position + Int(length))])
        case 9, 10:
            let header = try byte()
            let count = header >> 4 == 15 ? try varint() : UInt64(header >> 4)
            // Every element takes at least one byte, so a larger count cannot be right.
            guard count <= UInt64(end - position) else { throw error("Thrift list of \(count) elements runs past the end") }
            guard depth < Self.maximumDepth else { throw error("Thrift values nested more than \(Self.maximumDepth) deep") }
            var elements: [ThriftValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { elements.append(try readValue(type: header & 0x0F, depth: depth + 1)) }
            return .list(elements)
        case 11:
            let count = try varint()
            guard count > 0 else { return .map }
            let types = try byte()
            guard count <= UInt64(end - position) else { throw error("Thrift map of \(count) entries runs past the end") }
            guard depth < Self.maximumDepth else { throw error("Thrift values nested more than \(Self.maximumDepth) deep") }
            for _ in 0..<Int(count) {
                _ = try readValue(type: types >> 4, depth: depth + 1)
                _ = try readValue(type: types & 0x0F, depth: depth + 1)
            }
            return .map
        case 12:
            return .structure(try readStruct(depth: depth + 1))
        default:
            throw error("unknown Thrift type \(type)")
        }
    }
}
