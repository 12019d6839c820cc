import LocoLLM

/// A request body as a JSON object, read member by member: a member of the wrong type is a 400
/// naming it and what it should be; members the server does not know are left alone (clients
/// send many), except where an API's options must be honoured or refused.
struct JSONRequest: Sendable {
    let object: JSONObject
    /// How members are named in errors (`options.` for the Ollama options object).
    let prefix: String

    init(object: JSONObject, prefix: String = "") {
        self.object = object
        self.prefix = prefix
    }

    /// Parses `bytes` as one JSON object.
    init(bytes: [UInt8]) throws(ServerError) {
        guard !bytes.isEmpty else { throw ServerError(.badRequest, "the request has no body; a JSON object was expected") }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            throw ServerError(.badRequest, "the request body is not valid JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw ServerError(.badRequest, "the request body must be a JSON object, not \(value.kindName)")
        }
        self.init(object: object)
    }

    var keys: [String] { object.keys }

    func has(_ key: String) -> Bool {
        if let value = object[key], value != .null { return true }
        return false
    }

    private func wrong(_ key: String, _ expected: String, _ value: JSONValue) -> ServerError {
        ServerError(.badRequest, "`\(prefix)\(key)` must be \(expected), not \(value.kindName)", parameter: prefix + key)
    }

    func string(_ key: String) throws(ServerError) -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard case .string(let s) = value else { throw wrong(key, "a string", value) }
        return s
    }

    func bool(_ key: String) throws(ServerError) -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        guard case .bool(let b) = value else { throw wrong(key, "true or false", value) }
        return b
    }

    /// An integer in `range`.
    func integer(_ key: String, in range: ClosedRange<Int>) throws(ServerError) -> Int? {
        guard let value = object[key], value != .null else { return nil }
        guard case .number(let text) = value else { throw wrong(key, "an integer", value) }
        // Clients write integers as 5 or 5.0.
        guard let number = Double(text), number.rounded() == number, let integer = Int(exactly: number) else {
            throw ServerError(.badRequest, "`\(prefix)\(key)` must be an integer, not \(text)", parameter: prefix + key)
        }
        guard range.contains(integer) else {
            throw ServerError(.badRequest, "`\(prefix)\(key)` must be in \(range.lowerBound)...\(range.upperBound), not \(integer)",
                              parameter: prefix + key)
        }
        return integer
    }

    /// A finite number in `range`.
    func number(_ key: String, in range: ClosedRange<Double>) throws(ServerError) -> Double? {
        guard let value = object[key], value != .null else { return nil }
        guard case .number(let text) = value, let number = Double(text), number.isFinite else { throw wrong(key, "a number", value) }
        guard range.contains(number) else {
            throw ServerError(.badRequest, "`\(prefix)\(key)` must be in \(range.lowerBound)...\(range.upperBound), not \(text)",
                              parameter: prefix + key)
        }
        return number
    }

    func object(_ key: String) throws(ServerError) -> JSONRequest? {
        guard let value = object[key], value != .null else { return nil }
        guard case .object(let inner) = value else { throw wrong(key, "an object", value) }
        return JSONRequest(object: inner, prefix: prefix + key + ".")
    }

    func array(_ key: String) throws(ServerError) -> [JSONValue]? {
        guard let value = object[key], value != .null else { return nil }
        guard case .array(let elements) = value else { throw wrong(key, "an array", value) }
        return elements
    }

    /// A string or an array of strings (stop sequences).
    func strings(_ key: String) throws(ServerError) -> [String]? {
        guard let value = object[key], value != .null else { return nil }
        switch value {
        case .string(let s): return [s]
        case .array(let elements):
            var out: [String] = []
            for element in elements {
                guard case .string(let s) = element else { throw wrong(key, "a string or an array of strings", value) }
                out.append(s)
            }
            return out
        default: throw wrong(key, "a string or an array of strings", value)
        }
    }

    /// Refuses a member the server cannot honour, when it is present and not empty.
    func refuse(_ key: String, _ why: String) throws(ServerError) {
        guard let value = object[key], value != .null else { return }
        switch value {
        case .array(let a) where a.isEmpty: return
        case .string(let s) where s.isEmpty: return
        case .bool(false): return
        default: throw ServerError(.badRequest, "`\(prefix)\(key)` is not supported: \(why)", parameter: prefix + key)
        }
    }
}

extension JSONValue {
    static func int(_ value: Int) -> JSONValue { .number(String(value)) }
    static func double(_ value: Double) -> JSONValue { value.isFinite ? .number(String(value)) : .null }
    static func str(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
}

extension JSONObject {
    /// An object from members whose keys the caller keeps distinct.
    static func members(_ members: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(members)) }
}
