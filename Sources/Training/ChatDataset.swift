import Inference
import Tokenization
import Adapters
import LocoSupport

/// One training example: a rendered conversation's token ids and which of them the loss counts.
public struct TrainingSequence: Sendable, Hashable {
    /// The token ids of the whole rendered conversation, cut to the dataset's maximum length.
    public let tokens: [Int]
    /// The same length as `tokens`: `trained[i]` is true when token `i` is an assistant token
    /// whose prediction (from position `i - 1`) counts in the loss. `trained[0]` is always false:
    /// nothing predicts the first token.
    public let trained: [Bool]

    /// A sequence from its tokens and mask; the two must have the same length and `trained[0]`
    /// must be false.
    public init(tokens: [Int], trained: [Bool]) {
        precondition(tokens.count == trained.count, "a training sequence needs one mask entry per token")
        precondition(trained.first != true, "the first token of a training sequence cannot be trained")
        self.tokens = tokens
        self.trained = trained
    }

    /// The number of tokens the loss counts.
    public var trainedCount: Int { trained.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// Chat training data from a JSONL file, rendered with a model's chat template and tokenized, with
/// the loss on the assistant's tokens only.
///
/// Each non-blank line is one conversation, in either form:
///
/// ```
/// {"messages": [{"role": "user", "content": "2 + 3?"}, {"role": "assistant", "content": "5"}]}
/// {"conversations": [{"from": "human", "value": "2 + 3?"}, {"from": "gpt", "value": "5"}]}
/// ```
///
/// Roles are `system`, `user`, `assistant` and `tool`; ShareGPT's `from` is `system`, `human`
/// (user) or `gpt` (assistant), and either form may be used in `conversations`. Other top-level
/// keys and other message keys are ignored. A line that cannot be used throws a
/// ``TrainingDataError`` naming the file and line; none is skipped.
///
/// The assistant's tokens are found by rendering prefixes: for assistant message `i`, the
/// conversation before it with the generation prompt must be a prefix of the conversation through
/// it. The text between is the assistant's turn; it is trained up to and including the first
/// end-of-generation token the template writes after the content (`<|im_end|>` for ChatML), so the
/// model learns to stop (a turn without one is trained whole). The pieces are tokenized one by one and joined. BOS is added only when
/// the tokenizer wants it and the template does not write it. An assistant message that opens the
/// conversation has no prompt before it and is context, not trained.
///
/// ```swift
/// let data = try ChatDataset(contentsOf: "train.jsonl", template: template, tokenizer: tokenizer,
///                            maxSequenceLength: 512)
/// let (train, validation) = data.split(validationFraction: 0.1, seed: 1)
/// ```
public struct ChatDataset: Sendable {
    /// One sequence per conversation, in file order.
    public let sequences: [TrainingSequence]
    /// The 1-based line each sequence came from.
    public let lineNumbers: [Int]
    /// The SHA-256 of the file's bytes, as lowercase hex: which data an adapter was trained on.
    public let sha256: String
    /// The file, when the data came from one.
    public let path: String?
    /// How many sequences were cut to the maximum length (their first tokens kept).
    public let truncatedCount: Int

    /// Files larger than this are refused rather than read into memory.
    static let maximumFileBytes = 1 << 32

    /// Reads and tokenizes the JSONL file at `path`.
    ///
    /// - Parameter maxSequenceLength: sequences longer than this keep their first
    ///   `maxSequenceLength` tokens (at least 2).
    /// - Throws: ``TrainingDataError`` for an unreadable file or the first unusable line.
    public init(contentsOf path: String, template: ChatTemplate, tokenizer: Tokenizer, maxSequenceLength: Int) throws {
        try self.init(jsonl: ChatDataset.readFile(path), source: path, template: template, tokenizer: tokenizer, maxSequenceLength: maxSequenceLength)
    }

    /// Tokenizes JSONL text; `source` names it in errors and becomes `path`.
    public init(jsonl bytes: [UInt8], source: String?, template: ChatTemplate, tokenizer: Tokenizer, maxSequenceLength: Int) throws {
        precondition(maxSequenceLength >= 2, "maxSequenceLength must be at least 2")
        var sequences: [TrainingSequence] = []
        var lineNumbers: [Int] = []
        var truncated = 0
        for (line, messages) in try ChatDataset.numberedConversations(jsonl: bytes, source: source) {
            do {
                var sequence = try ChatDataset.tokenize(messages, template: template, tokenizer: tokenizer)
                if sequence.tokens.count > maxSequenceLength {
                    let cut = TrainingSequence(tokens: Array(sequence.tokens.prefix(maxSequenceLength)),
                                               trained: Array(sequence.trained.prefix(maxSequenceLength)))
                    guard cut.trainedCount > 0 else {
                        throw TrainingDataError(.nothingTrainedAfterTruncation(tokens: sequence.tokens.count,
                                                                               maxSequenceLength: maxSequenceLength))
                    }
                    sequence = cut
                    truncated += 1
                }
                sequences.append(sequence)
                lineNumbers.append(line)
            } catch var error as TrainingDataError {
                error.path = source
                error.line = line
                throw error
            }
        }
        guard !sequences.isEmpty else { throw TrainingDataError(.noConversations, path: source) }
        self.sha256 = ChatDataset.sha256(bytes)
        self.sequences = sequences
        self.lineNumbers = lineNumbers
        self.path = source
        self.truncatedCount = truncated
    }

    /// The conversations of JSONL text, in order, checked as the dataset checks them (but not
    /// rendered).
    ///
    /// - Throws: ``TrainingDataError`` naming `source` and the line of the first unusable one.
    public static func parseConversations(jsonl bytes: [UInt8], source: String?) throws -> [[ChatMessage]] {
        try numberedConversations(jsonl: bytes, source: source).map(\.messages)
    }

    /// A deterministic split for `seed`: every sequence lands in exactly one part, each part keeps
    /// file order. The validation part has `validationFraction` of the sequences, rounded, and
    /// at least one when there are two or more sequences and the fraction is positive; the
    /// training part always keeps at least one.
    public func split(validationFraction: Double, seed: UInt64) -> (train: [TrainingSequence], validation: [TrainingSequence]) {
        TrainingSequence.split(sequences, validationFraction: validationFraction, seed: seed)
    }
}

extension TrainingSequence {
    /// The split of ``ChatDataset/split(validationFraction:seed:)`` for any list of sequences.
    public static func split(_ sequences: [TrainingSequence], validationFraction: Double, seed: UInt64)
        -> (train: [TrainingSequence], validation: [TrainingSequence])
    {
        let n = sequences.count
        var count = 0
        if validationFraction > 0, n >= 2 {
            count = max(1, min(n - 1, Int((min(validationFraction, 1) * Double(n)).rounded())))
        }
        // A seeded hash per index orders the sequences; the first `count` are held out.
        let key = { (i: Int) in SplitMix64.mix(seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15) }
        let order = (0..<n).sorted { (key($0), $0) < (key($1), $1) }
        let heldOut = Set(order.prefix(count))
        var train: [TrainingSequence] = [], validation: [TrainingSequence] = []
        for (i, sequence) in sequences.enumerated() {
            if heldOut.contains(i) { validation.append(sequence) } else { train.append(sequence) }
        }
        return (train, validation)
    }
}

// MARK: Reading lines

extension ChatDataset {
    /// Each non-blank line's conversation with its 1-based line number.
    static func numberedConversations(jsonl bytes: [UInt8], source: String?) throws -> [(line: Int, messages: [ChatMessage])] {
        try numberedLines(jsonl: bytes, source: source, conversation).map { (line: $0.line, messages: $0.value) }
    }

    /// `parse` of each non-blank line of JSONL text with its 1-based line number (a UTF-8 byte
    /// order mark and CR before LF are not part of a line). A ``TrainingDataError`` from `parse`
    /// gets `source` and the line.
    static func numberedLines<Value>(jsonl bytes: [UInt8], source: String?, _ parse: ([UInt8]) throws -> Value) throws
        -> [(line: Int, value: Value)]
    {
        var result: [(line: Int, value: Value)] = []
        var start = 0
        var line = 0
        // A UTF-8 byte order mark before the first line is not part of it.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        while start < bytes.count {
            line += 1
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            var text = bytes[start..<end]
            if text.last == 0x0D { text = text.dropLast() }
            start = end + 1
            guard !text.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { continue }
            do {
                result.append((line, try parse(Array(text))))
            } catch var error as TrainingDataError {
                error.path = source
                error.line = line
                throw error
            }
        }
        return result
    }

    /// The bytes of the data file at `path` (at most ``maximumFileBytes``).
    static func readFile(_ path: String) throws -> [UInt8] {
        do {
            return try FileSystem.read(path, limit: ChatDataset.maximumFileBytes)
        } catch {
            throw TrainingDataError(.io(operation: error.operation, path: error.path, errno: error.code, message: error.message))
        }
    }

    /// Hex SHA-256 of a data file's bytes.
    static func sha256(_ bytes: [UInt8]) -> String {
        ContentHash.sha256(bytes)
    }

    /// The messages of one line's JSON.
    static func conversation(_ text: [UInt8]) throws -> [ChatMessage] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(text)
        } catch {
            throw TrainingDataError(.invalidJSON(error.description))
        }
        guard case .object(let object) = value else { throw TrainingDataError(.notAnObject(found: value.kindName)) }
        let key: String
        switch (object["messages"], object["conversations"]) {
        case (nil, nil): throw TrainingDataError(.missingConversation)
        case (.some, .some): throw TrainingDataError(.ambiguousConversation)
        case (.some, nil): key = "messages"
        case (nil, .some): key = "conversations"
        }
        guard case .array(let items) = object[key]! else {
            throw TrainingDataError(.invalidValue(key: key, found: object[key]!.kindName, expected: "an array of messages"))
        }
        guard !items.isEmpty else { throw TrainingDataError(.emptyConversation) }
        let messages = try items.enumerated().map { index, item in try message(item, index: index, path: "\(key)[\(index)]") }
        guard messages.dropFirst().contains(where: { $0.role == .assistant }) else {
            throw TrainingDataError(.noAssistantMessage)
        }
        return messages
    }

    /// One message in either form: `role`/`content`, or ShareGPT's `from`/`value`.
    private static func message(_ item: JSONValue, index: Int, path: String) throws -> ChatMessage {
        guard case .object(let object) = item else {
            throw TrainingDataError(.invalidValue(key: path, found: item.kindName, expected: "an object"))
        }
        let shareGPT = object["role"] == nil && object["content"] == nil && (object["from"] != nil || object["value"] != nil)
        let (roleKey, contentKey) = shareGPT ? ("from", "value") : ("role", "content")
        func string(_ key: String) throws -> String {
            guard let value = object[key] else { throw TrainingDataError(.missingKey(key: key, message: index)) }
            guard let text = value.string else {
                throw TrainingDataError(.invalidValue(key: "\(path).\(key)", found: value.kindName, expected: "a string"))
            }
            return text
        }
        let name = try string(roleKey)
        let content = try string(contentKey)
        let roles: [String: ChatMessage.Role] = shareGPT
            ? ["system": .system, "human": .user, "gpt": .assistant]
            : ["system": .system, "user": .user, "assistant": .assistant, "tool": .tool]
        guard let role = roles[name] else { throw TrainingDataError(.unknownRole(name, message: index)) }
        return ChatMessage(role: role, content: content)
    }
}

