import Foundation
import Synchronization

/// The base model is the router's embedder: the mean over the query's tokens of its hidden
/// states after ``routingLayers`` blocks (each row scaled to unit RMS), so routing needs no second
/// model and costs less than one prefill of the query.
///
/// Two thirds of the way up is the default because it routed best on both labelled sets we have:
/// SmolLM2-135M-Instruct with the routes file's 12 examples per route, logistic regression, 95.5%
/// on the team's 200 queries and 97.1% on 240 written apart, against 90.5% and 84.6% with the
/// final normed states (llama.cpp's MEAN pooling), which are shaped for the next token rather
/// than the topic. Documentation/Routing.md has the whole sweep.
extension Engine: Embedder {
    /// The blocks the routing embedding runs: two thirds of the model's, rounded.
    public var routingLayers: Int { max(1, (2 * model.layers.count + 1) / 3) }

    /// The base's fingerprint (architecture and a SHA-256 of its tensor layout) and the pooling.
    public var fingerprint: String { routingEmbedder().fingerprint }

    public func embed(_ text: String) throws -> [Float] { try routingEmbedder().embed(text) }

    /// The embedder over the states after `layers` blocks (nil: ``routingLayers``; the model's
    /// block count: the final states, normed as for the logits, llama.cpp's MEAN pooling).
    public func routingEmbedder(layers: Int? = nil) -> EngineEmbedder {
        EngineEmbedder(engine: self, layers: layers ?? routingLayers)
    }

    /// The router `--adapter auto` uses: the registry's routes, fitted by logistic regression on
    /// the base model's embeddings when every route has examples (or training data), else
    /// upstream's keyword rule.
    public func automaticRouter() throws -> FittedRouter {
        let routes = try Routes(registry: registry)
        let method: RoutingMethod = routes.routes.allSatisfy { !$0.examples.isEmpty } ? .logistic : .keyword
        return try FittedRouter(routes, method: method, engine: self)
    }
}

/// Mean-pooled hidden states of an ``Engine``'s model after a number of blocks.
public struct EngineEmbedder: Embedder {
    public let engine: Engine
    public let layers: Int

    public var fingerprint: String {
        let blocks = engine.model.layers.count
        return "\(BaseFingerprint(of: engine.model.file)) mean-pool" + (layers == blocks ? "" : " after block \(layers) of \(blocks)")
    }

    public func embed(_ text: String) throws -> [Float] {
        try engine.embedding(of: text, normalized: true, layers: layers == engine.model.layers.count ? nil : layers)
    }
}

/// How to route: upstream's keywords, or the base model's embeddings with one of the classifiers.
public enum RoutingMethod: String, Sendable, CaseIterable {
    case keyword, centroid, logistic
    /// Logistic regression over the embeddings with the routes' keyword hits as a prior
    /// (``HybridRouter``).
    case hybrid
}

/// A router ready to answer: keywords, or an embedding router with the engine it embeds with.
public struct FittedRouter: Sendable {
    public let method: RoutingMethod
    public let keywords: KeywordRouter?
    public let embedding: EmbeddingRouter?
    /// For ``RoutingMethod/hybrid``: how much one keyword hit counts (see ``HybridRouter``).
    public let keywordWeight: Double
    /// The embedder of the embedding methods.
    public let embedder: EngineEmbedder?

    /// Fits `method` on `routes`; the embedding methods embed each example with `engine` once per
    /// machine: the vectors are kept in `embeddingCache` (a folder; nil keeps none), so fitting
    /// again embeds only new examples and a decision costs one prefill of the query.
    /// `layers` picks the embedding's depth (see ``Engine/routingEmbedder(layers:)``).
    public init(_ routes: Routes, method: RoutingMethod, engine: Engine?, threshold: Double = 0.5,
                keywordWeight: Double = HybridRouter.defaultWeight, layers: Int? = nil,
                embeddingCache: String? = CachingEmbedder.defaultFolder) throws {
        self.method = method
        self.keywordWeight = keywordWeight
        switch method {
        case .keyword:
            keywords = KeywordRouter(routes)
            embedding = nil
            embedder = nil
        case .centroid, .logistic, .hybrid:
            guard let engine else { throw RouterError(.invalidRoutes("the embedding router needs a model")) }
            keywords = method == .hybrid ? KeywordRouter(routes) : nil
            let embedder = engine.routingEmbedder(layers: layers)
            let cached = CachingEmbedder(embedder, folder: embeddingCache)
            embedding = try EmbeddingRouter.fit(routes, embedder: cached, method: method == .centroid ? .centroid : .logistic,
                                                threshold: threshold)
            // A cache that cannot be written costs time, never a result.
            _ = try? cached.save()
            self.embedder = embedder
        }
    }

