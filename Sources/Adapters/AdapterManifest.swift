import GGUFFormat
import LocoSupport

/// Which base model an adapter was made for: its `general.architecture` and a fingerprint of its
/// tensor layout.
///
/// `tensors` is the SHA-256 (lowercase hex) of one line per tensor, sorted by the UTF-8 bytes of
/// the name: `name TAB type TAB d0,d1,... LF`, with the ggml type name (`F32`, `Q4_K`, ...) and
/// the ggml shape (innermost dimension first). Tensor data is not read, so fingerprinting is fast
/// and identifies the layout: two quantizations of one model differ (their types do), and a
/// fine-tune with the same layout and types as its parent has the same fingerprint.
public struct BaseFingerprint: Codable, Sendable, Hashable, CustomStringConvertible {
    public var architecture: String
    /// 64 lowercase hex digits.
    public var tensors: String

    public init(architecture: String, tensors: String) {
        self.architecture = architecture
        self.tensors = tensors
    }

    /// The fingerprint of `file`; the architecture is `""` when the file declares none.
    public init(of file: GGUFFile) {
        var hasher = ContentHash()
        let sorted = file.tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        for tensor in sorted {
            hasher.update(tensor.name.utf8)
            hasher.update([0x09])
            hasher.update(tensor.type.name.utf8)
            hasher.update([0x09])
            hasher.update(tensor.shape.map(String.init).joined(separator: ",").utf8)
            hasher.update([0x0A])
        }
        self.init(architecture: file.architecture ?? "", tensors: hasher.hex())
    }

    public var description: String { "\(architecture.isEmpty ? "?" : architecture)/\(tensors.prefix(16))" }
}

/// What the registry knows about one adapter: `<registry>/<name>/manifest.json`.
///
/// The file is JSON with snake_case keys, written in the order of the properties below (scores
/// sorted by name), so the same manifest always gives the same bytes. `Codable` uses the same keys.
public struct AdapterManifest: Codable, Sendable, Equatable {
    /// How the adapter was trained; every field is optional.
    public struct Training: Codable, Sendable, Equatable {
        public var dataset: String?
        public var steps: Int?
        public var epochs: Double?
        public var learningRate: Double?
        /// When training finished, as text (ISO 8601 recommended).
        public var trainedAt: String?
        /// Hex SHA-256 of the training data file.
        public var datasetSHA256: String?
        /// Other settings and results of the run by name (`batch_size`, `final_loss`, ...).
        public var parameters: [String: Double]

        public init(dataset: String? = nil, steps: Int? = nil, epochs: Double? = nil, learningRate: Double? = nil, trainedAt: String? = nil,
                    datasetSHA256: String? = nil, parameters: [String: Double] = [:]) {
            self.dataset = dataset
            self.steps = steps
            self.epochs = epochs
            self.learningRate = learningRate
            self.trainedAt = trainedAt
            self.datasetSHA256 = datasetSHA256
            self.parameters = parameters
        }

