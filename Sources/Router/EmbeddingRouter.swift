import LocoSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Routes by the embedder's vector of the query, fitted from example queries per route and
/// (optionally) examples that belong to none, which then form a class of their own.
///
/// Vectors are L2-normalized, centred on the mean of the fitted examples (mean-pooled language
/// model states share a large common direction that says nothing about the topic) and
/// normalized again. Two classifiers:
/// - `.centroid`: each class is the normalized mean of its examples; its logit is the cosine;
/// - `.logistic`: multinomial logistic regression with an L2 penalty, fitted by full-batch
///   gradient descent from zero (deterministic).
///
/// Probabilities are a softmax of the logits divided by a temperature chosen by k-fold cross
/// validation on the examples (the one minimizing the held-out negative log-likelihood), so the
/// confidence means what it says on queries like the examples. The answer is the most probable
/// class; it falls back to the base model when that is `none` or when its probability is below
/// `threshold`.
public struct EmbeddingRouter: Sendable {
    public enum Method: String, Sendable, CaseIterable {
        case centroid, logistic
    }

    public let method: Method
    /// The route names, in class order; the base ("none") is the last class when `hasNone`.
    public let routes: [String]
    public let hasNone: Bool
    public var threshold: Double
    public let temperature: Double
    /// The embedder the router was fitted with (``Embedder/fingerprint``).
    public let embedderFingerprint: String
    let mean: [Float]
    /// Class count x dimension, row-major.
    let weights: [Float]
    let bias: [Float]

    public var dimension: Int { mean.count }
    var classCount: Int { routes.count + (hasNone ? 1 : 0) }

    /// Longest query routed, in UTF-8 bytes (about a page).
    public static let maximumQueryBytes = 16 * 1024

    // MARK: Fitting

    /// Fits on the examples of `routes` (and its none examples), embedding each with `embedder`.
    public static func fit(_ routes: Routes, embedder: any Embedder, method: Method = .logistic,
                           threshold: Double = 0.5) throws(RouterError) -> EmbeddingRouter {
        var vectors: [[Float]] = [], labels: [Int] = []
        for (c, route) in routes.routes.enumerated() {
            guard !route.examples.isEmpty else {
                throw RouterError(.invalidRoutes("route \"\(route.name)\" has no examples to fit on (the keyword router can use its keywords)"))
            }
            for example in route.examples {
                vectors.append(try embed(example, embedder))
                labels.append(c)
            }
        }
        let hasNone = !routes.noneExamples.isEmpty
        for example in routes.noneExamples {
            vectors.append(try embed(example, embedder))
            labels.append(routes.routes.count)
        }
        return try fit(vectors: vectors, labels: labels, routes: routes.names, hasNone: hasNone,
                       embedderFingerprint: embedder.fingerprint, method: method, threshold: threshold)
    }

    /// Fits on vectors already embedded: `labels[i]` is the class of `vectors[i]` (route index,
    /// or `routes.count` for none when `hasNone`).
    public static func fit(vectors: [[Float]], labels: [Int], routes: [String], hasNone: Bool, embedderFingerprint: String,
                           method: Method = .logistic, threshold: Double = 0.5) throws(RouterError) -> EmbeddingRouter {
        let classes = routes.count + (hasNone ? 1 : 0)
        guard let d = vectors.first?.count, d > 0, vectors.allSatisfy({ $0.count == d }) else {
            throw RouterError(.invalidRoutes("no examples, or embeddings of different widths"))
        }
        guard labels.count == vectors.count, labels.allSatisfy({ (0..<classes).contains($0) }) else {
            throw RouterError(.invalidRoutes("labels do not match the routes"))
        }
        for c in 0..<classes where !labels.contains(c) {
            throw RouterError(.invalidRoutes("class \(c < routes.count ? routes[c] : RouteDecision.noneName) has no examples"))
        }
        let normalized = vectors.map(normalize)
        var mean = [Float](repeating: 0, count: d)
        for v in normalized { for j in 0..<d { mean[j] += v[j] / Float(normalized.count) } }
        let x = normalized.map { center($0, mean) }
        let (weights, bias) = train(method, x, labels, classes: classes)

        // Temperature: k-fold cross validation (k up to 5, every fold trained without its examples).
        let folds = min(5, labels.count)
        var heldOut: [(logits: [Double], label: Int)] = []
        if folds >= 2 {
            for fold in 0..<folds {
                let train = x.indices.filter { $0 % folds != fold }, test = x.indices.filter { $0 % folds == fold }
                let trainLabels = train.map { labels[$0] }
                // A class missing from the training part gets a zero row: it cannot win, as it should not.
                let (w, b) = Self.train(method, train.map { x[$0] }, trainLabels, classes: classes)
                for i in test { heldOut.append((logits(w, b, x[i], classes: classes), labels[i])) }
            }
        }
        var best = (temperature: method == .centroid ? 0.05 : 1.0, loss: Double.infinity)
        for step in 0..<60 {
            let t = 0.002 * pow(10, Double(step) / 15)  // 0.002 ... ~20
            let loss = heldOut.reduce(0.0) { $0 - log(max(softmax($1.logits, t)[$1.label], 1e-12)) }
            if loss < best.loss { best = (t, loss) }
        }
        return EmbeddingRouter(method: method, routes: routes, hasNone: hasNone, threshold: threshold, temperature: best.temperature,
                               embedderFingerprint: embedderFingerprint, mean: mean, weights: weights, bias: bias)
    }

