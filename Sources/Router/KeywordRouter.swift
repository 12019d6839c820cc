/// Upstream LocoLLM's keyword rule, kept exactly so registries made for it route the same here:
/// for each route, the number of its keywords that occur in the query (case-insensitive
/// substring match, each keyword counted once); the most hits wins; a tie goes to the
/// alphabetically first route name; no hit at all means the base model.
public struct KeywordRouter: Sendable {
    /// Each route's keywords, lowercased.
    public let routes: [(name: String, keywords: [String])]

    public init(routes: [(name: String, keywords: [String])]) {
        self.routes = routes.map { ($0.name, $0.keywords.map { $0.lowercased() }.filter { !$0.isEmpty }) }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    public init(_ routes: Routes) {
        self.init(routes: routes.routes.map { ($0.name, $0.keywords) })
    }

    /// Keyword hits per route, in name order.
    public func hits(_ query: String) -> [(name: String, hits: Int)] {
        let text = query.lowercased()
        return routes.map { route in (route.name, route.keywords.reduce(0) { $0 + (text.contains($1) ? 1 : 0) }) }
    }

    public func route(_ query: String) -> RouteDecision {
        let counts = hits(query)
        var best: (name: String, hits: Int)?
        for entry in counts where entry.hits > (best?.hits ?? 0) { best = entry }  // strict: ties keep the first name
        let total = counts.reduce(0) { $0 + $1.hits }
        let scores = counts.map { RouteScore(route: $0.name, score: Double($0.hits)) }
        guard let best else {
            return RouteDecision(route: nil, confidence: 0, scores: scores, reason: "no route's keyword occurs in the query")
        }
        let matched = routes.first { $0.name == best.name }!.keywords.filter { query.lowercased().contains($0) }
        let tied = counts.filter { $0.hits == best.hits }.count > 1
        return RouteDecision(
            route: best.name, confidence: Double(best.hits) / Double(total), scores: scores,
            reason: "\(best.hits) keyword hit\(best.hits == 1 ? "" : "s") (\(matched.map { "\"\($0)\"" }.joined(separator: ", ")))"
                + (tied ? ", tied: the alphabetically first route wins" : ""))
    }
}
