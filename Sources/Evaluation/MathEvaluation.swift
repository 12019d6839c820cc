import Inference
import Tokenization

/// Scores a model on math word problems by exact match: each question goes into the chat
/// template as the only user turn (no system message), the model answers greedily, and the
/// answer ``MathWordProblems/extractAnswer(from:)`` finds in the reply must equal the expected one.
///
/// The prompt is built as `loco run` builds it, with `Tokenizer.encode(messages:template:)`: the
/// template's generation prompt, control tokens parsed, BOS added only when the template does not
/// write it.
///
/// ```swift
/// let evaluation = MathEvaluation(model: model, tokenizer: tokenizer, template: template, adapters: adapters)
/// let result = try evaluation.run(MathWordProblems.generate(count: 200, seed: 99))
/// print("exact match: \(result.correct)/\(result.total)")
/// ```
public struct MathEvaluation: Sendable {
    /// One problem's outcome.
    public struct Item: Sendable, Hashable, Codable {
        public var question: String
        public var expected: Int
        /// The model's reply, up to its end-of-generation token or the token limit.
        public var output: String
        /// The answer found in `output`, if any.
        public var extracted: Int?
        public var correct: Bool
        public var generatedTokens: Int
    }

    /// A whole run.
    public struct Result: Sendable, Codable {
        public var items: [Item]
        public var correct: Int
        public var total: Int
        /// `correct / total` (0 for an empty set).
        public var accuracy: Double
        public var generatedTokens: Int
        /// Wall time of all the generations (prompt and decode).
        public var seconds: Double
        /// Generated tokens over `seconds`.
        public var tokensPerSecond: Double { seconds > 0 ? Double(generatedTokens) / seconds : 0 }
    }

    public let model: Model
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    /// Applied unmerged to every generation; nil runs the base model.
    public let adapters: AdapterSet?
    /// Tokens to generate at most per problem.
    public let maxTokens: Int
    /// The session's context: the prompt plus `maxTokens` must fit.
    public let contextLength: Int

    public init(model: Model, tokenizer: Tokenizer, template: ChatTemplate, adapters: AdapterSet? = nil,
                maxTokens: Int = 128, contextLength: Int = 1024) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.adapters = adapters
        self.maxTokens = maxTokens
        self.contextLength = min(contextLength, model.configuration.contextLength)
    }

    /// Answers every problem in order, calling `onItem` with each outcome as it is scored.
    ///
    /// - Throws: a template error, or `ModelError` when a prompt does not fit `contextLength`.
    public func run(_ problems: [MathProblem], onItem: (Int, Item) -> Void = { _, _ in }) throws -> Result {
        let session = model.makeSession(contextLength: contextLength)
        session.adapters = adapters
        // One generator for the run: prompts share the template's opening, which stays cached.
        let generator = Generator(session: session, tokenizer: tokenizer)
        let options = GenerationOptions(maxTokens: maxTokens, sampler: .greedy)
        var items: [Item] = []
        var generatedTokens = 0
        var seconds = 0.0
        for (index, problem) in problems.enumerated() {
            let prompt = try tokenizer.encode(messages: [.user(problem.question)], template: template)
            var output = ""
            let statistics = try generator.generate(prompt: prompt, options: options) { output += $0 }
            generatedTokens += statistics.generatedTokens
            seconds += statistics.timeToFirstToken + statistics.decodeSeconds
            let extracted = MathWordProblems.extractAnswer(from: output)
            let item = Item(question: problem.question, expected: problem.answer, output: output, extracted: extracted,
                            correct: extracted == problem.answer, generatedTokens: statistics.generatedTokens)
            items.append(item)
            onItem(index, item)
        }
        let correct = items.filter(\.correct).count
        return Result(items: items, correct: correct, total: items.count,
                      accuracy: items.isEmpty ? 0 : Double(correct) / Double(items.count),
                      generatedTokens: generatedTokens, seconds: seconds)
    }
}
