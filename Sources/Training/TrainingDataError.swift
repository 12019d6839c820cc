import Adapters
import LocoSupport
/// Why a training data file cannot be used, naming the file, the 1-based line and what was wrong.
///
/// ``ChatDataset`` reads every line and stops at the first bad one: a line is never dropped
/// silently, so a training run always sees the data the file says it holds.
public struct TrainingDataError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The line is not JSON; `message` says where reading stopped.
        case invalidJSON(String)
        /// The line is JSON but not an object; `found` names what it is ("an array").
        case notAnObject(found: String)
        /// Neither `messages` nor `conversations` is present.
        case missingConversation
        /// Both `messages` and `conversations` are present, so which one to train on is unclear.
        case ambiguousConversation
        /// A value of the wrong type: `key` is a path such as `messages[2].content`.
        case invalidValue(key: String, found: String, expected: String)
        /// A message (0-based `message`) without `key` (`role`/`content`, or `from`/`value`).
        case missingKey(key: String, message: Int)
        /// A role (or ShareGPT `from`) this loader does not know.
        case unknownRole(String, message: Int)
        /// A conversation with no messages.
        case emptyConversation
        /// A conversation with no assistant message: nothing in it would be trained.
        case noAssistantMessage
        /// The chat template cannot render the conversation (roles out of order for the template, say).
        case template(String)
        /// Rendering the conversation up to assistant message `message` (0-based) with the
        /// generation prompt is not a prefix of rendering it with that message, so the
        /// assistant's tokens cannot be told apart from the rest.
        case templateNotPrefixStable(message: Int)
        /// After cutting the sequence to `maxSequenceLength` tokens (it had `tokens`), no
        /// assistant token is left.
        case nothingTrainedAfterTruncation(tokens: Int, maxSequenceLength: Int)
        /// The file holds no conversation at all.
        case noConversations
        case io(operation: String, path: String, errno: Int32, message: String)
    }

    public var kind: Kind
    /// The data file, when the data came from one.
    public var path: String?
    /// The 1-based line, when the error is about one line.
    public var line: Int?

    public init(_ kind: Kind, path: String? = nil, line: Int? = nil) {
        self.kind = kind
        self.path = path
        self.line = line
    }

    /// `path:line: message`, with the parts that are known.
    public var description: String {
        var location = path ?? ""
        if let line { location += (location.isEmpty ? "line " : ":") + "\(line)" }
        return (location.isEmpty ? "" : location + ": ") + kind.message
    }
}

extension TrainingDataError.Kind {
    var message: String {
        switch self {
        case .invalidJSON(let message):
            return "not JSON: \(message)"
        case .notAnObject(let found):
            return "expected a JSON object with \"messages\" or \"conversations\", found \(found)"
        case .missingConversation:
            return "expected a \"messages\" or \"conversations\" key"
        case .ambiguousConversation:
            return "both \"messages\" and \"conversations\" are present; give only one"
        case .invalidValue(let key, let found, let expected):
            return "\(key) is \(found), expected \(expected)"
        case .missingKey(let key, let message):
            return "message \(message) has no \"\(key)\""
        case .unknownRole(let role, let message):
            return "message \(message) has the unknown role \"\(role)\" "
                + "(known: system, user, assistant, tool; ShareGPT from: system, human, gpt)"
        case .emptyConversation:
            return "the conversation has no messages"
        case .noAssistantMessage:
            return "the conversation has no assistant message, so nothing in it would be trained"
        case .template(let message):
            return "the chat template cannot render the conversation: \(message)"
        case .templateNotPrefixStable(let message):
            return "the chat template does not render the conversation before assistant message \(message) "
                + "as a prefix of the conversation with it, so the assistant tokens cannot be located"
        case .nothingTrainedAfterTruncation(let tokens, let maxSequenceLength):
            return "the conversation has \(tokens) tokens and none of the first \(maxSequenceLength) is an assistant token; "
                + "raise --max-seq-len or shorten the conversation"
        case .noConversations:
            return "the file holds no conversations"
        case .io(let operation, let path, let errno, let message):
            return "cannot \(operation) \(path): \(message) (errno \(errno))"
        }
    }
}