    /// A router read from a file `loco route fit` wrote, for `engine`'s model, at the depth it
    /// was fitted at.
    public init(contentsOf path: String, engine: Engine) throws {
        var router = try EmbeddingRouter(contentsOf: path)
        let embedder = (1...engine.model.layers.count).lazy.map { engine.routingEmbedder(layers: $0) }
            .first { $0.fingerprint == router.embedderFingerprint } ?? engine.routingEmbedder()
        router = try EmbeddingRouter(contentsOf: path, embedder: embedder)
        method = router.method == .centroid ? .centroid : .logistic
        keywordWeight = HybridRouter.defaultWeight
        keywords = nil
        embedding = router
        self.embedder = embedder
    }

    /// The routes' names (adapters), in the router's order.
    public var routeNames: [String] { embedding?.routes ?? keywords?.routes.map(\.name) ?? [] }

    public func route(_ query: String) throws -> RouteDecision {
        if let keywords, let embedding {
            return try HybridRouter(embedding: embedding, keywords: keywords, weight: keywordWeight).route(query, embedder: embedder!)
        }
        if let keywords {
            guard query.utf8.count <= EmbeddingRouter.maximumQueryBytes else {
                throw RouterError(.invalidQuery("the query has \(query.utf8.count) bytes; at most \(EmbeddingRouter.maximumQueryBytes) are routed"))
            }
            return keywords.route(query)
        }
        return try embedding!.route(query, embedder: embedder!)
    }

    /// Routes every query of `set` and scores the decisions (with the median time of one).
    public func evaluate(_ set: [LabelledQuery]) throws -> RouterEvaluation {
        var decisions: [RouterEvaluation.Decision] = [], seconds: [Double] = []
        for item in set {
            let start = ContinuousClock.now
            let decision = try route(item.query)
            let elapsed = ContinuousClock.now - start
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            decisions.append(.init(query: item.query, label: item.label, route: decision.route, confidence: decision.confidence))
        }
        let sorted = seconds.sorted()
        return RouterEvaluation(decisions: decisions, medianDecisionSeconds: sorted.isEmpty ? nil : sorted[sorted.count / 2])
    }
}

extension Routes {
    /// At most this many prompts of an adapter's training data become examples of its route
    /// (evenly spaced through the file), so a large data set does not make fitting slow.
    public static let trainingPromptLimit = 128

    /// The routes of the adapters in `registry` whose manifests carry router keywords or example
    /// queries (`loco adapters add --keywords ... --examples ...`) or that were added with their
    /// training data (`--training-data`: each conversation's first user message is an example),
    /// in name order, with `noneExamples` for queries the base model should answer (by default
    /// ``Routes/everydayNoneExamples``).
    public init(registry: AdapterRegistry, noneExamples: [String] = Routes.everydayNoneExamples) throws {
        var routes: [Route] = []
        for manifest in try registry.list().sorted(by: { $0.name < $1.name }) {
            var examples = manifest.exampleQueries
            if let data = try registry.trainingDataPath(named: manifest.name) {
                examples += try Self.trainingPrompts(contentsOf: data)
            }
            guard !manifest.routerKeywords.isEmpty || !examples.isEmpty else { continue }
            routes.append(Route(name: manifest.name, description: manifest.description, keywords: manifest.routerKeywords,
                                examples: examples))
        }
        guard !routes.isEmpty else {
            throw RouterError(.invalidRoutes("no adapter in the registry has router keywords, example queries or training data"),
                              path: registry.folder)
        }
        try self.init(routes: routes, noneExamples: noneExamples)
    }

