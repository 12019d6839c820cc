extension ChatTemplate {
    /// The family of a Jinja template, from the markers and constants in its text.
    static func recognize(_ source: String) throws -> Family {
        func has(_ marker: String) -> Bool { PythonStrings.contains(source, marker) }
        if has("<|im_start|>") {
            if has("enable_thinking") && has("<think>") && has("last_query_index") { return .qwen3 }
            // Other reasoning templates (QwQ, thinking-only Qwen3) render differently.
            if has("<think>") { throw unrecognized(source) }
            return .chatML(defaultSystemPrompt: defaultChatMLSystemPrompt(source), toolResultsAsUserTurn: has("<tool_response>"))
        }
        if has("<|start_header_id|>") && has("<|eot_id|>") {
            if has("Cutting Knowledge Date") {
                return .llama31(fixedDate: has("strftime_now") ? nil : quotedValue(after: "set date_string = ", in: source))
            }
            return .llama3
        }
        if has("<start_of_turn>") && has("<end_of_turn>") {
            if has("first_user_prefix") {
                guard let separator = quotedValue(after: "messages[0]['content'] + ", in: source) else { throw unrecognized(source) }
                return .gemma3(separator: separator)
            }
            return .gemma
        }
        throw unrecognized(source)
    }

    private static func unrecognized(_ source: String) -> ChatTemplateError {
        .unrecognizedTemplate(excerpt: String(source.unicodeScalars.prefix(120)))
    }

    /// The literal system message a ChatML template writes when the conversation has none: the
    /// text of a string literal `'<|im_start|>system\n...<|im_end|>'` with nothing spliced in.
    static func defaultChatMLSystemPrompt(_ source: String) -> String? {
        let marker = "<|im_start|>system"
        for part in PythonStrings.split(source, marker).dropFirst() {
            var rest = Substring(part)
            if rest.hasPrefix("\\n") {
                rest = rest.dropFirst(2)
            } else if rest.unicodeScalars.first == "\n" {
                rest = Substring(rest.unicodeScalars.dropFirst())
            } else {
                continue
            }
            let pieces = PythonStrings.split(String(rest), "<|im_end|>")
            guard pieces.count > 1 else { continue }
            let candidate = pieces[0]
            if candidate.isEmpty || candidate.contains(where: { "'\"{}+".contains($0) }) { continue }
            return unescape(candidate)
        }
        return nil
    }

    /// The contents of the quoted string right after `prefix` in `source`.
    static func quotedValue(after prefix: String, in source: String) -> String? {
        let parts = PythonStrings.split(source, prefix)
        guard parts.count > 1, let quote = parts[1].unicodeScalars.first, quote == "'" || quote == "\"" else { return nil }
        var value = String.UnicodeScalarView()
        var escaped = false
        for scalar in parts[1].unicodeScalars.dropFirst() {
            if escaped {
                value.append("\\")
                value.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == quote {
                return unescape(String(value))
            } else {
                value.append(scalar)
            }
        }
        return nil
    }

    /// Jinja string-literal escapes (`\n`, `\t`, `\\`, `\'`, `\"`).
    static func unescape(_ literal: String) -> String {
        var out = String.UnicodeScalarView()
        var escaped = false
        for scalar in literal.unicodeScalars {
            if escaped {
                switch scalar {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                default: out.append(scalar)
                }
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