    init(method: Method, routes: [String], hasNone: Bool, threshold: Double, temperature: Double, embedderFingerprint: String,
         mean: [Float], weights: [Float], bias: [Float]) {
        self.method = method
        self.routes = routes
        self.hasNone = hasNone
        self.threshold = threshold
        self.temperature = temperature
        self.embedderFingerprint = embedderFingerprint
        self.mean = mean
        self.weights = weights
        self.bias = bias
    }

    private static func train(_ method: Method, _ x: [[Float]], _ labels: [Int], classes: Int) -> ([Float], [Float]) {
        let d = x[0].count
        var w = [Float](repeating: 0, count: classes * d), b = [Float](repeating: 0, count: classes)
        switch method {
        case .centroid:
            for c in 0..<classes {
                var sum = [Float](repeating: 0, count: d)
                for (v, label) in zip(x, labels) where label == c { for j in 0..<d { sum[j] += v[j] } }
                let unit = normalize(sum)
                for j in 0..<d { w[c * d + j] = unit[j] }
            }
        case .logistic:
            // Mean cross-entropy + lambda/2 |W|^2, gradient descent with momentum; unit inputs keep
            // the curvature below about 1, so a fixed step of 1 is stable.
            let lambda: Float = 1e-3, rate: Float = 1, momentum: Float = 0.9
            var vw = w, vb = b
            let n = Float(x.count)
            for _ in 0..<400 {
                var gw = w.map { lambda * $0 }, gb = [Float](repeating: 0, count: classes)
                for (v, label) in zip(x, labels) {
                    let p = softmax(logits(w, b, v, classes: classes), 1)
                    for c in 0..<classes {
                        let g = Float(p[c] - (c == label ? 1 : 0)) / n
                        gb[c] += g
                        for j in 0..<d { gw[c * d + j] += g * v[j] }
                    }
                }
                for i in w.indices {
                    vw[i] = momentum * vw[i] - rate * gw[i]
                    w[i] += vw[i]
                }
                for c in 0..<classes {
                    vb[c] = momentum * vb[c] - rate * gb[c]
                    b[c] += vb[c]
                }
            }
        }
        return (w, b)
    }

    // MARK: Routing

    /// The decision for `query`, embedded by `embedder` (which must be the one fitted with).
    public func route(_ query: String, embedder: any Embedder) throws(RouterError) -> RouteDecision {
        guard embedder.fingerprint == embedderFingerprint else {
            throw RouterError(.embedderMismatch(fitted: embedderFingerprint, given: embedder.fingerprint))
        }
        try Self.check(query)
        return try route(vector: Self.embed(query, embedder))
    }

    /// The decision for a vector already embedded.
    public func route(vector: [Float]) throws(RouterError) -> RouteDecision {
        guard vector.count == dimension else {
            throw RouterError(.embedding("the vector has \(vector.count) values; the router was fitted on \(dimension)"))
        }
        let p = probabilities(vector)
        let names: [String?] = routes + (hasNone ? [nil] : [])
        let scores = zip(names, p).map { RouteScore(route: $0, score: $1) }
        let best = p.indices.max { p[$0] < p[$1] }!
        let percent = { (x: Double) in "\(Int((x * 100).rounded()))%" }
        if names[best] == nil {
            return RouteDecision(route: nil, confidence: p[best], scores: scores,
                                 reason: "closest to the examples that need no adapter (\(percent(p[best])))")
        }
        if p[best] < threshold {
            return RouteDecision(route: nil, confidence: 1 - p[best], scores: scores,
                                 reason: "best route \(names[best]!) at \(percent(p[best])) is below the threshold \(percent(threshold)): the base model answers")
        }
        return RouteDecision(route: names[best], confidence: p[best], scores: scores,
                             reason: "\(method == .centroid ? "nearest to" : "classified as") \(names[best]!)'s examples (\(percent(p[best])))")
    }

    /// Class probabilities of `vector`, in class order.
    public func probabilities(_ vector: [Float]) -> [Double] {
        softmax(Self.logits(weights, bias, Self.center(Self.normalize(vector), mean), classes: classCount), temperature)
    }

    static func check(_ query: String) throws(RouterError) {
        guard query.contains(where: { !$0.isWhitespace }) else { throw RouterError(.invalidQuery("the query is empty")) }
        guard query.utf8.count <= maximumQueryBytes else {
            throw RouterError(.invalidQuery("the query has \(query.utf8.count) bytes; at most \(maximumQueryBytes) are routed"))
        }
    }

    static func embed(_ text: String, _ embedder: any Embedder) throws(RouterError) -> [Float] {
        do {
            let v = try embedder.embed(text)
            guard !v.isEmpty, v.allSatisfy(\.isFinite) else { throw RouterError(.embedding("the embedder returned no finite vector")) }
            return v
        } catch let error as RouterError {
            throw error
        } catch {
            throw RouterError(.embedding("\(error)"))
        }
    }

    // MARK: Math

    static func normalize(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    static func center(_ v: [Float], _ mean: [Float]) -> [Float] { normalize(zip(v, mean).map { $0 - $1 }) }

    static func logits(_ w: [Float], _ b: [Float], _ x: [Float], classes: Int) -> [Double] {
        let d = x.count
        return (0..<classes).map { c in
            var s = Double(b[c])
            for j in 0..<d { s += Double(w[c * d + j]) * Double(x[j]) }
            return s
        }
    }
}

/// Softmax of `logits / temperature`.
func softmax(_ logits: [Double], _ temperature: Double) -> [Double] {
    let scaled = logits.map { $0 / temperature }
    let top = scaled.max() ?? 0
    let e = scaled.map { exp($0 - top) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}