        enum CodingKeys: String, CodingKey {
            case dataset, steps, epochs
            case learningRate = "learning_rate"
            case trainedAt = "trained_at"
            case datasetSHA256 = "dataset_sha256"
            case parameters
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            dataset = try c.decodeIfPresent(String.self, forKey: .dataset)
            steps = try c.decodeIfPresent(Int.self, forKey: .steps)
            epochs = try c.decodeIfPresent(Double.self, forKey: .epochs)
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate)
            trainedAt = try c.decodeIfPresent(String.self, forKey: .trainedAt)
            datasetSHA256 = try c.decodeIfPresent(String.self, forKey: .datasetSHA256)
            parameters = try c.decodeIfPresent([String: Double].self, forKey: .parameters) ?? [:]
        }
    }

    /// The evaluation set the adapter was measured on and its scores by metric.
    public struct Evaluation: Codable, Sendable, Equatable {
        public var set: String?
        public var scores: [String: Double]

        public init(set: String? = nil, scores: [String: Double] = [:]) {
            self.set = set
            self.scores = scores
        }
    }

    public var name: String
    public var version: String
    public var description: String
    public var authors: [String]
    public var baseModel: BaseFingerprint
    public var rank: Int
    public var alpha: Float
    /// The adapted base tensors, in ``LoRAAdapter/targets`` order.
    public var targets: [String]
    public var training: Training?
    public var evaluation: Evaluation?
    public var routerKeywords: [String]
    public var exampleQueries: [String]

    public init(
        name: String, version: String = "1.0.0", description: String = "", authors: [String] = [],
        baseModel: BaseFingerprint, rank: Int, alpha: Float, targets: [String],
        training: Training? = nil, evaluation: Evaluation? = nil, routerKeywords: [String] = [], exampleQueries: [String] = []
    ) {
        self.name = name
        self.version = version
        self.description = description
        self.authors = authors
        self.baseModel = baseModel
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
        self.training = training
        self.evaluation = evaluation
        self.routerKeywords = routerKeywords
        self.exampleQueries = exampleQueries
    }

    /// A manifest for `adapter`: rank, alpha and targets from the adapter, the fingerprint of `base`.
    public init(name: String, version: String = "1.0.0", description: String = "", adapter: LoRAAdapter, base: GGUFFile) {
        self.init(name: name, version: version, description: description, baseModel: BaseFingerprint(of: base),
                  rank: adapter.rank, alpha: adapter.alpha, targets: adapter.targets)
    }

    enum CodingKeys: String, CodingKey {
        case name, version, description, authors
        case baseModel = "base_model"
        case rank, alpha, targets, training, evaluation
        case routerKeywords = "router_keywords"
        case exampleQueries = "example_queries"
    }

    // Codable: the optional-with-default members may be absent, as in `parse`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        version = try c.decode(String.self, forKey: .version)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        authors = try c.decodeIfPresent([String].self, forKey: .authors) ?? []
        baseModel = try c.decode(BaseFingerprint.self, forKey: .baseModel)
        rank = try c.decode(Int.self, forKey: .rank)
        alpha = try c.decode(Float.self, forKey: .alpha)
        targets = try c.decode([String].self, forKey: .targets)
        training = try c.decodeIfPresent(Training.self, forKey: .training)
        evaluation = try c.decodeIfPresent(Evaluation.self, forKey: .evaluation)
        routerKeywords = try c.decodeIfPresent([String].self, forKey: .routerKeywords) ?? []
        exampleQueries = try c.decodeIfPresent([String].self, forKey: .exampleQueries) ?? []
    }

    // MARK: - The manifest file

    /// The manifest as pretty JSON text (with a final newline), keys in a fixed order.
    public func jsonText() -> String {
        func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
        func number(_ value: Double) -> JSONValue { .number("\(value)") }
        var members: [(String, JSONValue)] = [
            ("name", .string(name)),
            ("version", .string(version)),
            ("description", .string(description)),
            ("authors", strings(authors)),
            ("base_model", .object(JSONObject([("architecture", .string(baseModel.architecture)),
                                               ("tensors", .string(baseModel.tensors))]))),
            ("rank", .number("\(rank)")),
            ("alpha", .number("\(alpha)")),
            ("targets", strings(targets)),
        ]
        if let training {
            var t: [(String, JSONValue)] = []
            if let v = training.dataset { t.append(("dataset", .string(v))) }
            if let v = training.steps { t.append(("steps", .number("\(v)"))) }
            if let v = training.epochs { t.append(("epochs", number(v))) }
            if let v = training.learningRate { t.append(("learning_rate", number(v))) }
            if let v = training.trainedAt { t.append(("trained_at", .string(v))) }
            if let v = training.datasetSHA256 { t.append(("dataset_sha256", .string(v))) }
            if !training.parameters.isEmpty {
                t.append(("parameters", .object(JSONObject(training.parameters.keys.sorted().map { ($0, number(training.parameters[$0]!)) }))))
            }
            members.append(("training", .object(JSONObject(t))))
        }
        if let evaluation {
            var e: [(String, JSONValue)] = []
            if let v = evaluation.set { e.append(("set", .string(v))) }
            let scores = evaluation.scores.keys.sorted().map { ($0, number(evaluation.scores[$0]!)) }
            e.append(("scores", .object(JSONObject(scores))))
            members.append(("evaluation", .object(JSONObject(e))))
        }
        members.append(("router_keywords", strings(routerKeywords)))
        members.append(("example_queries", strings(exampleQueries)))
        return JSONWriter.encode(.object(JSONObject(members)), pretty: true) + "\n"
    }

    /// `manifests` as one JSON array (what `loco adapters list --json` prints): each element as
    /// ``jsonText()`` writes it, `[]` when there is none.
    public static func jsonText(_ manifests: [AdapterManifest]) -> String {
        guard !manifests.isEmpty else { return "[]" }
        return "[\n" + manifests.map { String($0.jsonText().dropLast()) }.joined(separator: ",\n") + "\n]"
    }

    /// Parses manifest JSON; `path` is only for the error. Throws ``RegistryError`` with
    /// `.invalidJSON` or `.invalidField` naming the field (`training.steps`, ...). Does not check
    /// that the values are sane: see ``checkSanity(path:)``.
    public static func parse(_ bytes: [UInt8], path: String? = nil) throws(RegistryError) -> AdapterManifest {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch { throw RegistryError(.invalidJSON(error.description), path: path) }
        guard case .object(let object) = root else {
            throw RegistryError(.invalidField(field: "(top level)", reason: "is \(root.kindName), expected an object"), path: path)
        }
        var reader = FieldReader(path: path)
        let name = try reader.string(object, "name")
        let version = try reader.string(object, "version")
        let description = try reader.optionalString(object, "description") ?? ""
        let authors = try reader.optionalStrings(object, "authors") ?? []
        let baseObject = try reader.object(object, "base_model")
        reader.prefix = "base_model."
        let base = BaseFingerprint(architecture: try reader.string(baseObject, "architecture"),
                                   tensors: try reader.string(baseObject, "tensors"))
        reader.prefix = ""
        let rank = try reader.integer(object, "rank")
        guard let alphaValue = object["alpha"] else { throw reader.missing("alpha") }
        guard let alpha = alphaValue.float, alpha.isFinite else { throw reader.invalid("alpha", "is \(alphaValue.kindName), expected a finite number") }
        guard let targets = try reader.optionalStrings(object, "targets") else { throw reader.missing("targets") }
        var training: Training?
        if let t = try reader.optionalObject(object, "training") {
            reader.prefix = "training."
            training = Training(dataset: try reader.optionalString(t, "dataset"), steps: try reader.optionalInteger(t, "steps"),
                                epochs: try reader.optionalDouble(t, "epochs"), learningRate: try reader.optionalDouble(t, "learning_rate"),
                                trainedAt: try reader.optionalString(t, "trained_at"),
                                datasetSHA256: try reader.optionalString(t, "dataset_sha256"))
            if let p = try reader.optionalObject(t, "parameters") {
                reader.prefix = "training.parameters."
                for key in p.keys { training?.parameters[key] = try reader.optionalDouble(p, key) }
            }
            reader.prefix = ""
        }
        var evaluation: Evaluation?
        if let e = try reader.optionalObject(object, "evaluation") {
            reader.prefix = "evaluation."
            var scores: [String: Double] = [:]
            if let s = try reader.optionalObject(e, "scores") {
                reader.prefix = "evaluation.scores."
                for key in s.keys { scores[key] = try reader.optionalDouble(s, key) }
            }
            reader.prefix = "evaluation."
            evaluation = Evaluation(set: try reader.optionalString(e, "set"), scores: scores)
            reader.prefix = ""
        }
        return AdapterManifest(
            name: name, version: version, description: description, authors: authors, baseModel: base, rank: rank, alpha: alpha,
            targets: targets, training: training, evaluation: evaluation,
            routerKeywords: try reader.optionalStrings(object, "router_keywords") ?? [],
            exampleQueries: try reader.optionalStrings(object, "example_queries") ?? [])
    }

    /// Checks what a registry requires of a manifest: a valid ``AdapterRegistry/isValidName(_:)``
    /// name, a version of 1 to 64 characters from `[A-Za-z0-9.+_-]` starting with a letter or
    /// digit, a positive rank, a finite alpha, at least one target, a 64-hex-digit fingerprint and
    /// finite numbers.
    public func checkSanity(path: String? = nil) throws(RegistryError) {
        func invalid(_ field: String, _ reason: String) -> RegistryError { RegistryError(.invalidField(field: field, reason: reason), path: path) }
        guard AdapterRegistry.isValidName(name) else { throw RegistryError(.invalidName(name), path: path) }
        let versionOK = (1...64).contains(version.utf8.count)
            && version.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
            && isAlphanumeric(version.utf8.first!)
        guard versionOK else { throw invalid("version", "is '\(version)', expected 1 to 64 characters from [A-Za-z0-9.+_-] starting with a letter or digit") }
        guard rank > 0 else { throw invalid("rank", "is \(rank), expected a positive integer") }
        guard alpha.isFinite else { throw invalid("alpha", "is \(alpha), expected a finite number") }
        guard !targets.isEmpty else { throw invalid("targets", "is empty") }
        let hex = baseModel.tensors.utf8
        guard hex.count == 64, hex.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw invalid("base_model.tensors", "is '\(baseModel.tensors)', expected 64 lowercase hex digits (SHA-256)")
        }
        if let training {
            if let v = training.steps, v < 0 { throw invalid("training.steps", "is \(v), expected at least 0") }
            if let v = training.epochs, !v.isFinite { throw invalid("training.epochs", "is \(v), expected a finite number") }
            if let v = training.learningRate, !v.isFinite { throw invalid("training.learning_rate", "is \(v), expected a finite number") }
        }
        for (key, value) in evaluation?.scores ?? [:] where !value.isFinite {
            throw invalid("evaluation.scores.\(key)", "is \(value), expected a finite number")
        }
    }
}

