#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GGUFFormat

/// Renders a conversation into the prompt text a model was trained on.
///
/// A model file carries its chat template as Jinja source (`tokenizer.chat_template`). Running
/// Jinja would mean executing code from the file; instead the template is recognized as one of the
/// families below and rendered by Swift code that reproduces it output for output (checked against
/// jinja2 rendering the original templates, as transformers does). An unrecognized template is an
/// error; `ChatTemplate.custom(_:)` describes any other format in plain Swift.
///
/// ```swift
/// let template = try ChatTemplate(gguf: file)
/// let prompt = try template.render(messages: [.system("Be brief."), .user("Hi!")],
///                                  addGenerationPrompt: true, enableThinking: nil)
/// let ids = try tokenizer.encode(messages: [.system("Be brief."), .user("Hi!")], template: template)
/// ```
///
/// `Tokenizer.encode(messages:template:)` renders and encodes in one step, with the BOS rule
/// (``includesBOS``) applied.
public struct ChatTemplate: Sendable {
    /// The template families this SDK renders.
    public enum Family: Sendable, Equatable {
        /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM2, Qwen2.5), with the default system
        /// message the template inserts when the conversation has none, and Qwen's grouping of
        /// tool results into a user turn.
        case chatML(defaultSystemPrompt: String?, toolResultsAsUserTurn: Bool)
        /// Qwen3's ChatML: reasoning in `<think>` blocks kept only after the last user query;
        /// `enableThinking: false` closes an empty think block in the generation prompt.
        case qwen3
        /// Llama 3.1 and later: a system header with the knowledge cutoff and today's date.
        /// `fixedDate` is the date the template writes when it does not ask for today's
        /// (Llama 3.1: "26 Jul 2024").
        case llama31(fixedDate: String?)
        /// Llama 3.0: `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`.
        case llama3
        /// Gemma 3: the system message opens the first user turn, followed by `separator`.
        case gemma3(separator: String)
        /// Gemma 1 and 2: no system message.
        case gemma
        /// A format described in Swift.
        case custom(Format)
    }

    public let family: Family
    /// The text of the BOS token, written where the template writes `bos_token`.
    public let bosToken: String
    /// The text of the EOS token (`eos_token`).
    public let eosToken: String
    /// Today's date for templates that write it (Llama 3.2, 3.3: "Today Date: 26 Jul 2024"), as
    /// transformers' `strftime_now("%d %b %Y")` gives it; nil means the local date now. A template
    /// with a fixed date (Llama 3.1) writes its own.
    public var dateString: String?

    /// The chat template of a model file, recognized from `tokenizer.chat_template`, with the
    /// BOS and EOS token texts from its vocabulary.
    public init(gguf file: GGUFFile) throws {
        guard let source = file.metadata["tokenizer.chat_template"]?.stringValue else {
            throw ChatTemplateError.noTemplate(path: file.path)
        }
        try self.init(recognizing: source, bosToken: Self.tokenText(file, "tokenizer.ggml.bos_token_id"),
                      eosToken: Self.tokenText(file, "tokenizer.ggml.eos_token_id"))
    }

    /// The family `name` (one of ``familyNames``) with the BOS and EOS token texts of `file`'s
    /// vocabulary: for a model whose file carries no template (a base model such as Gemma 3
    /// 270M) or one to override. Throws ``ChatTemplateError/unknownName(_:)`` for another name.
    public init(named name: String, gguf file: GGUFFile) throws {
        try self.init(named: name, bosToken: Self.tokenText(file, "tokenizer.ggml.bos_token_id"),
                      eosToken: Self.tokenText(file, "tokenizer.ggml.eos_token_id"))
    }

    /// The family `name` (one of ``familyNames``) with the given BOS and EOS token texts.
    public init(named name: String, bosToken: String = "", eosToken: String = "") throws {
        guard let family = Self.families[name.lowercased()] else { throw ChatTemplateError.unknownName(name) }
        self.init(family: family, bosToken: bosToken, eosToken: eosToken)
    }

    /// The names ``init(named:gguf:)`` knows, each a family as its model's own template has it.
    public static var familyNames: [String] { families.keys.sorted() }

    private static let families: [String: Family] = [
        "chatml": .chatML(defaultSystemPrompt: nil, toolResultsAsUserTurn: false),
        "qwen3": .qwen3,
        "llama3": .llama3,
        "llama3.1": .llama31(fixedDate: "26 Jul 2024"),
        "gemma": .gemma,
        "gemma3": .gemma3(separator: "\n\n"),
    ]

    private static func tokenText(_ file: GGUFFile, _ key: String) -> String {
        guard let id = file.metadata[key]?.integerValue,
              let tokens = file.metadata["tokenizer.ggml.tokens"]?.arrayValue, id >= 0, id < tokens.count else { return "" }
        var text = ""
        tokens.withStringBytes { index, bytes in if index == id { text = String(decoding: bytes, as: UTF8.self) } }
        return text
    }

    /// Recognizes Jinja template text.
    public init(recognizing source: String, bosToken: String = "", eosToken: String = "") throws {
        family = try ChatTemplate.recognize(source)
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// A template for a format given in Swift, for models whose template is not recognized.
    ///
    /// ```swift
    /// let phi3 = ChatTemplate.custom(.init(
    ///     turns: [.system: .init(prefix: "<|system|>\n", suffix: "<|end|>\n"),
    ///             .user: .init(prefix: "<|user|>\n", suffix: "<|end|>\n"),
    ///             .assistant: .init(prefix: "<|assistant|>\n", suffix: "<|end|>\n")],
    ///     generationPrompt: "<|assistant|>\n"))
    /// ```
    ///
    /// `bosToken` is the BOS token's text: when `format.beginning` starts with it, `includesBOS`
    /// is true.
    public static func custom(_ format: Format, bosToken: String = "", eosToken: String = "") -> ChatTemplate {
        ChatTemplate(family: .custom(format), bosToken: bosToken, eosToken: eosToken)
    }

    private init(family: Family, bosToken: String, eosToken: String) {
        self.family = family
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// Whether rendered prompts start with the BOS token's text; encode them with
    /// `addSpecial: false` then, so BOS is not added twice (`Tokenizer.encode(messages:template:)`
    /// does).
    public var includesBOS: Bool {
        switch family {
        case .llama31, .llama3, .gemma3, .gemma: !bosToken.isEmpty
        case .custom(let format): !bosToken.isEmpty && PythonStrings.hasPrefix(format.beginning, bosToken)
        case .chatML, .qwen3: false
        }
    }

    /// The prompt for `messages`.
    ///
    /// - Parameters:
    ///   - addGenerationPrompt: end with the start of an assistant turn, for the model to continue.
    ///   - enableThinking: Qwen3's switch; `false` asks for an answer without reasoning, nil leaves
    ///     the template's default (thinking). Other families ignore it.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool = true, enableThinking: Bool? = nil) throws -> String {
        guard !messages.isEmpty else { throw ChatTemplateError.emptyConversation }
        switch family {
        case .chatML(let defaultSystemPrompt, let toolResultsAsUserTurn):
            return renderChatML(messages, addGenerationPrompt, defaultSystemPrompt, toolResultsAsUserTurn)
        case .qwen3:
            return renderQwen3(messages, addGenerationPrompt, enableThinking)
        case .llama31(let fixedDate):
            return renderLlama31(messages, addGenerationPrompt, date: fixedDate ?? dateString ?? ChatTemplate.today())
        case .llama3:
            return renderLlama3(messages, addGenerationPrompt)
        case .gemma3(let separator):
            return try renderGemma(messages, addGenerationPrompt, systemSeparator: separator)
        case .gemma:
            return try renderGemma(messages, addGenerationPrompt, systemSeparator: nil)
        case .custom(let format):
            return try format.render(messages, addGenerationPrompt: addGenerationPrompt)
        }
    }

    /// Today's local date as `strftime("%d %b %Y")` writes it in the C locale ("26 Jul 2024").
    static func today() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let day = parts.tm_mday < 10 ? "0\(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(day) \(months[Int(parts.tm_mon)]) \(1900 + Int(parts.tm_year))"
    }
}
