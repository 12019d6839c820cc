extension Tokenizer {
    /// The prompt ids of a conversation: `messages` rendered with `template`, then encoded with
    /// control tokens parsed and BOS added only when the template does not write it already
    /// (``ChatTemplate/includesBOS``; Llama 3 and Gemma write it, ChatML does not). This is how
    /// llama.cpp's chat examples tokenize a templated prompt, and the one place the SDK applies
    /// that rule.
    ///
    /// ```swift
    /// let ids = try tokenizer.encode(messages: [.user("Hi!")], template: ChatTemplate(gguf: file))
    /// ```
    ///
    /// - Parameters:
    ///   - addGenerationPrompt: end with the start of an assistant turn, for the model to continue.
    ///   - enableThinking: Qwen3's switch (see ``ChatTemplate/render(messages:addGenerationPrompt:enableThinking:)``).
    /// - Throws: `ChatTemplateError` when the template cannot render the conversation.
    public func encode(messages: [ChatMessage], template: ChatTemplate, addGenerationPrompt: Bool = true,
                       enableThinking: Bool? = nil) throws -> [Int32] {
        let text = try template.render(messages: messages, addGenerationPrompt: addGenerationPrompt, enableThinking: enableThinking)
        return encode(text, addSpecial: !template.includesBOS, parseSpecial: true)
    }

    /// The tokens a templated conversation starts with when its pieces are encoded one by one
    /// (training data): BOS when this tokenizer adds one and `template` does not write it, the
    /// same rule as ``encode(messages:template:addGenerationPrompt:enableThinking:)``.
    public func chatPrefix(template: ChatTemplate) -> [Int32] {
        if !template.includesBOS, addsBOS, let bos { return [bos] }
        return []
    }
}
