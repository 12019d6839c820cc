/// How a router does on a labelled set: accuracy, per-route precision and recall, the confusion
/// matrix, and every decision.
public struct RouterEvaluation: Sendable, Encodable {
    public struct Decision: Sendable, Encodable {
        public var query: String
        public var label: String?
        public var route: String?
        public var confidence: Double

        public init(query: String, label: String?, route: String?, confidence: Double) {
            self.query = query
            self.label = label
            self.route = route
            self.confidence = confidence
        }

        private enum CodingKeys: String, CodingKey { case query, label, route, confidence }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(query, forKey: .query)
            try c.encode(label ?? RouteDecision.noneName, forKey: .label)
            try c.encode(route ?? RouteDecision.noneName, forKey: .route)
            try c.encode(confidence, forKey: .confidence)
        }
    }

    public struct ClassScores: Sendable, Encodable {
        public var precision: Double
        public var recall: Double
        public var support: Int
    }

    /// Correct decisions over all, 0-1.
    public var accuracy: Double
    /// `confusion[label][route]`: how many queries labelled `label` went to `route` (`none` for the base).
    public var confusion: [String: [String: Int]]
    public var perRoute: [String: ClassScores]
    public var decisions: [Decision]
    /// The median time of one decision, in seconds (embedding included), when measured.
    public var medianDecisionSeconds: Double?

    private enum CodingKeys: String, CodingKey {
        case accuracy, confusion, decisions
        case perRoute = "per_route"
        case medianDecisionSeconds = "median_decision_seconds"
    }

    /// Scores `decisions` (each with its query's label).
    public init(decisions: [Decision], medianDecisionSeconds: Double? = nil) {
        let name = { (route: String?) in route ?? RouteDecision.noneName }
        self.decisions = decisions
        self.medianDecisionSeconds = medianDecisionSeconds
        accuracy = decisions.isEmpty ? 0 : Double(decisions.filter { $0.label == $0.route }.count) / Double(decisions.count)
        var confusion: [String: [String: Int]] = [:]
        for d in decisions { confusion[name(d.label), default: [:]][name(d.route), default: 0] += 1 }
        self.confusion = confusion
        let classes = Set(decisions.map { name($0.label) } + decisions.map { name($0.route) })
        var perRoute: [String: ClassScores] = [:]
        for c in classes {
            let predicted = decisions.filter { name($0.route) == c }.count
            let actual = decisions.filter { name($0.label) == c }.count
            let correct = decisions.filter { name($0.route) == c && name($0.label) == c }.count
            perRoute[c] = ClassScores(precision: predicted == 0 ? 0 : Double(correct) / Double(predicted),
                                      recall: actual == 0 ? 0 : Double(correct) / Double(actual), support: actual)
        }
        self.perRoute = perRoute
    }
}