    /// The first user message of each conversation in a chat JSONL file, at most `limit` of them
    /// evenly spaced through the file, without repeats (and without prompts
    /// longer than a routed query may be).
    public static func trainingPrompts(contentsOf path: String, limit: Int = trainingPromptLimit) throws -> [String] {
        let conversations = try ChatDataset.parseConversations(jsonl: FileSystem.read(path, limit: 1 << 30), source: path)
        var seen = Set<String>(), prompts: [String] = []
        for conversation in conversations {
            guard let first = conversation.first(where: { $0.role == .user }),
                  first.content.contains(where: { !$0.isWhitespace }),
                  first.content.utf8.count <= EmbeddingRouter.maximumQueryBytes, seen.insert(first.content).inserted else { continue }
            prompts.append(first.content)
        }
        guard prompts.count > limit else { return prompts }
        return (0..<limit).map { prompts[$0 * prompts.count / limit] }
    }
}

/// When a conversation is routed.
public enum RoutingPolicy: String, Sendable, CaseIterable {
    /// Route the first message and keep that adapter for the whole conversation (upstream's rule,
    /// and the default: a later switch would re-run the whole history through another adapter
    /// and change the assistant's voice in the middle of a conversation).
    case sticky
    /// Route every message on its own (for a stream of unrelated questions).
    case perTurn = "per-turn"
}

/// A conversation whose adapter a router picks: each reply first routes (per ``policy``), points
/// the session at the chosen adapter (a pointer swap over the shared base; nil is the bare
/// base), then answers through the chat template.
public final class RoutedChat: Sendable {
    public let chat: ChatSession
    public let router: FittedRouter
    public let policy: RoutingPolicy
    /// The sticky decision, and the route the session's adapter is set to (nil: the bare base).
    private let state = Mutex<(kept: RouteDecision?, active: String?)>((nil, nil))

    ///
    /// - Throws: `RegistryError.notFound` when a route names neither an entry of the engine's
    ///   registry nor an adapter path, before any question is asked.
    public init(engine: Engine, router: FittedRouter, policy: RoutingPolicy = .sticky, systemMessage: String? = nil,
                options: GenerationOptions = GenerationOptions()) throws {
        let entries = Set(engine.registry.names())
        for name in router.routeNames where !entries.contains(name) && !FileSystem.exists(name) {
            throw RegistryError(.notFound(name), path: engine.registry.folder)
        }
        chat = try ChatSession(engine: engine, systemMessage: systemMessage, options: options)
        self.router = router
        self.policy = policy
    }

    /// The decision for `text` under the policy: a new one, or the conversation's first.
    public func decide(_ text: String) throws -> RouteDecision {
        if policy == .sticky, var decision = state.withLock({ $0.kept }) {
            decision.reason = "kept from the conversation's first message: " + decision.reason
            return decision
        }
        let decision = try router.route(text)
        if policy == .sticky { state.withLock { $0.kept = decision } }
        return decision
    }

    /// Routes `text`, switches the adapter if the decision differs, and answers, calling
    /// `onDecision` before the first piece of text.
    @discardableResult
    public func respond(to text: String, onDecision: (RouteDecision) -> Void = { _ in },
                        onText: (String) -> Void) throws -> (decision: RouteDecision, statistics: GenerationStatistics) {
        let decision = try decide(text)
        if state.withLock({ $0.active }) != decision.route {
            // A route names a registry entry when the registry has one of that name (a folder of
            // that name in the working directory must not shadow it), else a path.
            let registry = chat.engine.registry
            try chat.setAdapter(decision.route.map { registry.names().contains($0) ? try registry.adapterPath(named: $0) : $0 })
            state.withLock { $0.active = decision.route }
        }
        onDecision(decision)
        return (decision, try chat.respond(to: text, onText: onText))
    }

    /// Forgets the conversation and, for a sticky policy, its route.
    public func clear() {
        chat.clear()
        state.withLock { $0.kept = nil }
    }
}
