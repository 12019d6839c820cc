import Foundation
import LocoSupport
import Router
import Testing

/// A deterministic embedder for tests: each word adds a fixed random direction; words of a topic
/// share a topic direction, and every text shares a large common offset (as mean-pooled model
/// states do).
struct TopicEmbedder: Embedder {
    var fingerprint = "test-topics-v1"
    let dimension = 64
    let topics: [String: Int] = ["add": 0, "sum": 0, "multiply": 0, "divide": 0, "number": 0,
                                 "python": 1, "function": 1, "bug": 1, "compile": 1, "loop": 1]

    func direction(_ seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return (0..<dimension).map { _ in Float(random.nextUnit() * 2 - 1) }
    }

    func embed(_ text: String) throws -> [Float] {
        var v = direction(999).map { $0 * 8 }  // the common offset
        for word in text.lowercased().split(whereSeparator: { !$0.isLetter }) {
            let w = String(word)
            // FNV-1a: String.hashValue is seeded per process.
            let own = direction(w.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
            if let topic = topics[w] {
                for (j, x) in direction(UInt64(topic) + 1).enumerated() { v[j] += 3 * x }
            }
            for (j, x) in own.enumerated() { v[j] += 0.3 * x }
        }
        return v
    }
}

@Suite struct EmbeddingRouterTests {
    let routes = try! Routes(
        routes: [
            .init(name: "math", examples: ["add these numbers", "sum of a number list", "multiply two numbers", "divide the number",
                                           "add and multiply", "sum then divide"]),
            .init(name: "code", examples: ["fix this python bug", "write a python function", "the loop does not compile",
                                           "a function with a loop", "python compile error", "bug in my function"]),
        ],
        noneExamples: ["tell me a story", "what is the weather", "hello how are you", "recommend a film", "who wrote hamlet",
                       "plan a trip"])

    @Test(arguments: EmbeddingRouter.Method.allCases)
    func routesHeldOutQueries(_ method: EmbeddingRouter.Method) throws {
        let router = try EmbeddingRouter.fit(routes, embedder: TopicEmbedder(), method: method)
        let cases: [(String, String?)] = [("please add the sum", "math"), ("divide and multiply numbers", "math"),
                                          ("my python loop", "code"), ("compile the function", "code"),
                                          ("a poem about spring", nil), ("good morning friend", nil)]
        for (query, expected) in cases {
            let decision = try router.route(query, embedder: TopicEmbedder())
            #expect(decision.route == expected, "\(method) \(query): \(decision.reason)")
            #expect((0...1).contains(decision.confidence))
            #expect(abs(decision.scores.reduce(0) { $0 + $1.score } - 1) < 1e-9)
        }
    }

    @Test func fileRoundTripsAndRefusesAnotherEmbedder() throws {
        let router = try EmbeddingRouter.fit(routes, embedder: TopicEmbedder(), method: .logistic)
        let path = NSTemporaryDirectory() + "router-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try router.write(to: path)
        let loaded = try EmbeddingRouter(contentsOf: path, embedder: TopicEmbedder())
        let query = "sum of numbers"
        #expect(try loaded.route(query, embedder: TopicEmbedder()) == router.route(query, embedder: TopicEmbedder()))
        var other = TopicEmbedder()
        other.fingerprint = "another-model"
        #expect(throws: RouterError.self) { try EmbeddingRouter(contentsOf: path, embedder: other) }
        #expect(throws: RouterError.self) { try loaded.route(query, embedder: other) }
    }

    @Test func badInputIsRefused() throws {
        let router = try EmbeddingRouter.fit(routes, embedder: TopicEmbedder(), method: .centroid)
        #expect(throws: RouterError.self) { try router.route("   ", embedder: TopicEmbedder()) }
        #expect(throws: RouterError.self) {
            try router.route(String(repeating: "a", count: EmbeddingRouter.maximumQueryBytes + 1), embedder: TopicEmbedder())
        }
        #expect(throws: RouterError.self) { try EmbeddingRouter(json: Array("{\"format\": \"x\"}".utf8)) }
        // Routes files: a missing name, an empty route, an unknown key, duplicate names.
        for text in [#"{"routes": [{"keywords": ["a"]}]}"#, #"{"routes": [{"name": "math"}]}"#,
                     #"{"routes": [{"name": "math", "keyword": ["a"]}]}"#,
                     #"{"routes": [{"name": "a", "examples": ["x"]}, {"name": "a", "examples": ["y"]}]}"#, #"{"routes": []}"#] {
            #expect(throws: RouterError.self, "\(text)") { try Routes(json: Array(text.utf8)) }
        }
        let good = try Routes(json: Array(#"{"routes": [{"name": "math", "description": "d", "keywords": ["sum"], "examples": ["x"]}], "none_examples": ["hi"], "fallback": "base"}"#.utf8))
        #expect(good.names == ["math"] && good.noneExamples == ["hi"])
    }

    @Test func labelledQueriesAddExamplesToTheirRoutes() throws {
        let lines = [#"{"query": "add 2 and 3", "label": "math"}"#, "", #"{"query": "hi", "label": "none"}"#, ""]
        let set = try LabelledQuery.read(jsonl: Array(lines.joined(separator: "\n").utf8))
        let more = try routes.adding(set)
        #expect(more.routes[0].examples.last == "add 2 and 3" && more.routes[0].examples.count == routes.routes[0].examples.count + 1)
        #expect(more.noneExamples.last == "hi")
        #expect(throws: RouterError.self) { try routes.adding([LabelledQuery(query: "x", label: "poetry")]) }
        #expect(throws: RouterError.self) { try LabelledQuery.read(jsonl: Array(#"{"query": "x"}"#.utf8)) }
    }

    @Test func evaluationCountsAndConfusion() {
        let decisions: [RouterEvaluation.Decision] = [
            .init(query: "a", label: "math", route: "math", confidence: 0.9),
            .init(query: "b", label: "math", route: nil, confidence: 0.6),
            .init(query: "c", label: nil, route: nil, confidence: 0.8),
            .init(query: "d", label: "code", route: "math", confidence: 0.55),
        ]
        let result = RouterEvaluation(decisions: decisions)
        #expect(result.accuracy == 0.5)
        #expect(result.confusion["math"]?["none"] == 1 && result.confusion["code"]?["math"] == 1)
        #expect(result.perRoute["math"]?.precision == 0.5 && result.perRoute["math"]?.recall == 0.5)
        #expect(result.perRoute["none"]?.precision == 0.5 && result.perRoute["none"]?.recall == 1)
    }
}
