import Foundation

/// Keywords as a prior, embeddings decide: each route's probability from the ``EmbeddingRouter``
/// is multiplied by `e^(weight × hits)` for the route's keyword hits (upstream's count), the
/// scores are normalized again, and the threshold applies as in the embedding router. With no
/// keyword hit the decision is the embedding router's.
public struct HybridRouter: Sendable {
    public let embedding: EmbeddingRouter
    public let keywords: KeywordRouter
    /// How much one keyword hit counts, in nats of log-probability.
    public let weight: Double

    public static let defaultWeight = 1.0

    public init(embedding: EmbeddingRouter, keywords: KeywordRouter, weight: Double = HybridRouter.defaultWeight) {
        self.embedding = embedding
        self.keywords = keywords
        self.weight = weight
    }

    public func route(_ query: String, embedder: any Embedder) throws(RouterError) -> RouteDecision {
        let base = try embedding.route(query, embedder: embedder)
        let hits = Dictionary(keywords.hits(query).map { ($0.name, $0.hits) }, uniquingKeysWith: +)
        guard hits.values.contains(where: { $0 > 0 }) else { return base }
        var scores = base.scores.map { score in
            RouteScore(route: score.route, score: score.score * exp(weight * Double(score.route.flatMap { hits[$0] } ?? 0)))
        }
        let total = scores.reduce(0) { $0 + $1.score }
        for i in scores.indices { scores[i].score /= total }
        let best = scores.indices.max { scores[$0].score < scores[$1].score }!
        let winner = scores[best]
        let percent = { (x: Double) in "\(Int((x * 100).rounded()))%" }
        let matched = hits.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let prior = "keyword hits \(matched) as a prior"
        guard let name = winner.route else {
            return RouteDecision(route: nil, confidence: winner.score, scores: scores,
                                 reason: "closest to the examples that need no adapter (\(percent(winner.score))), \(prior)")
        }
        if winner.score < embedding.threshold {
            return RouteDecision(route: nil, confidence: 1 - winner.score, scores: scores,
                                 reason: "best route \(name) at \(percent(winner.score)) is below the threshold \(percent(embedding.threshold)), \(prior)")
        }
        return RouteDecision(route: name, confidence: winner.score, scores: scores,
                             reason: "embeddings and \(prior) choose \(name) (\(percent(winner.score)))")
    }
}
