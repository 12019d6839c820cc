/// Reads metadata values, validating as it goes: types, bools, string and array lengths against
/// the file, and nesting depth. Arrays are validated by a scan and kept encoded (see `GGUFArray`).
enum GGUFValueDecoder {
    /// Deeper nesting is refused, so a crafted file cannot exhaust the stack.
    static let maximumNesting = 8

    static func decode(
        _ type: GGUFValueType, _ cursor: inout GGUFCursor, key: String, storage: GGUFStorage,
        depth: Int, lossyStrings: Bool = false
    ) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, "value of '\(key)'"))
        case .int8: return .int8(try cursor.read(Int8.self, "value of '\(key)'"))
        case .uint16: return .uint16(try cursor.read(UInt16.self, "value of '\(key)'"))
        case .int16: return .int16(try cursor.read(Int16.self, "value of '\(key)'"))
        case .uint32: return .uint32(try cursor.read(UInt32.self, "value of '\(key)'"))
        case .int32: return .int32(try cursor.read(Int32.self, "value of '\(key)'"))
        case .uint64: return .uint64(try cursor.read(UInt64.self, "value of '\(key)'"))
        case .int64: return .int64(try cursor.read(Int64.self, "value of '\(key)'"))
        case .float32: return .float32(Float(bitPattern: try cursor.read(UInt32.self, "value of '\(key)'")))
        case .float64: return .float64(Double(bitPattern: try cursor.read(UInt64.self, "value of '\(key)'")))
        case .bool:
            let start = cursor.offset
            let byte = try cursor.read(UInt8.self, "value of '\(key)'")
            guard byte <= 1 else { throw GGUFError(.invalidBool(key: key, value: byte), offset: start) }
            return .bool(byte == 1)
        case .string:
            if lossyStrings {
                let range = try cursor.readStringRange("value of '\(key)'")
                return .string(String(decoding: cursor.bytes[range], as: UTF8.self))
            }
            return .string(try cursor.readString("value of '\(key)'"))
        case .array:
            return .array(try decodeArray(&cursor, key: key, storage: storage, depth: depth))
        }
    }

    private static func decodeArray(
        _ cursor: inout GGUFCursor, key: String, storage: GGUFStorage, depth: Int
    ) throws -> GGUFArray {
        guard depth < maximumNesting else { throw GGUFError(.nestingTooDeep(key: key), offset: cursor.offset) }
        let typeOffset = cursor.offset
        let rawType = try cursor.read(UInt32.self, "array element type of '\(key)'")
        guard let elementType = GGUFValueType(rawValue: rawType) else {
            throw GGUFError(.invalidValueType(key: key, rawType: rawType), offset: typeOffset)
        }
        let rawCount = try cursor.read(UInt64.self, "array length of '\(key)'")
        let count = try cursor.checkCount(rawCount, minimumSize: elementType.minimumSize, "array length of '\(key)'")
        let start = cursor.offset
        try skipElements(elementType, count: count, &cursor, key: key, depth: depth)
        return GGUFArray(elementType: elementType, count: count, encodedIn: storage, range: start..<cursor.offset)
    }

    /// Validates `count` encoded elements and moves past them without decoding them.
    private static func skipElements(
        _ type: GGUFValueType, count: Int, _ cursor: inout GGUFCursor, key: String, depth: Int
    ) throws {
        if let size = type.fixedSize {
            let total = count * size  // count was bounded by the remaining bytes / size
            try cursor.require(total, "elements of '\(key)'")
            if type == .bool {
                for i in 0..<count {
                    let byte = cursor.bytes[cursor.offset + i]
                    guard byte <= 1 else {
                        throw GGUFError(.invalidBool(key: "\(key)[\(i)]", value: byte), offset: cursor.offset + i)
                    }
                }
            }
            cursor.offset += total
            return
        }
        switch type {
        case .string:
            for i in 0..<count { _ = try cursor.readStringRange("element \(i) of '\(key)'") }
        case .array:
            guard depth + 1 < maximumNesting else { throw GGUFError(.nestingTooDeep(key: key), offset: cursor.offset) }
            for i in 0..<count {
                let typeOffset = cursor.offset
                let rawType = try cursor.read(UInt32.self, "array element type of '\(key)[\(i)]'")
                guard let elementType = GGUFValueType(rawValue: rawType) else {
                    throw GGUFError(.invalidValueType(key: "\(key)[\(i)]", rawType: rawType), offset: typeOffset)
                }
                let rawCount = try cursor.read(UInt64.self, "array length of '\(key)[\(i)]'")
                let inner = try cursor.checkCount(rawCount, minimumSize: elementType.minimumSize, "array length of '\(key)[\(i)]'")
                try skipElements(elementType, count: inner, &cursor, key: "\(key)[\(i)]", depth: depth + 1)
            }
        default:
            preconditionFailure("fixed-size types are handled above")
        }
    }
}
