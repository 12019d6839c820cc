import Foundation
import LocoSupport
import Router
import Synchronization
import Testing

/// Counts the texts it embeds, to tell a cache hit from a miss.
final class CountingEmbedder: Embedder {
    let inner: TopicEmbedder
    let calls = Mutex(0)
    var fingerprint: String { inner.fingerprint }

    init(_ inner: TopicEmbedder = TopicEmbedder()) { self.inner = inner }

    func embed(_ text: String) throws -> [Float] {
        calls.withLock { $0 += 1 }
        return try inner.embed(text)
    }
}

@Suite struct EmbeddingCacheTests {
    let texts = ["add these numbers", "write a python function", "hello how are you"]

    @Test func vectorsAreKeptAcrossInstancesAndEqualTheEmbeddersOwn() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = CountingEmbedder()
        let cache = CachingEmbedder(first, folder: folder)
        let vectors = try texts.map { try cache.embed($0) }
        _ = try cache.embed(texts[0])
        #expect(first.calls.withLock { $0 } == 3)
        #expect(try cache.save())
        #expect(try !cache.save(), "nothing new: no write")

        let second = CountingEmbedder()
        let again = CachingEmbedder(second, folder: folder)
        #expect(again.count == 3)
        let read = try texts.map { try again.embed($0) }
        #expect(second.calls.withLock { $0 } == 0, "every vector came from the file")
        #expect(read == vectors)
        #expect(try read == texts.map { try TopicEmbedder().embed($0) }, "bit for bit the embedder's vectors")
    }

    @Test func anotherEmbeddingSpaceOrADamagedFileIsNotUsed() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cache = CachingEmbedder(TopicEmbedder(), folder: folder)
        _ = try cache.embed(texts[0])
        try cache.save()

        var other = TopicEmbedder()
        other.fingerprint = "test-topics-v2"
        let otherCache = CachingEmbedder(CountingEmbedder(other), folder: folder)
        #expect(otherCache.count == 0 && otherCache.path != cache.path)

        // Cut the file short: it is ignored (vectors are computed again) and replaced on save.
        let path = try #require(cache.path)
        let bytes = try FileSystem.read(path, limit: 1 << 20)
        try AtomicFile.write(Array(bytes.dropLast(5)), to: path)
        let counting = CountingEmbedder()
        let damaged = CachingEmbedder(counting, folder: folder)
        #expect(damaged.count == 0)
        _ = try damaged.embed(texts[0])
        #expect(counting.calls.withLock { $0 } == 1)
        try damaged.save()
        #expect(CachingEmbedder(TopicEmbedder(), folder: folder).count == 1)
    }

    @Test func fittingAgainEmbedsOnlyNewExamples() throws {
        let folder = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let routes = try Routes(routes: [.init(name: "math", examples: ["add these numbers", "sum of a number list"]),
                                         .init(name: "code", examples: ["fix this python bug", "write a python function"])],
                                noneExamples: ["tell me a story", "hello how are you"])
        let counting = CountingEmbedder()
        let cache = CachingEmbedder(counting, folder: folder)
        let fitted = try EmbeddingRouter.fit(routes, embedder: cache)
        try cache.save()
        #expect(counting.calls.withLock { $0 } == 6)

        let more = try routes.adding([LabelledQuery(query: "multiply two numbers", label: "math")])
        let again = CountingEmbedder()
        let refitted = try EmbeddingRouter.fit(more, embedder: CachingEmbedder(again, folder: folder))
        #expect(again.calls.withLock { $0 } == 1, "only the new example is embedded")
        // A cached router routes as an uncached one fitted on the same examples.
        let plain = try EmbeddingRouter.fit(routes, embedder: TopicEmbedder())
        for query in ["please add the sum", "my python loop", "a poem about spring"] {
            #expect(try fitted.route(query, embedder: TopicEmbedder()) == plain.route(query, embedder: TopicEmbedder()))
            _ = try refitted.route(query, embedder: TopicEmbedder())
        }
    }

    private func makeFolder() throws -> String {
        let path = NSTemporaryDirectory() + "loco-embedding-cache-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Texts mapped to fixed vectors.
struct TableEmbedder: Embedder {
    let fingerprint = "test-table"
    let table: [String: [Float]]
    func embed(_ text: String) throws -> [Float] { table[text] ?? [0, 0, 1, 0] }
}

@Suite struct HybridRouterTests {
    /// Keyword hits move a close call; with no hit the decision is the embedding router's.
    @Test func keywordsArePriorsAndNoHitKeepsTheEmbeddingDecision() throws {
        // Overlapping clusters around three directions, so the fitted probabilities are soft.
        var random = SplitMix64(seed: 5)
        var vectors: [[Float]] = [], labels: [Int] = []
        for (label, centre) in [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]].enumerated() {
            for _ in 0..<20 {
                vectors.append(centre.map { Float($0) + Float(random.nextUnit() * 1.6 - 0.8) })
                labels.append(label)
            }
        }
        let embedding = try EmbeddingRouter.fit(vectors: vectors, labels: labels, routes: ["code", "math"], hasNone: true,
                                                embedderFingerprint: "test-table")
        let routes = try Routes(routes: [.init(name: "code", keywords: ["python"]), .init(name: "math", keywords: ["percent"])])
        let hybrid = HybridRouter(embedding: embedding, keywords: KeywordRouter(routes), weight: 2)
        let embedder = TableEmbedder(table: ["between them": [1, 1, 0, 0], "a percent between them": [1, 1, 0, 0]])

        let plain = try embedding.route("between them", embedder: embedder)
        #expect(try hybrid.route("between them", embedder: embedder) == plain, "no keyword hit: the embeddings decide")
        let before = try embedding.route("a percent between them", embedder: embedder)
        let after = try hybrid.route("a percent between them", embedder: embedder)
        let share = { (d: RouteDecision) in d.scores.first { $0.route == "math" }!.score }
        #expect(share(before) > 0.05 && share(before) < 0.95, "a close call: \(before.scores)")
        #expect(abs(share(after) - share(before) * exp(2) / (1 + share(before) * (exp(2) - 1))) < 1e-9, "\(after.scores)")
        #expect(after.route == "math" && after.reason.contains("keyword hits math 1"), "\(after.reason)")
        #expect(abs(after.scores.reduce(0) { $0 + $1.score } - 1) < 1e-9)
    }
}
