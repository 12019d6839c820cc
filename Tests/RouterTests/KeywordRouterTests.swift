import Router
import Testing

/// Upstream LocoLLM's keyword rule, spelled out independently: for each adapter in name order,
/// count its keywords found in the lowercased query; a strictly larger count replaces the best.
private func upstreamRule(_ query: String, _ adapters: [String: [String]]) -> String? {
    let text = query.lowercased()
    var best: String?, bestHits = 0
    for name in adapters.keys.sorted() {
        let hits = adapters[name]!.filter { text.contains($0.lowercased()) }.count
        if hits > bestHits { (best, bestHits) = (name, hits) }
    }
    return best
}

@Suite struct KeywordRouterTests {
    let adapters: [String: [String]] = [
        "math": ["calculate", "sum", "Equation", "percent"],
        "code": ["python", "function", "bug", "SUM"],  // "sum" overlaps with math
        "analysis": ["compare", "trend", "percent"],
    ]

    @Test(arguments: [
        "Calculate the sum of 2 and 3",          // math 2, code 1
        "Write a Python function for the sum",   // code 3, math 1
        "what is the SUM",                       // tie math/code at 1: "code" first alphabetically
        "compare the percent change",            // analysis 2, math 1
        "percent",                               // tie analysis/math: "analysis"
        "Tell me a story",                       // no hit: base
        "",                                      // empty: base
        "EQUATION of a line",                    // case-insensitive
        "summary of the trend",                  // substring: "sum" in "summary" counts, as upstream
    ])
    func decisionsEqualUpstreamRule(_ query: String) {
        let router = KeywordRouter(routes: adapters.map { ($0.key, $0.value) })
        let decision = router.route(query)
        #expect(decision.route == upstreamRule(query, adapters), "\(query): \(decision.reason)")
        #expect((0...1).contains(decision.confidence))
        #expect(decision.scores.count == adapters.count)
    }

    @Test func tieIsExplainedAndNoHitIsBase() {
        let router = KeywordRouter(routes: adapters.map { ($0.key, $0.value) })
        let tie = router.route("what is the sum")
        #expect(tie.route == "code")
        #expect(tie.confidence == 0.5)
        #expect(tie.reason.contains("tied"))
        let none = router.route("hello there")
        #expect(none.route == nil && none.confidence == 0)
    }
}
