import LocoSupport

/// A fitted router as JSON (written atomically), so a decision later costs one embedding:
///
/// ```json
/// {"format": "locollm-router", "version": 1, "method": "logistic", "embedder": "...",
///  "routes": ["code", "math"], "none": true, "threshold": 0.5, "temperature": 0.08,
///  "mean": [...], "weights": [[...], ...], "bias": [...]}
/// ```
extension EmbeddingRouter {
    public static let fileFormat = "locollm-router"
    public static let fileVersion = 1

    public func jsonText() -> String {
        let d = dimension
        func numbers(_ values: ArraySlice<Float>) -> JSONValue { .array(values.map { .number("\($0)") }) }
        let object = JSONObject([
            ("format", .string(Self.fileFormat)), ("version", .number("\(Self.fileVersion)")),
            ("method", .string(method.rawValue)), ("embedder", .string(embedderFingerprint)),
            ("routes", .array(routes.map { .string($0) })), ("none", .bool(hasNone)),
            ("threshold", .number("\(threshold)")), ("temperature", .number("\(temperature)")),
            ("mean", numbers(mean[...])),
            ("weights", .array((0..<classCount).map { numbers(weights[($0 * d)..<(($0 + 1) * d)]) })),
            ("bias", numbers(bias[...])),
        ])
        return JSONWriter.encode(.object(object), pretty: false) + "\n"
    }

    public func write(to path: String) throws(RouterError) {
        do { try AtomicFile.write(Array(jsonText().utf8), to: path) } catch { throw RouterError(.io(error.description), path: path) }
    }

    /// Reads a router file; `embedder`, when given, must be the one it was fitted with.
    public init(contentsOf path: String, embedder: (any Embedder)? = nil) throws(RouterError) {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: 256 << 20) } catch { throw RouterError(.io(error.description), path: path) }
        do {
            try self.init(json: bytes)
        } catch {
            throw RouterError(error.kind, path: path)
        }
        if let embedder, embedder.fingerprint != embedderFingerprint {
            throw RouterError(.embedderMismatch(fitted: embedderFingerprint, given: embedder.fingerprint), path: path)
        }
    }

    public init(json bytes: [UInt8]) throws(RouterError) {
        func invalid(_ message: String) -> RouterError { RouterError(.invalidRouterFile(message)) }
        guard case .object(let top)? = try? JSONParser.parse(bytes) else { throw invalid("not a JSON object") }
        guard top["format"]?.string == Self.fileFormat else { throw invalid("\"format\" is not \"\(Self.fileFormat)\"") }
        guard top["version"]?.nonNegativeInteger == Self.fileVersion else { throw invalid("unsupported \"version\"") }
        guard let methodName = top["method"]?.string, let method = Method(rawValue: methodName) else {
            throw invalid("\"method\" must be one of \(Method.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let fingerprint = top["embedder"]?.string else { throw invalid("no \"embedder\"") }
        guard case .array(let routeValues)? = top["routes"] else { throw invalid("no \"routes\"") }
        let routes = routeValues.compactMap(\.string)
        guard routes.count == routeValues.count, !routes.isEmpty else { throw invalid("\"routes\" must be a non-empty array of names") }
        guard case .bool(let hasNone)? = top["none"] else { throw invalid("no \"none\" boolean") }
        func number(_ key: String) throws(RouterError) -> Double {
            guard case .number(let text)? = top[key], let value = Double(text), value.isFinite else { throw invalid("no numeric \"\(key)\"") }
            return value
        }
        func floats(_ value: JSONValue?, _ what: String) throws(RouterError) -> [Float] {
            guard case .array(let items)? = value else { throw invalid("no \"\(what)\" array") }
            let out = items.compactMap(\.float)
            guard out.count == items.count, out.allSatisfy(\.isFinite) else { throw invalid("\"\(what)\" holds a value that is not a finite number") }
            return out
        }
        let threshold = try number("threshold"), temperature = try number("temperature")
        guard (0...1).contains(threshold), temperature > 0 else { throw invalid("threshold must be in [0, 1] and temperature positive") }
        let mean = try floats(top["mean"], "mean")
        let classes = routes.count + (hasNone ? 1 : 0)
        guard case .array(let rows)? = top["weights"], rows.count == classes else { throw invalid("\"weights\" must have one row per class") }
        var weights: [Float] = []
        for row in rows {
            let values = try floats(row, "weights")
            guard values.count == mean.count else { throw invalid("a \"weights\" row is not as wide as \"mean\"") }
            weights += values
        }
        let bias = try floats(top["bias"], "bias")
        guard bias.count == classes, !mean.isEmpty else { throw invalid("\"bias\" must have one value per class") }
        self.init(method: method, routes: routes, hasNone: hasNone, threshold: threshold, temperature: temperature,
                  embedderFingerprint: fingerprint, mean: mean, weights: weights, bias: bias)
    }
}
