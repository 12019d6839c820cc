/// Turns text into a vector for the embedding router. The router imports no model: `LocoLLM`'s
/// `Engine` conforms with the base model's own mean-pooled final states.
public protocol Embedder: Sendable {
    /// Names the embedding space (model and pooling). A router fitted with one embedder refuses
    /// another: vectors from different spaces are not comparable.
    var fingerprint: String { get }
    /// The vector of `text` (any length; the router normalizes it).
    func embed(_ text: String) throws -> [Float]
}

/// One route's score in a decision.
public struct RouteScore: Sendable, Equatable, Codable {
    /// The route's name; nil is the base model ("none").
    public var route: String?
    /// Keyword hits for the keyword router; a probability in [0, 1] for the embedding router.
    public var score: Double

    public init(route: String?, score: Double) {
        self.route = route
        self.score = score
    }
}

/// Where a query goes: an adapter (a route's name) or the bare base model (`route == nil`).
public struct RouteDecision: Sendable, Equatable {
    /// The chosen route; nil is the base model.
    public var route: String?
    /// How sure the router is of `route`, in [0, 1] (for the embedding router: its calibrated
    /// probability; for keywords: the winner's share of all hits, 0 when nothing hit).
    public var confidence: Double
    /// Every route's score, in the router's route order (the base last, where it is a class).
    public var scores: [RouteScore]
    /// One line a person can read: why this route.
    public var reason: String

    public init(route: String?, confidence: Double, scores: [RouteScore], reason: String) {
        self.route = route
        self.confidence = confidence
        self.scores = scores
        self.reason = reason
    }
}

extension RouteDecision: Encodable {
    private enum CodingKeys: String, CodingKey { case route, confidence, scores, reason }

    /// `{"route": "math" | null, "confidence": 0.93, "scores": {"math": 0.93, ..., "none": 0.01}, "reason": "..."}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(route, forKey: .route)
        try container.encode(confidence, forKey: .confidence)
        var table: [String: Double] = [:]
        for score in scores { table[score.route ?? RouteDecision.noneName] = score.score }
        try container.encode(table, forKey: .scores)
        try container.encode(reason, forKey: .reason)
    }

    /// The label of the base model in routes files, labelled sets and score tables.
    public static let noneName = "none"
}
