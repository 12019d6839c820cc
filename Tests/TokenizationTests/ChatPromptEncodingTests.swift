import GGUFFormat
import Testing
@testable import Tokenization

/// `Tokenizer.encode(messages:template:)`: the rendered prompt with control tokens parsed and
/// exactly one BOS whether or not the template writes it.
@Suite struct ChatPromptEncodingTests {
    static let special = ["<s>", "<|user|>", "<|end|>", "<|assistant|>"]

    static func tokenizer(addsBOS: Bool) throws -> Tokenizer {
        let tokens = (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) } + special
        let types = Array(repeating: Int32(1), count: 256) + Array(repeating: Int32(3), count: special.count)
        return try TokenizerFixtures.tokenizer(model: "gpt2", pre: "gpt-2", tokens: tokens, types: types, extra: [
            "tokenizer.ggml.bos_token_id": .uint32(256), "tokenizer.ggml.add_bos_token": .bool(addsBOS),
        ])
    }

    static func template(beginning: String) -> ChatTemplate {
        .custom(.init(beginning: beginning,
                      turns: [.user: .init(prefix: "<|user|>", suffix: "<|end|>"), .assistant: .init(prefix: "<|assistant|>", suffix: "<|end|>")],
                      generationPrompt: "<|assistant|>"), bosToken: "<s>")
    }

    @Test func oneBOSWhetherOrNotTheTemplateWritesIt() throws {
        let tokenizer = try Self.tokenizer(addsBOS: true)
        let messages: [ChatMessage] = [.user("a")]
        let expected: [Int32] = [256, 257, 97, 258, 259]
        let writesBOS = Self.template(beginning: "<s>")
        #expect(writesBOS.includesBOS)
        #expect(try tokenizer.encode(messages: messages, template: writesBOS) == expected)
        #expect(try tokenizer.encode(messages: messages, template: Self.template(beginning: "")) == expected)
        // What the rule prevents: the template's BOS and the tokenizer's.
        let text = try writesBOS.render(messages: messages)
        #expect(tokenizer.encode(text, addSpecial: true, parseSpecial: true) == [256] + expected)
    }

    @Test func noBOSWhenTheTokenizerAddsNone() throws {
        let tokenizer = try Self.tokenizer(addsBOS: false)
        let template = Self.template(beginning: "")
        #expect(try tokenizer.encode(messages: [.user("a")], template: template) == [257, 97, 258, 259])
        #expect(try tokenizer.encode(messages: [.user("a")], template: template, addGenerationPrompt: false) == [257, 97, 258])
        #expect(throws: ChatTemplateError.emptyConversation) { try tokenizer.encode(messages: [], template: template) }
    }
}
