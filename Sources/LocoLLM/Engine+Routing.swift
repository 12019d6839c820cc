import Foundation

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