// MARK: Rendering and masking

extension ChatDataset {
    /// The conversation's tokens with the assistant turns marked, before truncation.
    static func tokenize(_ messages: [ChatMessage], template: ChatTemplate, tokenizer: Tokenizer) throws -> TrainingSequence {
        func render(_ part: ArraySlice<ChatMessage>, _ generationPrompt: Bool) throws -> [UInt8] {
            do {
                return Array(try template.render(messages: Array(part), addGenerationPrompt: generationPrompt).utf8)
            } catch let error as ChatTemplateError {
                throw TrainingDataError(.template(error.description))
            }
        }
        // Cut the rendered text into pieces: context, assistant turn, context, ...
        var pieces: [(text: ArraySlice<UInt8>, assistant: Bool)] = []
        var rendered: [UInt8] = []
        var lastAssistant = 0
        for i in messages.indices.dropFirst() where messages[i].role == .assistant {
            let prompt = try render(messages[..<i], true)
            let through = try render(messages[...i], false)
            guard prompt.starts(with: rendered), through.starts(with: prompt) else {
                throw TrainingDataError(.templateNotPrefixStable(message: i))
            }
            pieces.append((prompt[rendered.count...], false))
            pieces.append((through[prompt.count...], true))
            rendered = through
            lastAssistant = i
        }
        let whole = try render(messages[...], false)
        guard whole.starts(with: rendered) else { throw TrainingDataError(.templateNotPrefixStable(message: lastAssistant)) }
        pieces.append((whole[rendered.count...], false))

        var tokens: [Int] = []
        var trained: [Bool] = []
        for id in tokenizer.chatPrefix(template: template) {
            tokens.append(Int(id))
            trained.append(false)
        }
        for piece in pieces where !piece.text.isEmpty {
            let ids = tokenizer.encode(String(decoding: piece.text, as: UTF8.self), addSpecial: false, parseSpecial: true)
            // An assistant turn is trained through its first end-of-generation token; what the
            // template writes after that (a newline) is context.
            let trainedCount = piece.assistant ? (ids.firstIndex(where: tokenizer.isEndOfGeneration).map { $0 + 1 } ?? ids.count) : 0
            tokens += ids.map(Int.init)
            trained += ids.indices.map { $0 < trainedCount }
        }
        if !trained.isEmpty { trained[0] = false }
        return TrainingSequence(tokens: tokens, trained: trained)
    }
}
