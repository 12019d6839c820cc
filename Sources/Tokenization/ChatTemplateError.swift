/// Why a chat template could not be recognized or a conversation could not be rendered.
public enum ChatTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The model file has no `tokenizer.chat_template`.
    case noTemplate(path: String?)
    /// The template is not one of the families this SDK renders; `excerpt` is its beginning.
    case unrecognizedTemplate(excerpt: String)
    /// The conversation has no messages.
    case emptyConversation
    /// The template has no place for a system message (Gemma 1 and 2).
    case systemRoleNotSupported
    /// The template wants user and assistant turns to alternate, starting with the user (Gemma).
    case rolesMustAlternate(messageIndex: Int)
    /// A custom template has no format for this role.
    case unsupportedRole(ChatMessage.Role)
    /// A template asked for by a name that is not one of ``ChatTemplate/familyNames``.
    case unknownName(String)

    public var description: String {
        let help = "supply a format with ChatTemplate.custom(_:)"
        switch self {
        case .noTemplate(let path):
            return (path.map { "\($0): " } ?? "")
                + "the model file has no tokenizer.chat_template (a base model?); name a family for it (loco's --chat-template, "
                + "ChatTemplate(named:gguf:): \(ChatTemplate.familyNames.joined(separator: ", "))) or " + help
        case .unrecognizedTemplate(let excerpt):
            return "unrecognized chat template (not ChatML, Qwen3, Llama 3 or Gemma): \(excerpt.debugDescription); " + help
        case .emptyConversation:
            return "the conversation has no messages"
        case .systemRoleNotSupported:
            return "this template does not support a system message (Gemma 1 and 2): put it in the first user message"
        case .rolesMustAlternate(let index):
            return "message \(index): conversation roles must alternate user/assistant/user/assistant/..."
        case .unsupportedRole(let role):
            return "the chat format has no turn format for role '\(role)'"
        case .unknownName(let name):
            return "no chat template is named '\(name)' (known: \(ChatTemplate.familyNames.joined(separator: ", ")))"
        }
    }
}
