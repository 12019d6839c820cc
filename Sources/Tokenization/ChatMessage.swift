/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    /// Who speaks: `system`, `user`, `assistant` and `tool` are the roles the templates know;
    /// any other name is passed through where a template allows it.
    public struct Role: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { rawValue = value }
        public var description: String { rawValue }

        public static let system = Role(rawValue: "system")
        public static let user = Role(rawValue: "user")
        public static let assistant = Role(rawValue: "assistant")
        /// A tool's result, answering the assistant's call.
        public static let tool = Role(rawValue: "tool")
    }

    public var role: Role
    public var content: String
    /// An assistant turn's reasoning, kept apart from its answer (Qwen3's `reasoning_content`).
    /// Without it, Qwen3 reads reasoning from `<think>...</think>` at the start of `content`.
    public var reasoning: String?

    public init(role: Role, content: String, reasoning: String? = nil) {
        self.role = role
        self.content = content
        self.reasoning = reasoning
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: .system, content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: .user, content: content) }
    public static func assistant(_ content: String, reasoning: String? = nil) -> ChatMessage {
        ChatMessage(role: .assistant, content: content, reasoning: reasoning)
    }
    public static func tool(_ content: String) -> ChatMessage { ChatMessage(role: .tool, content: content) }
}
