extension ChatTemplate {
    /// A chat format described in plain Swift: fixed text around each turn.
    public struct Format: Sendable, Equatable {
        /// The text around one message's content.
        public struct Turn: Sendable, Equatable {
            public var prefix: String
            public var suffix: String

            public init(prefix: String, suffix: String) {
                self.prefix = prefix
                self.suffix = suffix
            }
        }

        /// Written once, before the first turn (a BOS token's text, for example).
        public var beginning: String
        /// How each role's turns are written; a message whose role is missing is an error.
        public var turns: [ChatMessage.Role: Turn]
        /// Written after the last turn when a generation prompt is asked for.
        public var generationPrompt: String
        /// A system message to put first when the conversation does not start with one.
        public var defaultSystemPrompt: String?
        /// Strip whitespace around each message's content (Python's `str.strip()`).
        public var trimsContent: Bool

        public init(beginning: String = "", turns: [ChatMessage.Role: Turn], generationPrompt: String,
                    defaultSystemPrompt: String? = nil, trimsContent: Bool = false) {
            self.beginning = beginning
            self.turns = turns
            self.generationPrompt = generationPrompt
            self.defaultSystemPrompt = defaultSystemPrompt
            self.trimsContent = trimsContent
        }

        func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
            var out = beginning
            var messages = messages
            if let defaultSystemPrompt, messages.first?.role != .system {
                messages.insert(.system(defaultSystemPrompt), at: 0)
            }
            for message in messages {
                guard let turn = turns[message.role] else { throw ChatTemplateError.unsupportedRole(message.role) }
                out += turn.prefix + (trimsContent ? PythonStrings.strip(message.content) : message.content) + turn.suffix
            }
            if addGenerationPrompt { out += generationPrompt }
            return out
        }
    }
}
