import LocoSupport
import Tokenization

/// One item of an evaluation suite: what to ask, how to score the answer.
///
/// A suite is JSONL, one item a line (see `Documentation/Evaluation.md` for the whole schema):
///
/// ```json
/// {"id": "gsm-1", "prompt": "Tom has 3 apples and buys 4 more. How many?", "type": "numeric", "answer": 7}
/// {"id": "cap-1", "messages": [{"role": "user", "content": "Capital of France?"}], "type": "contains", "answer": "Paris"}
/// {"id": "arc-1", "prompt": "Question: Which gas do plants take in?\nAnswer:", "type": "multiple_choice",
///  "choices": ["oxygen", "carbon dioxide", "helium"], "answer": 1}
/// {"id": "he-0", "prompt": "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n", "type": "code",
///  "tests": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"}
/// ```
public struct SuiteItem: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// The reply's number (see ``AnswerExtraction``) within a tolerance of the answer.
        case numeric
        /// The reply, normalized, equals the answer (or one of several).
        case exact
        /// The reply, normalized, contains the answer (or one of several).
        case contains
        /// No generation: the choice whose continuation of the prompt is most likely.
        case multipleChoice = "multiple_choice"
        /// The completion passes the item's tests, run in a child process (pass@1).
        case code
    }

    /// What the model is given: a prompt (a user turn, or the raw text continued for multiple
    /// choice and code) or a whole conversation.
    public enum Prompt: Sendable, Equatable {
        case text(String)
        case messages([ChatMessage])
    }

    public var id: String
    public var prompt: Prompt
    public var kind: Kind
    /// numeric: the number; exact and contains: the accepted texts.
    public var answers: [String]
    public var number: Double?
    /// Absolute tolerance of a numeric answer (default: 1e-6 times max(1, |answer|)).
    public var tolerance: Double?
    /// multiple_choice: the continuations, and the index of the right one.
    public var choices: [String]
    public var correctChoice: Int?
    /// code: the tests (a `check(candidate)` function, as HumanEval writes them) and the name
    /// of the function they check.
    public var tests: String?
    public var entryPoint: String?

    public init(id: String, prompt: Prompt, kind: Kind, answers: [String] = [], number: Double? = nil, tolerance: Double? = nil,
                choices: [String] = [], correctChoice: Int? = nil, tests: String? = nil, entryPoint: String? = nil) {
        self.id = id
        self.prompt = prompt
        self.kind = kind
        self.answers = answers
        self.number = number
        self.tolerance = tolerance
        self.choices = choices
        self.correctChoice = correctChoice
        self.tests = tests
        self.entryPoint = entryPoint
    }
}

/// A suite read from JSONL: its items, in file order, and what identifies the file.
public struct EvaluationSuite: Sendable {
    public var items: [SuiteItem]
    /// The file's name without folders and extension (or "suite").
    public var name: String
    /// SHA-256 of the file's bytes (a resumed run checks it).
    public var sha256: String

    public static let keys: Set<String> = ["id", "prompt", "messages", "type", "answer", "choices", "tolerance", "tests",
                                           "entry_point", "metadata"]

    public init(items: [SuiteItem], name: String, sha256: String) {
        self.items = items
        self.name = name
        self.sha256 = sha256
    }

