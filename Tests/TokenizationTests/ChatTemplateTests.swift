import Testing
@testable import Tokenization

/// Recognition of the committed templates and the renderers' output on small conversations.
/// (ChatTemplateParityTests compares every family with jinja2 on many more.)
@Suite struct ChatTemplateTests {
    static func template(_ name: String, bos: String = "", eos: String = "") throws -> ChatTemplate {
        var template = try ChatTemplate(recognizing: TokenizerFixtures.template(name), bosToken: bos, eosToken: eos)
        template.dateString = "26 Nov 2026"
        return template
    }

    static let conversation: [ChatMessage] = [.system("Be brief."), .user("Hi!"), .assistant("Hello."), .user("Bye?")]

    @Test func recognizesTheFamilies() throws {
        #expect(try Self.template("HuggingFaceTB-SmolLM2-135M-Instruct").family
            == .chatML(defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face", toolResultsAsUserTurn: false))
        #expect(try Self.template("Qwen-Qwen2.5-7B-Instruct").family
            == .chatML(defaultSystemPrompt: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", toolResultsAsUserTurn: true))
        #expect(try Self.template("Qwen-Qwen3-0.6B").family == .qwen3)
        #expect(try Self.template("meta-llama-Llama-3.2-3B-Instruct").family == .llama31(fixedDate: nil))
        #expect(try Self.template("meta-llama-Llama-3.1-8B-Instruct").family == .llama31(fixedDate: "26 Jul 2024"))
        #expect(try Self.template("meta-llama-Meta-Llama-3-8B-Instruct").family == .llama3)
        #expect(try Self.template("google-gemma-3-it").family == .gemma3(separator: "\n\n"))
        #expect(try Self.template("google-gemma-2-2b-it").family == .gemma)
    }

    /// A family named (`--chat-template`, for base models whose file has none) is the family the
    /// model's own template is recognized as.
    @Test func namedFamiliesAreTheRecognizedOnes() throws {
        for (name, fixture) in [("qwen3", "Qwen-Qwen3-0.6B"), ("llama3", "meta-llama-Meta-Llama-3-8B-Instruct"),
                                ("llama3.1", "meta-llama-Llama-3.1-8B-Instruct"), ("gemma3", "google-gemma-3-it"),
                                ("gemma", "google-gemma-2-2b-it")] {
            #expect(try ChatTemplate(named: name).family == Self.template(fixture).family, "\(name)")
        }
        #expect(try ChatTemplate(named: "ChatML").family == .chatML(defaultSystemPrompt: nil, toolResultsAsUserTurn: false))
        #expect(ChatTemplate.familyNames == ["chatml", "gemma", "gemma3", "llama3", "llama3.1", "qwen3"])
        #expect(throws: ChatTemplateError.unknownName("phi3")) { try ChatTemplate(named: "phi3") }
        #expect(ChatTemplateError.unknownName("phi3").description.contains("known: chatml, gemma, gemma3"))
    }

    @Test func unknownTemplatesAreErrors() {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(recognizing: "{{ messages[0].content }}") }
        // A reasoning ChatML template that is not Qwen3's hybrid one.
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(recognizing: "<|im_start|>{{ '<think>\\n' }}") }
        let error = ChatTemplateError.unrecognizedTemplate(excerpt: "x")
        #expect(error.description.contains("ChatTemplate.custom"))
    }

    @Test func smolLM2() throws {
        let template = try Self.template("HuggingFaceTB-SmolLM2-135M-Instruct")
        #expect(try template.render(messages: [.user("Hi!")]) == """
            <|im_start|>system
            You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
            <|im_start|>user
            Hi!<|im_end|>
            <|im_start|>assistant

            """)
        #expect(try template.render(messages: [.system("S"), .user("U")], addGenerationPrompt: false)
            == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n")
        #expect(!template.includesBOS)
    }

    @Test func qwen3Thinking() throws {
        let template = try Self.template("Qwen-Qwen3-0.6B")
        let messages: [ChatMessage] = [.user("2+2?"), .assistant("<think>\nadd\n</think>\n\n4"), .user("3+3?")]
        // Reasoning before the last query is dropped.
        let expected = "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\n3+3?<|im_end|>\n<|im_start|>assistant\n"
        #expect(try template.render(messages: messages) == expected)
        #expect(try template.render(messages: messages, enableThinking: false) == expected + "<think>\n\n</think>\n\n")
        // After it, kept in a think block.
        let last = try template.render(messages: [.user("q"), .assistant("a", reasoning: "\nr\n")], addGenerationPrompt: false)
        #expect(last == "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n")
    }

    @Test func llama32() throws {
        let template = try Self.template("meta-llama-Llama-3.2-3B-Instruct", bos: "<|begin_of_text|>")
        #expect(try template.render(messages: [.system("  Be brief. "), .user(" Hi! ")]) == """
            <|begin_of_text|><|start_header_id|>system<|end_header_id|>

            Cutting Knowledge Date: December 2023
            Today Date: 26 Nov 2026

            Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>

            Hi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>


            """)
        #expect(template.includesBOS)
    }

    @Test func gemma3() throws {
        let template = try Self.template("google-gemma-3-it", bos: "<bos>")
        #expect(try template.render(messages: Self.conversation) == """
            <bos><start_of_turn>user
            Be brief.

            Hi!<end_of_turn>
            <start_of_turn>model
            Hello.<end_of_turn>
            <start_of_turn>user
            Bye?<end_of_turn>
            <start_of_turn>model

            """)
    }

    @Test func gemmaRules() throws {
        let gemma3 = try Self.template("google-gemma-3-it", bos: "<bos>")
        #expect(throws: ChatTemplateError.rolesMustAlternate(messageIndex: 1)) {
            try gemma3.render(messages: [.user("a"), .user("b")])
        }
        #expect(throws: ChatTemplateError.rolesMustAlternate(messageIndex: 1)) {
            try gemma3.render(messages: [.system("s"), .assistant("a")])
        }
        let gemma2 = try Self.template("google-gemma-2-2b-it", bos: "<bos>")
        #expect(throws: ChatTemplateError.systemRoleNotSupported) { try gemma2.render(messages: Self.conversation) }
        #expect(throws: ChatTemplateError.emptyConversation) { try gemma2.render(messages: []) }
    }

    @Test func customFormat() throws {
        let format = ChatTemplate.Format(
            beginning: "<s>",
            turns: [.system: .init(prefix: "<|system|>\n", suffix: "<|end|>\n"),
                    .user: .init(prefix: "<|user|>\n", suffix: "<|end|>\n"),
                    .assistant: .init(prefix: "<|assistant|>\n", suffix: "<|end|>\n")],
            generationPrompt: "<|assistant|>\n", defaultSystemPrompt: "Default.", trimsContent: true)
        let template = ChatTemplate.custom(format, bosToken: "<s>")
        #expect(try template.render(messages: [.user(" Hi ")])
            == "<s><|system|>\nDefault.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n")
        #expect(template.includesBOS && !ChatTemplate.custom(format).includesBOS)
        #expect(throws: ChatTemplateError.unsupportedRole(.tool)) { try template.render(messages: [.tool("x")]) }
    }

    @Test func todayIsFormattedLikeStrftime() {
        let today = ChatTemplate.today()
        let parts = today.split(separator: " ")
        #expect(parts.count == 3 && parts[0].count == 2 && parts[1].count == 3 && parts[2].count == 4, "\(today)")
    }
}
