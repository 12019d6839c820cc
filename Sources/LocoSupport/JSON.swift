/// The SDK's one JSON value: what the safetensors header, PEFT's `adapter_config.json`, manifests,
/// checkpoints, datasets and the JSON the tools print are read and written as.
///
/// Numbers keep their source text, so an integer converts to `Int` only when it is one (no trip
/// through `Double`) and a float converts to `Float` with a single correctly rounded step. Object
/// members keep their order; a repeated key is an error rather than a silent "last one wins".
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A short name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as a non-negative integer written without fraction or exponent, if it is one
    /// that fits `Int`.
    public var nonNegativeInteger: Int? {
        guard case .number(let text) = self, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    /// Any number, rounded once to the nearest `Float`.
    public var float: Float? {
        guard case .number(let text) = self else { return nil }
        return Float(text)
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// A JSON object: members in source order, looked up by key.
public struct JSONObject: Sendable, Equatable {
    public private(set) var members: [(key: String, value: JSONValue)] = []
    private var index: [String: Int] = [:]

    public init() {}

    /// Members in the given order; a duplicate key traps, so callers build objects from distinct keys.
    public init(_ members: [(String, JSONValue)]) {
        for (key, value) in members {
            precondition(index[key] == nil, "duplicate JSON key \(key)")
            insert(key, value)
        }
    }

    public subscript(key: String) -> JSONValue? { index[key].map { members[$0].value } }

    public var keys: [String] { members.map(\.key) }

    /// Adds a member; false when the key is already present.
    @discardableResult
    public mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
        guard index[key] == nil else { return false }
        index[key] = members.count
        members.append((key, value))
        return true
    }

    public static func == (left: JSONObject, right: JSONObject) -> Bool {
        left.members.count == right.members.count
            && zip(left.members, right.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// Why text is not JSON, with the byte offset where reading stopped.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 parser over bytes: one value, optional surrounding whitespace, nesting at
/// most `maximumDepth`, valid UTF-8 in strings, no duplicate object keys.
public struct JSONParser {
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private var position = 0

    /// Parses `bytes` as one JSON document.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: position) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
    }

    private mutating func expect(_ literal: String, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let utf8 = Array(literal.utf8)
        guard position + utf8.count <= bytes.count, Array(bytes[position..<(position + utf8.count)]) == utf8 else {
            throw error("invalid literal (expected \(literal))")
        }
        position += utf8.count
        return value
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONParser.maximumDepth else { throw error("nested more than \(JSONParser.maximumDepth) levels deep") }
        guard let c = current else { throw error("unexpected end of text") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character '\(Unicode.Scalar(c))'")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        position += 1
        var object = JSONObject()
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            guard object.insert(key, value) else {
                throw JSONSyntaxError(message: "duplicate key \"\(key)\"", offset: keyOffset)
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(object)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = position
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.position
            while let c = parser.current, c >= 0x30, c <= 0x39 { parser.position += 1 }
            return parser.position - from
        }
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw error("invalid number")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw error("invalid number: no digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw error("invalid number: no digits in the exponent") }
        }
        return .number(String(decoding: bytes[start..<position], as: UTF8.self))
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = position
        position += 1
        var out: [UInt8] = []
        while true {
            guard let c = current else { throw JSONSyntaxError(message: "unterminated string", offset: start) }
            position += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let string = JSONParser.validUTF8(out) else {
                    throw JSONSyntaxError(message: "string is not valid UTF-8", offset: start)
                }
                return string
            case UInt8(ascii: "\\"):
                guard let e = current else { throw error("unterminated escape") }
                position += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("unpaired surrogate in \\u escape") }
                    out.append(contentsOf: String(Character(unicode)).utf8)
                default:
                    throw error("invalid escape '\\\(Unicode.Scalar(e))'")
                }
            case 0..<0x20:
                throw error("control character in a string")
            default:
                out.append(c)
            }
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x41...0x46: digit = c - 0x41 + 10
            case 0x61...0x66: digit = c - 0x61 + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// `bytes` as a String when they are valid UTF-8.
    public static func validUTF8(_ bytes: [UInt8]) -> String? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return String(decoding: bytes, as: UTF8.self)
            case .error: return nil
            }
        }
    }
}

/// Deterministic JSON text: members in the order given, numbers as written, non-ASCII as UTF-8.
public enum JSONWriter {
    /// `value` as compact text (`pretty: false`) or indented by two spaces per level.
    public static func encode(_ value: JSONValue, pretty: Bool) -> String {
        var out = ""
        append(value, to: &out, pretty: pretty, indent: 0)
        return out
    }

    private static func append(_ value: JSONValue, to out: inout String, pretty: Bool, indent: Int) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let text): out += text
        case .string(let s): appendString(s, to: &out)
        case .array(let elements):
            guard !elements.isEmpty else { out += "[]"; return }
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                newline(&out, pretty, indent + 1)
                append(element, to: &out, pretty: pretty, indent: indent + 1)
            }
            newline(&out, pretty, indent)
            out += "]"
        case .object(let object):
            guard !object.members.isEmpty else { out += "{}"; return }
            out += "{"
            for (i, member) in object.members.enumerated() {
                if i > 0 { out += "," }
                newline(&out, pretty, indent + 1)
                appendString(member.key, to: &out)
                out += pretty ? ": " : ":"
                append(member.value, to: &out, pretty: pretty, indent: indent + 1)
            }
            newline(&out, pretty, indent)
            out += "}"
        }
    }

    private static func newline(_ out: inout String, _ pretty: Bool, _ indent: Int) {
        guard pretty else { return }
        out += "\n" + String(repeating: " ", count: 2 * indent)
    }

    private static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
