/// The renderers, one per family. Each follows its Jinja original step by step; comments name the
/// template behavior they reproduce.
extension ChatTemplate {
    /// SmolLM2 and Qwen2.5: every message as `<|im_start|>role\ncontent<|im_end|>\n`.
    func renderChatML(_ messages: [ChatMessage], _ addGenerationPrompt: Bool, _ defaultSystemPrompt: String?,
                      _ toolResultsAsUserTurn: Bool) -> String {
        var out = ""
        if let defaultSystemPrompt, messages[0].role != .system {
            out += "<|im_start|>system\n" + defaultSystemPrompt + "<|im_end|>\n"
        }
        for (i, message) in messages.enumerated() {
            if toolResultsAsUserTurn {
                // Qwen: tool results join one user turn; roles it does not know are left out.
                switch message.role {
                case .system, .user, .assistant:
                    out += "<|im_start|>" + message.role.rawValue + "\n" + message.content + "<|im_end|>\n"
                case .tool:
                    out += qwenToolResult(messages, i)
                default:
                    break
                }
            } else {
                out += "<|im_start|>" + message.role.rawValue + "\n" + message.content + "<|im_end|>\n"
            }
        }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }

    /// Qwen3 (hybrid thinking), as its template renders conversations without tools.
    func renderQwen3(_ messages: [ChatMessage], _ addGenerationPrompt: Bool, _ enableThinking: Bool?) -> String {
        var out = ""
        if messages[0].role == .system {
            out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n"
        }
        // The last user message that is not a tool response: reasoning is kept only after it.
        var lastQuery = messages.count - 1
        for (index, message) in messages.enumerated().reversed() where message.role == .user {
            let isToolResponse = PythonStrings.hasPrefix(message.content, "<tool_response>")
                && PythonStrings.hasSuffix(message.content, "</tool_response>")
            if !isToolResponse {
                lastQuery = index
                break
            }
        }
        for (i, message) in messages.enumerated() {
            switch message.role {
            case .user:
                out += "<|im_start|>user\n" + message.content + "<|im_end|>\n"
            case .system:
                // The first system message went out above.
                if i > 0 { out += "<|im_start|>system\n" + message.content + "<|im_end|>\n" }
            case .assistant:
                var content = message.content
                var reasoning = ""
                if let given = message.reasoning {
                    reasoning = given
                } else if PythonStrings.contains(content, "</think>") {
                    let parts = PythonStrings.split(content, "</think>")
                    content = PythonStrings.stripNewlines(parts.last!, trailing: false)
                    let beforeEnd = PythonStrings.stripNewlines(parts[0], leading: false)
                    reasoning = PythonStrings.stripNewlines(PythonStrings.split(beforeEnd, "<think>").last!, trailing: false)
                }
                if i > lastQuery && (i == messages.count - 1 || !reasoning.isEmpty) {
                    out += "<|im_start|>assistant\n<think>\n" + PythonStrings.stripNewlines(reasoning) + "\n</think>\n\n"
                        + PythonStrings.stripNewlines(content, trailing: false)
                } else {
                    out += "<|im_start|>assistant\n" + content
                }
                out += "<|im_end|>\n"
            case .tool:
                out += qwenToolResult(messages, i)
            default:
                break
            }
        }
        if addGenerationPrompt {
            out += "<|im_start|>assistant\n"
            if enableThinking == false { out += "<think>\n\n</think>\n\n" }
        }
        return out
    }

    /// Qwen's tool results: consecutive ones share one user turn.
    private func qwenToolResult(_ messages: [ChatMessage], _ i: Int) -> String {
        var out = ""
        if i == 0 || messages[i - 1].role != .tool { out += "<|im_start|>user" }
        out += "\n<tool_response>\n" + messages[i].content + "\n</tool_response>"
        if i == messages.count - 1 || messages[i + 1].role != .tool { out += "<|im_end|>\n" }
        return out
    }

    /// Llama 3.1, 3.2, 3.3 without tools: the system header always comes first, with the
    /// (trimmed) system message after the dates.
    func renderLlama31(_ messages: [ChatMessage], _ addGenerationPrompt: Bool, date: String) -> String {
        var out = bosToken
        var rest = messages[...]
        var systemMessage = ""
        if messages[0].role == .system {
            systemMessage = PythonStrings.strip(messages[0].content)
            rest = messages.dropFirst()
        }
        out += "<|start_header_id|>system<|end_header_id|>\n\n"
        out += "Cutting Knowledge Date: December 2023\nToday Date: " + date + "\n\n"
        out += systemMessage + "<|eot_id|>"
        for message in rest {
            out += llama3Turn(message)
        }
        if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        return out
    }

    /// Llama 3.0: BOS, then every message as a header and its trimmed content.
    func renderLlama3(_ messages: [ChatMessage], _ addGenerationPrompt: Bool) -> String {
        var out = bosToken
        for message in messages {
            out += "<|start_header_id|>" + message.role.rawValue + "<|end_header_id|>\n\n"
                + PythonStrings.strip(message.content) + "<|eot_id|>"
        }
        if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        return out
    }

    /// One Llama 3.1+ turn. Tool results go under the `ipython` header; the template writes a
    /// string content through `tojson` there (a string is iterable in Jinja).
    private func llama3Turn(_ message: ChatMessage) -> String {
        if message.role == .tool || message.role.rawValue == "ipython" {
            return "<|start_header_id|>ipython<|end_header_id|>\n\n" + PythonStrings.json(message.content) + "<|eot_id|>"
        }
        return "<|start_header_id|>" + message.role.rawValue + "<|end_header_id|>\n\n"
            + PythonStrings.strip(message.content) + "<|eot_id|>"
    }

    /// Gemma: turns alternate user/model starting with the user; `systemSeparator` nil means a
    /// system message is an error (Gemma 1, 2), else it opens the first turn (Gemma 3).
    func renderGemma(_ messages: [ChatMessage], _ addGenerationPrompt: Bool, systemSeparator: String?) throws -> String {
        var out = bosToken
        var rest = messages[...]
        var firstUserPrefix = ""
        if messages[0].role == .system {
            guard let systemSeparator else { throw ChatTemplateError.systemRoleNotSupported }
            firstUserPrefix = messages[0].content + systemSeparator
            rest = messages.dropFirst()
        }
        for (position, message) in rest.enumerated() {
            if (message.role == .user) != (position % 2 == 0) {
                throw ChatTemplateError.rolesMustAlternate(messageIndex: rest.startIndex + position)
            }
            let role = message.role == .assistant ? "model" : message.role.rawValue
            out += "<start_of_turn>" + role + "\n" + (position == 0 ? firstUserPrefix : "")
            out += PythonStrings.strip(message.content) + "<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
        return out
    }
}
