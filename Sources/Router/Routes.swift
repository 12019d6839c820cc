import LocoSupport

/// The routes a router chooses between, and examples of queries that belong to none of them:
/// from a routes file or from the adapter registry's manifests.
///
/// ```json
/// {"routes": [{"name": "math", "description": "...", "keywords": ["..."], "examples": ["..."]}],
///  "none_examples": ["..."], "fallback": "base"}
/// ```
public struct Routes: Sendable, Equatable {
    public struct Route: Sendable, Equatable {
        /// The adapter's name in the registry (or a path).
        public var name: String
        public var description: String
        public var keywords: [String]
        /// Example queries that belong to this route.
        public var examples: [String]

        public init(name: String, description: String = "", keywords: [String] = [], examples: [String] = []) {
            self.name = name
            self.description = description
            self.keywords = keywords
            self.examples = examples
        }
    }

    public var routes: [Route]
    /// Queries that belong to no route: the base model answers them.
    public var noneExamples: [String]

    /// Checks the routes: at least one; names non-empty, distinct and not `none`; every route
    /// with keywords or examples.
    public init(routes: [Route], noneExamples: [String] = []) throws(RouterError) {
        guard !routes.isEmpty else { throw RouterError(.invalidRoutes("no routes")) }
        var seen = Set<String>()
        for route in routes {
            guard !route.name.isEmpty, route.name != RouteDecision.noneName else {
                throw RouterError(.invalidRoutes("a route is named \"\(route.name)\" (names must be non-empty and not \"none\")"))
            }
            guard seen.insert(route.name).inserted else { throw RouterError(.invalidRoutes("two routes are named \"\(route.name)\"")) }
            guard !route.keywords.isEmpty || !route.examples.isEmpty else {
                throw RouterError(.invalidRoutes("route \"\(route.name)\" has neither keywords nor examples"))
            }
        }
        self.routes = routes
        self.noneExamples = noneExamples
    }

    /// A routes file (see the type's description); unknown keys are refused so a typo is not
    /// silently ignored.
    public init(json bytes: [UInt8], source: String? = nil) throws(RouterError) {
        func invalid(_ message: String) -> RouterError { RouterError(.invalidRoutes(message), path: source) }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw invalid("not JSON: \(error)") }
        guard case .object(let top) = value else { throw invalid("expected an object with \"routes\"") }
        for key in top.keys where !["routes", "none_examples", "fallback"].contains(key) {
            throw invalid("unknown key \"\(key)\" (expected routes, none_examples, fallback)")
        }
        if let fallback = top["fallback"], fallback.string != "base" {
            throw invalid("\"fallback\" must be \"base\" (the only fallback so far)")
        }
        guard case .array(let items)? = top["routes"] else { throw invalid("\"routes\" is missing or not an array") }
        func strings(_ value: JSONValue?, _ what: String) throws(RouterError) -> [String] {
            guard let value else { return [] }
            guard case .array(let list) = value else { throw invalid("\(what) is not an array of strings") }
            var out: [String] = []
            for item in list {
                guard let text = item.string else { throw invalid("\(what) is not an array of strings") }
                out.append(text)
            }
            return out
        }
        var routes: [Route] = []
        for (i, item) in items.enumerated() {
            guard case .object(let object) = item else { throw invalid("routes[\(i)] is not an object") }
            for key in object.keys where !["name", "description", "keywords", "examples"].contains(key) {
                throw invalid("routes[\(i)]: unknown key \"\(key)\" (expected name, description, keywords, examples)")
            }
            guard let name = object["name"]?.string else { throw invalid("routes[\(i)] has no \"name\" string") }
            routes.append(Route(name: name, description: object["description"]?.string ?? "",
                                keywords: try strings(object["keywords"], "routes[\(i)].keywords"),
                                examples: try strings(object["examples"], "routes[\(i)].examples")))
        }
        do {
            try self.init(routes: routes, noneExamples: try strings(top["none_examples"], "none_examples"))
        } catch {
            throw RouterError(error.kind, path: source)
        }
    }

    public init(contentsOf path: String) throws(RouterError) {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: 64 << 20) } catch { throw RouterError(.io(error.description), path: path) }
        try self.init(json: bytes, source: path)
    }

    public var names: [String] { routes.map(\.name) }

    /// Everyday queries no specialist adapter should take (small talk, trivia, greetings,
    /// translation, recipes): the "none" examples of routes made from the adapter registry, so
    /// an embedding router can answer "the base model" there too. A routes file names its own.
    public static let everydayNoneExamples = [
        "Tell me a joke about cats.", "Write a short poem about autumn.", "What is the capital of Australia?",
        "Hello, how are you today?", "Recommend a good fantasy novel.", "Who painted the Mona Lisa?",
        "Translate 'good morning' into Spanish.", "What should I cook for dinner tonight?",
        "Tell me a fun fact about octopuses.", "How do I say thank you in Japanese?",
        "What is the weather usually like in Lisbon in May?", "Write a birthday message for my sister.",
    ]

    /// These routes with `labelled` queries added as examples of their labels (`none` to the
    /// none examples); a label that names no route is refused.
    public func adding(_ labelled: [LabelledQuery]) throws(RouterError) -> Routes {
        var copy = self
        for item in labelled {
            if let label = item.label {
                guard let index = copy.routes.firstIndex(where: { $0.name == label }) else {
                    throw RouterError(.invalidRoutes("a labelled query names the route \"\(label)\", which the routes do not have"))
                }
                copy.routes[index].examples.append(item.query)
            } else {
                copy.noneExamples.append(item.query)
            }
        }
        return copy
    }
}

