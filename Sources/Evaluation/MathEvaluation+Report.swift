import Foundation

extension MathEvaluation {
    /// A run's totals with what ran (`loco eval math --json` prints it): the keys of
    /// ``CodingKeys`` are `accuracy`, `correct`, `total`, `model`, `adapters`,
    /// `generated_tokens` and `seconds`.
    public struct Report: Sendable, Equatable, Codable {
        public var accuracy: Double
        public var correct: Int
        public var total: Int
        /// The model file.
        public var model: String
        /// The adapters as they were named (paths or registry names).
        public var adapters: [String]
        public var generatedTokens: Int
        public var seconds: Double

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case accuracy, correct, total, model, adapters
            case generatedTokens = "generated_tokens"
            case seconds
        }

        public init(accuracy: Double, correct: Int, total: Int, model: String, adapters: [String], generatedTokens: Int, seconds: Double) {
            self.accuracy = accuracy
            self.correct = correct
            self.total = total
            self.model = model
            self.adapters = adapters
            self.generatedTokens = generatedTokens
            self.seconds = seconds
        }

        /// The totals of `result`, a run of the model at `model` with `adapters`.
        public init(result: Result, model: String, adapters: [String]) {
            self.init(accuracy: result.accuracy, correct: result.correct, total: result.total, model: model, adapters: adapters,
                      generatedTokens: result.generatedTokens, seconds: result.seconds)
        }

        /// One line of JSON: keys sorted, slashes unescaped.
        public func jsonText() throws -> String {
            String(decoding: try JSONEncoder.sortedKeys.encode(self), as: UTF8.self)
        }
    }
}
