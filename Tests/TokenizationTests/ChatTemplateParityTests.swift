import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Tokenization

/// Every recognized template family against its Jinja original rendered by jinja2 the way
/// transformers' `apply_chat_template` does (`scripts/tokenizer_peer.py chat`): the same text,
/// byte for byte, or an error on both sides.
@Suite struct ChatTemplateParityTests {
    struct Case {
        var template: String
        var bos: String
        var eos: String
        var messages: [ChatMessage]
        var addGenerationPrompt: Bool
        var enableThinking: Bool?
    }

    static let templates: [(name: String, bos: String, eos: String)] = [
        ("HuggingFaceTB-SmolLM2-135M-Instruct", "<|im_start|>", "<|im_end|>"),
        ("Qwen-Qwen2.5-7B-Instruct", "", "<|im_end|>"),
        ("Qwen-Qwen3-0.6B", "", "<|im_end|>"),
        ("meta-llama-Llama-3.2-3B-Instruct", "<|begin_of_text|>", "<|eot_id|>"),
        ("meta-llama-Llama-3.1-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>"),
        ("meta-llama-Meta-Llama-3-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>"),
        ("google-gemma-3-it", "<bos>", "<eos>"),
        ("google-gemma-2-2b-it", "<bos>", "<eos>"),
    ]

    static let conversations: [[ChatMessage]] = [
        [.user("Hello!")],
        [.system("You are terse."), .user("What is 2+2?")],
        [.system("  Padded system.\n"), .user("\tFirst question?  "), .assistant(" An answer. \n\n"), .user("Second:\nwith lines\n")],
        [.user("Ünïcödé ✓ 我想 😀"), .assistant("Sure — “quoted” \\ and \"escaped\"\r\n"), .user("again")],
        [.user("q1"), .assistant("<think>\nstep one\n</think>\n\nanswer one"), .user("q2"), .assistant("<think>\n\nstep two\n\n</think>\n\n\nanswer two")],
        [.user("q1"), .assistant("a1", reasoning: "given reasoning"), .user("q2")],
        [.user("call the tool"), .assistant("calling"), .tool("{\"result\": 42}"), .tool("second\nresult"), .user("thanks")],
        [.system("s1"), .user("u1"), .system("s2 mid-conversation"), .user("u2")],
        [.user("u1"), .user("u2")],
        [.assistant("starts with the assistant")],
        [.user("a"), .assistant("b"), .user("<tool_response>not a query</tool_response>")],
    ]

    static func cases() throws -> [Case] {
        var cases: [Case] = []
        for (name, bos, eos) in templates {
            let source = try TokenizerFixtures.template(name)
            for messages in conversations {
                for addGenerationPrompt in [true, false] {
                    for thinking in name.contains("Qwen3") ? [nil, true, false] : [nil] as [Bool?] {
                        cases.append(Case(template: source, bos: bos, eos: eos, messages: messages,
                                          addGenerationPrompt: addGenerationPrompt, enableThinking: thinking))
                    }
                }
            }
        }
        return cases
    }

    /// Renders `cases` with jinja2; nil when jinja2 is missing and peers are optional.
    static func peerRender(_ cases: [Case]) throws -> [[String: String]]? {
        guard Peers.pythonHas("jinja2") else {
            #expect(!Peers.required, "jinja2 is required (LOCO_REQUIRE_PEERS=1)")
            return nil
        }
        let json: [[String: Any]] = cases.map { c in
            var item: [String: Any] = [
                "template": c.template, "bos_token": c.bos, "eos_token": c.eos, "add_generation_prompt": c.addGenerationPrompt,
                "date": "2026-11-26",
                "messages": c.messages.map { m -> [String: String] in
                    var d = ["role": m.role.rawValue, "content": m.content]
                    if let r = m.reasoning { d["reasoning_content"] = r }
                    return d
                },
            ]
            if let thinking = c.enableThinking { item["enable_thinking"] = thinking }
            return item
        }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cases.json"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let result = try TokenizerFixtures.peer(["chat", path])
        try #require(result.status == 0, "tokenizer_peer.py chat: \(result.stderr)")
        return try JSONSerialization.jsonObject(with: result.stdout) as? [[String: String]]
    }

    @Test func everyFamilyMatchesJinja() throws {
        let cases = try Self.cases()
        guard let expected = try Self.peerRender(cases) else { return }
        try #require(expected.count == cases.count)
        var compared = 0, errors = 0
        for (c, peer) in zip(cases, expected) {
            var template = try ChatTemplate(recognizing: c.template, bosToken: c.bos, eosToken: c.eos)
            template.dateString = "26 Nov 2026"
            let label = "\(template.family) \(c.messages.map(\.role.rawValue)) generation \(c.addGenerationPrompt) thinking \(String(describing: c.enableThinking))"
            do {
                let ours = try template.render(messages: c.messages, addGenerationPrompt: c.addGenerationPrompt, enableThinking: c.enableThinking)
                #expect(peer["text"].map { Array($0.utf8) } == Array(ours.utf8), "\(label)\nours: \(ours.debugDescription)\njinja: \(peer["text"]?.debugDescription ?? peer["error"]!)")
            } catch {
                errors += 1
                #expect(peer["error"] != nil, "\(label): we threw \(error), jinja rendered \(peer["text"]!.debugDescription)")
            }
            compared += 1
        }
        #expect(compared == cases.count && errors > 0)
    }

    /// The default model's own template, read from the file.
    @Test func defaultModelTemplate() throws {
        guard let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let file = try GGUFFile(contentsOf: model)
        let template = try ChatTemplate(gguf: file)
        #expect(template.bosToken == "<|im_start|>" && template.eosToken == "<|im_end|>")
        let source = file.metadata["tokenizer.chat_template"]!.stringValue!
        let cases = Self.conversations.map { Case(template: source, bos: template.bosToken, eos: template.eosToken, messages: $0,
                                                  addGenerationPrompt: true, enableThinking: nil) }
        guard let expected = try Self.peerRender(cases) else { return }
        for (c, peer) in zip(cases, expected) {
            let ours = try template.render(messages: c.messages, addGenerationPrompt: true)
            #expect(peer["text"].map { Array($0.utf8) } == Array(ours.utf8))
        }
    }
}
