import Foundation
import Synchronization

/// The base model is the router's embedder: the mean of its final hidden states over the query
/// (llama.cpp's MEAN pooling), so routing needs no second model and costs one prefill.
extension Engine: Embedder {
    /// The base's fingerprint (architecture and a SHA-256 of its tensor layout) and the pooling.
    public var fingerprint: String { "\(BaseFingerprint(of: model.file)) mean-pool" }

    public func embed(_ text: String) throws -> [Float] { try embedding(of: text, normalized: true) }
}

/// How to route: upstream's keywords, or the base model's embeddings with one of the classifiers.
public enum RoutingMethod: String, Sendable, CaseIterable {
    case keyword, centroid, logistic
}

/// A router ready to answer: keywords, or an embedding router with the engine it embeds with.
public struct FittedRouter: Sendable {
    public let method: RoutingMethod
    public let keywords: KeywordRouter?
    public let embedding: EmbeddingRouter?
    let engine: Engine?

    /// Fits `method` on `routes`; the embedding methods embed every example once with `engine`.
    public init(_ routes: Routes, method: RoutingMethod, engine: Engine?, threshold: Double = 0.5) throws {
        self.method = method
        switch method {
        case .keyword:
            keywords = KeywordRouter(routes)
            embedding = nil
            self.engine = nil
        case .centroid, .logistic:
            guard let engine else { throw RouterError(.invalidRoutes("the embedding router needs a model")) }
            keywords = nil
            embedding = try EmbeddingRouter.fit(routes, embedder: engine, method: method == .centroid ? .centroid : .logistic,
                                                threshold: threshold)
            self.engine = engine
        }
    }

    /// A router read from a file `loco route fit` wrote, for `engine`'s model.
    public init(contentsOf path: String, engine: Engine) throws {
        let router = try EmbeddingRouter(contentsOf: path, embedder: engine)
        method = router.method == .centroid ? .centroid : .logistic
        keywords = nil
        embedding = router
        self.engine = engine
    }

    public func route(_ query: String) throws -> RouteDecision {
        if let keywords {
            guard query.utf8.count <= EmbeddingRouter.maximumQueryBytes else {
                throw RouterError(.invalidQuery("the query has \(query.utf8.count) bytes; at most \(EmbeddingRouter.maximumQueryBytes) are routed"))
            }
            return keywords.route(query)
        }
        return try embedding!.route(query, embedder: engine!)
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
    /// The routes of the adapters in `registry` whose manifests carry router keywords or example
    /// queries (`loco adapters add --keywords ... --examples ...`), in name order, with
    /// `noneExamples` for queries the base model should answer.
    public init(registry: AdapterRegistry, noneExamples: [String] = []) throws {
        let manifests = try registry.list().filter { !$0.routerKeywords.isEmpty || !$0.exampleQueries.isEmpty }
        guard !manifests.isEmpty else {
            throw RouterError(.invalidRoutes("no adapter in the registry has router keywords or example queries"), path: registry.folder)
        }
        try self.init(routes: manifests.sorted { $0.name < $1.name }.map {
            Route(name: $0.name, description: $0.description, keywords: $0.routerKeywords, examples: $0.exampleQueries)
        }, noneExamples: noneExamples)
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
    private let kept = Mutex<RouteDecision?>(nil)

    public init(engine: Engine, router: FittedRouter, policy: RoutingPolicy = .sticky, systemMessage: String? = nil,
                options: GenerationOptions = GenerationOptions()) throws {
        chat = try ChatSession(engine: engine, systemMessage: systemMessage, options: options)
        self.router = router
        self.policy = policy
    }

    /// The decision for `text` under the policy: a new one, or the conversation's first.
    public func decide(_ text: String) throws -> RouteDecision {
        if policy == .sticky, var decision = kept.withLock({ $0 }) {
            decision.reason = "kept from the conversation's first message: " + decision.reason
            return decision
        }
        let decision = try router.route(text)
        if policy == .sticky { kept.withLock { $0 = decision } }
        return decision
    }

    /// Routes `text`, switches the adapter if the decision differs, and answers, calling
    /// `onDecision` before the first piece of text.
    @discardableResult
    public func respond(to text: String, onDecision: (RouteDecision) -> Void = { _ in },
                        onText: (String) -> Void) throws -> (decision: RouteDecision, statistics: GenerationStatistics) {
        let decision = try decide(text)
        if chat.adapterName != decision.route { try chat.setAdapter(decision.route) }
        onDecision(decision)
        return (decision, try chat.respond(to: text, onText: onText))
    }

    /// Forgets the conversation and, for a sticky policy, its route.
    public func clear() {
        chat.clear()
        kept.withLock { $0 = nil }
    }
}