/// A query and the route it should take (`label` is a route name or `none`), for fitting and
/// scoring routers: JSONL, one `{"query": "...", "label": "math"}` a line.
public struct LabelledQuery: Sendable, Equatable {
    public var query: String
    /// The route's name; nil is the base model.
    public var label: String?

    public init(query: String, label: String?) {
        self.query = query
        self.label = label
    }

    public static func read(jsonl bytes: [UInt8], source: String? = nil) throws(RouterError) -> [LabelledQuery] {
        var out: [LabelledQuery] = []
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { $0 > 0x20 }) else { continue }
            func invalid(_ message: String) -> RouterError { RouterError(.invalidLabelledSet(line: index + 1, message), path: source) }
            guard case .object(let object)? = try? JSONParser.parse(Array(line)) else { throw invalid("not a JSON object") }
            guard let query = object["query"]?.string, !query.isEmpty else { throw invalid("no \"query\" string") }
            guard let label = object["label"]?.string, !label.isEmpty else { throw invalid("no \"label\" string") }
            out.append(LabelledQuery(query: query, label: label == RouteDecision.noneName ? nil : label))
        }
        return out
    }
}

/// What went wrong reading routes, fitting or loading a router, or routing a query.
public struct RouterError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidRoutes(String)
        case invalidLabelledSet(line: Int, String)
        case invalidQuery(String)
        /// A router fitted on one embedding space, used with another.
        case embedderMismatch(fitted: String, given: String)
        case invalidRouterFile(String)
        case embedding(String)
        case io(String)
    }

    public var kind: Kind
    public var path: String?

    public init(_ kind: Kind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    public var description: String {
        let prefix = path.map { "\($0): " } ?? ""
        switch kind {
        case .invalidRoutes(let message): return prefix + "routes: " + message
        case .invalidLabelledSet(let line, let message): return prefix + "line \(line): " + message
        case .invalidQuery(let message): return prefix + "query: " + message
        case .embedderMismatch(let fitted, let given):
            return prefix + "the router was fitted on embeddings \(fitted), not on this model's (\(given)); fit it again for this model"
        case .invalidRouterFile(let message): return prefix + "not a router file LocoLLM can read: " + message
        case .embedding(let message): return prefix + "embedding failed: " + message
        case .io(let message): return prefix + message
        }
    }
}