    public init(contentsOf path: String) throws(EvaluationDataError) {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: 1 << 30) } catch {
            throw EvaluationDataError(path: path, line: nil, message: error.description)
        }
        let file = path.split(separator: "/").last.map(String.init) ?? "suite"
        try self.init(jsonl: bytes, source: path,
                      name: file.hasSuffix(".jsonl") ? String(file.dropLast(6)) : file)
    }

    /// Reads every line; the first malformed one is an error naming its line, and then no item
    /// is returned at all (a suite is scored whole or not at all).
    public init(jsonl bytes: [UInt8], source: String? = nil, name: String = "suite") throws(EvaluationDataError) {
        var items: [SuiteItem] = [], ids = Set<String>()
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { $0 > 0x20 }) else { continue }
            let item = try Self.item(Array(line), line: index + 1, source: source)
            guard ids.insert(item.id).inserted else {
                throw EvaluationDataError(path: source, line: index + 1, message: "the id \"\(item.id)\" is used twice")
            }
            items.append(item)
        }
        guard !items.isEmpty else { throw EvaluationDataError(path: source, line: nil, message: "the suite has no items") }
        self.init(items: items, name: name, sha256: ContentHash.sha256(bytes))
    }

    static func item(_ line: [UInt8], line number: Int, source: String?) throws(EvaluationDataError) -> SuiteItem {
        func invalid(_ message: String) -> EvaluationDataError { EvaluationDataError(path: source, line: number, message: message) }
        guard case .object(let object)? = try? JSONParser.parse(line) else { throw invalid("not a JSON object") }
        for key in object.keys where !keys.contains(key) {
            throw invalid("unknown key \"\(key)\" (expected \(keys.sorted().joined(separator: ", ")))")
        }
        let id: String
        switch object["id"] {
        case .string(let text)? where !text.isEmpty: id = text
        case .number(let text)?: id = text
        default: throw invalid("no \"id\" (a non-empty string or a number)")
        }
        guard let typeName = object["type"]?.string else { throw invalid("no \"type\"") }
        guard let kind = SuiteItem.Kind(rawValue: typeName) else {
            throw invalid("unknown type \"\(typeName)\" (expected \(SuiteItem.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let prompt: SuiteItem.Prompt
        switch (object["prompt"], object["messages"]) {
        case (.string(let text)?, nil) where !text.isEmpty:
            prompt = .text(text)
        case (nil, .array(let list)?) where !list.isEmpty:
            var messages: [ChatMessage] = []
            for (i, entry) in list.enumerated() {
                guard case .object(let message) = entry, let role = message["role"]?.string, let content = message["content"]?.string else {
                    throw invalid("messages[\(i)] is not {\"role\": ..., \"content\": ...}")
                }
                messages.append(ChatMessage(role: ChatMessage.Role(rawValue: role), content: content))
            }
            prompt = .messages(messages)
        case (nil, nil): throw invalid("no \"prompt\" and no \"messages\"")
        case (.some, .some): throw invalid("both \"prompt\" and \"messages\" (give one)")
        default: throw invalid("\"prompt\" must be a non-empty string, \"messages\" a non-empty array")
        }
        var item = SuiteItem(id: id, prompt: prompt, kind: kind)
        switch kind {
        case .numeric:
            switch object["answer"] {
            case .number(let text)?: item.number = Double(text)
            case .string(let text)?: item.number = AnswerExtraction.number(in: text)
            default: break
            }
            guard item.number != nil else { throw invalid("a numeric item needs a number \"answer\"") }
            if let tolerance = object["tolerance"] {
                guard case .number(let text) = tolerance, let value = Double(text), value >= 0 else {
                    throw invalid("\"tolerance\" must be a number >= 0")
                }
                item.tolerance = value
            }
        case .exact, .contains:
            switch object["answer"] {
            case .string(let text)?: item.answers = [text]
            case .number(let text)?: item.answers = [text]
            case .array(let list)?: item.answers = list.compactMap(\.string)
                guard item.answers.count == list.count, !list.isEmpty else { throw invalid("\"answer\" must be a string or an array of strings") }
            default: throw invalid("an \(kind.rawValue) item needs an \"answer\" string (or an array of them)")
            }
            guard item.answers.allSatisfy({ !TextNormalization.normalize($0).isEmpty }) else { throw invalid("an empty \"answer\"") }
        case .multipleChoice:
            guard case .text = prompt else { throw invalid("a multiple_choice item takes a \"prompt\" (the text the choices continue)") }
            guard case .array(let list)? = object["choices"], list.count >= 2, list.allSatisfy({ $0.string?.isEmpty == false }) else {
                throw invalid("a multiple_choice item needs \"choices\": at least two non-empty strings")
            }
            item.choices = list.compactMap(\.string)
            switch object["answer"] {
            case .number(let text)?:
                guard let index = Int(text), item.choices.indices.contains(index) else {
                    throw invalid("\"answer\" \(text) is not an index of the \(item.choices.count) choices (0-based)")
                }
                item.correctChoice = index
            case .string(let text)?:
                guard let index = item.choices.firstIndex(of: text) else { throw invalid("\"answer\" \"\(text)\" is none of the choices") }
                item.correctChoice = index
            default: throw invalid("a multiple_choice item needs an \"answer\": a 0-based index or the right choice's text")
            }
        case .code:
            guard case .text = prompt else { throw invalid("a code item takes a \"prompt\" (the code the model completes)") }
            guard let tests = object["tests"]?.string, !tests.isEmpty else { throw invalid("a code item needs \"tests\"") }
            guard let entry = object["entry_point"]?.string, !entry.isEmpty else { throw invalid("a code item needs \"entry_point\"") }
            item.tests = tests
            item.entryPoint = entry
        }
        return item
    }
}
