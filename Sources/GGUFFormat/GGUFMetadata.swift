/// A metadata entry: a key and its value.
public struct GGUFMetadataEntry: Sendable, Equatable {
    public var key: String
    public var value: GGUFValue

    public init(key: String, value: GGUFValue) {
        self.key = key
        self.value = value
    }
}

/// The key-value metadata of a GGUF file, in file order (the order is kept so that a file
/// written back unchanged is byte-identical). Keys are compared by their UTF-8 bytes, as ggml
/// compares them, not by Unicode canonical equivalence.
public struct GGUFMetadata: Sendable, Equatable, RandomAccessCollection {
    public private(set) var entries: [GGUFMetadataEntry] = []
    private var index: [[UInt8]: Int] = [:]

    public init() {}

    /// Metadata from entries; throws on a duplicate key.
    public init(_ entries: [GGUFMetadataEntry]) throws {
        for entry in entries {
            guard index[Array(entry.key.utf8)] == nil else { throw GGUFError(.duplicateKey(entry.key)) }
            index[Array(entry.key.utf8)] = self.entries.count
            self.entries.append(entry)
        }
    }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> GGUFMetadataEntry { entries[position] }

    public var keys: [String] { entries.map(\.key) }

    public func contains(_ key: String) -> Bool { index[Array(key.utf8)] != nil }

    /// The value for `key`. Setting a new key appends it; setting nil removes it.
    public subscript(key: String) -> GGUFValue? {
        get { index[Array(key.utf8)].map { entries[$0].value } }
        set {
            let bytes = Array(key.utf8)
            if let position = index[bytes] {
                if let newValue {
                    entries[position].value = newValue
                } else {
                    entries.remove(at: position)
                    index[bytes] = nil
                    for i in position..<entries.count { index[Array(entries[i].key.utf8)] = i }
                }
            } else if let newValue {
                index[bytes] = entries.count
                entries.append(GGUFMetadataEntry(key: key, value: newValue))
            }
        }
    }

    public static func == (lhs: GGUFMetadata, rhs: GGUFMetadata) -> Bool { lhs.entries == rhs.entries }

    // MARK: Typed access

    /// The value for `key`, or `keyNotFound`.
    public func value(_ key: String) throws -> GGUFValue {
        guard let value = self[key] else { throw GGUFError(.keyNotFound(key)) }
        return value
    }

    public func string(_ key: String) throws -> String {
        let value = try value(key)
        guard case .string(let s) = value else { throw mismatch(key, "STRING", value) }
        return s
    }

    /// An integer of any GGUF integer type, converted to `T`; `valueOutOfRange` when it does not fit.
    public func integer<T: FixedWidthInteger>(_ key: String, as _: T.Type = Int.self) throws -> T {
        let value = try value(key)
        let converted: T?
        switch value {
        case .uint8(let v): converted = T(exactly: v)
        case .int8(let v): converted = T(exactly: v)
        case .uint16(let v): converted = T(exactly: v)
        case .int16(let v): converted = T(exactly: v)
        case .uint32(let v): converted = T(exactly: v)
        case .int32(let v): converted = T(exactly: v)
        case .uint64(let v): converted = T(exactly: v)
        case .int64(let v): converted = T(exactly: v)
        default: throw mismatch(key, "an integer", value)
        }
        guard let converted else {
            throw GGUFError(.valueOutOfRange(key: key, value: "\(value)", expected: "a value that fits \(T.self)"))
        }
        return converted
    }

    /// A FLOAT32 or FLOAT64 value.
    public func float(_ key: String) throws -> Double {
        let value = try value(key)
        guard let v = value.floatingValue else { throw mismatch(key, "FLOAT32 or FLOAT64", value) }
        return v
    }

    public func bool(_ key: String) throws -> Bool {
        let value = try value(key)
        guard case .bool(let b) = value else { throw mismatch(key, "BOOL", value) }
        return b
    }

    public func array(_ key: String) throws -> GGUFArray {
        let value = try value(key)
        guard case .array(let a) = value else { throw mismatch(key, "ARRAY", value) }
        return a
    }

    public func strings(_ key: String) throws -> [String] { try array(key).strings(key: key) }

    private func mismatch(_ key: String, _ expected: String, _ found: GGUFValue) -> GGUFError {
        let foundName = if case .array(let a) = found { "ARRAY of \(a.elementType.name)" } else { found.type.name }
        return GGUFError(.typeMismatch(key: key, expected: expected, found: foundName))
    }
}

/// Well-known metadata keys.
public enum GGUFKey {
    public static let architecture = "general.architecture"
    public static let alignment = "general.alignment"
    public static let fileType = "general.file_type"
    public static let quantizationVersion = "general.quantization_version"
    public static let name = "general.name"
    public static let type = "general.type"
}