private func isAlphanumeric(_ c: UInt8) -> Bool {
    (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
}

/// Reads typed members, naming the field (with `prefix`) in errors.
private struct FieldReader {
    var path: String?
    var prefix = ""

    func missing(_ key: String) -> RegistryError { RegistryError(.invalidField(field: prefix + key, reason: "is missing"), path: path) }
    func invalid(_ key: String, _ reason: String) -> RegistryError { RegistryError(.invalidField(field: prefix + key, reason: reason), path: path) }

    func string(_ o: JSONObject, _ key: String) throws(RegistryError) -> String {
        guard let v = try optionalString(o, key) else { throw missing(key) }
        return v
    }

    func optionalString(_ o: JSONObject, _ key: String) throws(RegistryError) -> String? {
        guard let v = o[key] else { return nil }
        guard let s = v.string else { throw invalid(key, "is \(v.kindName), expected a string") }
        return s
    }

    func optionalStrings(_ o: JSONObject, _ key: String) throws(RegistryError) -> [String]? {
        guard let v = o[key] else { return nil }
        guard case .array(let elements) = v else { throw invalid(key, "is \(v.kindName), expected an array of strings") }
        var out: [String] = []
        for element in elements {
            guard let s = element.string else { throw invalid(key, "holds \(element.kindName), expected only strings") }
            out.append(s)
        }
        return out
    }

    func object(_ o: JSONObject, _ key: String) throws(RegistryError) -> JSONObject {
        guard let v = try optionalObject(o, key) else { throw missing(key) }
        return v
    }

    func optionalObject(_ o: JSONObject, _ key: String) throws(RegistryError) -> JSONObject? {
        guard let v = o[key] else { return nil }
        guard case .object(let object) = v else { throw invalid(key, "is \(v.kindName), expected an object") }
        return object
    }

    func integer(_ o: JSONObject, _ key: String) throws(RegistryError) -> Int {
        guard let v = try optionalInteger(o, key) else { throw missing(key) }
        return v
    }

    func optionalInteger(_ o: JSONObject, _ key: String) throws(RegistryError) -> Int? {
        guard let v = o[key] else { return nil }
        guard let n = v.nonNegativeInteger else { throw invalid(key, "is \(v.kindName), expected a non-negative integer") }
        return n
    }

    func optionalDouble(_ o: JSONObject, _ key: String) throws(RegistryError) -> Double? {
        guard let v = o[key] else { return nil }
        guard case .number(let text) = v, let d = Double(text), d.isFinite else { throw invalid(key, "is \(v.kindName), expected a finite number") }
        return d
    }
}
