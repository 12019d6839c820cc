import Foundation
import GGUFFormat
import Training
import LocoTestSupport
import Testing
import Tokenization

/// Chat JSONL training data: both line forms, typed errors with line numbers, assistant-only
/// masks, truncation and the seeded split.
@Suite struct ChatDatasetTests {
    // MARK: - Helpers

    /// The random Llama's byte-level vocabulary: `<|im_start|>` and `<|im_end|>` (its EOS) are
    /// control tokens, so ChatML renders into real special tokens.
    private static let tokenizer: Result<Tokenizer, any Error> = Result {
        try Tokenizer(gguf: GGUFFile(contentsOf: RandomModels.path("llama-f32")))
    }

    private func tokenizer() throws -> Tokenizer { try Self.tokenizer.get() }

    /// ChatML without a default system message.
    private let chatML = ChatTemplate.custom(.init(
        turns: [.system: .init(prefix: "<|im_start|>system\n", suffix: "<|im_end|>\n"),
                .user: .init(prefix: "<|im_start|>user\n", suffix: "<|im_end|>\n"),
                .assistant: .init(prefix: "<|im_start|>assistant\n", suffix: "<|im_end|>\n")],
        generationPrompt: "<|im_start|>assistant\n"))

    /// SmolLM2-135M-Instruct's own template (ChatML that adds a default system message).
    private func smolLM2() throws -> ChatTemplate {
        let source = try String(contentsOfFile: Repository.path("Tests/TokenizationTests/Fixtures/templates/HuggingFaceTB-SmolLM2-135M-Instruct.jinja"),
                                encoding: .utf8)
        return try ChatTemplate(recognizing: source, bosToken: "<|im_start|>", eosToken: "<|im_end|>")
    }

    private func dataset(_ text: String, template: ChatTemplate? = nil, maxSequenceLength: Int = 4096) throws -> ChatDataset {
        try ChatDataset(jsonl: Array(text.utf8), source: "data.jsonl", template: template ?? chatML, tokenizer: tokenizer(),
                        maxSequenceLength: maxSequenceLength)
    }

    /// Expects `body` to throw a `TrainingDataError` at `line` of `data.jsonl` whose kind passes `check`.
    private func expectError(
        line: Int, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void,
        _ check: (TrainingDataError.Kind) -> Bool
    ) {
        do {
            try body()
            Issue.record("no error thrown", sourceLocation: sourceLocation)
        } catch let error as TrainingDataError {
            #expect(error.line == line, "wrong line: \(error)", sourceLocation: sourceLocation)
            #expect(error.path == "data.jsonl", sourceLocation: sourceLocation)
            #expect(check(error.kind), "unexpected error: \(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("data.jsonl:\(line): "), sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a TrainingDataError: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Runs of consecutive trained tokens, decoded with control tokens as text.
    private func trainedRuns(_ sequence: TrainingSequence, _ tokenizer: Tokenizer) -> [String] {
        var runs: [[Int32]] = []
        for (i, token) in sequence.tokens.enumerated() where sequence.trained[i] {
            if i > 0, sequence.trained[i - 1] { runs[runs.count - 1].append(Int32(token)) } else { runs.append([Int32(token)]) }
        }
        return runs.map { tokenizer.decode($0, renderSpecial: true) }
    }

    private let good = #"{"messages":[{"role":"user","content":"What is 2 + 3?"},{"role":"assistant","content":"2 + 3 = 5. The answer is 5."}]}"#

    // MARK: - Forms

    @Test func messagesAndShareGPTFormsGiveTheSameSequence() throws {
        let shareGPT = #"{"conversations":[{"from":"human","value":"What is 2 + 3?"},{"from":"gpt","value":"2 + 3 = 5. The answer is 5."}],"id":7}"#
        let roleInConversations = #"{"conversations":[{"role":"user","content":"What is 2 + 3?"},{"role":"assistant","content":"2 + 3 = 5. The answer is 5."}]}"#
        let withAnswer = #"{"messages":[{"role":"user","content":"What is 2 + 3?"},{"role":"assistant","content":"2 + 3 = 5. The answer is 5."}],"answer":5}"#
        let data = try dataset([good, "", "   ", shareGPT, roleInConversations, withAnswer].joined(separator: "\n") + "\n")
        #expect(data.sequences.count == 4)
        #expect(data.lineNumbers == [1, 4, 5, 6])
        #expect(Set(data.sequences).count == 1)
        #expect(data.path == "data.jsonl")
        #expect(data.truncatedCount == 0)

        let parsed = try ChatDataset.parseConversations(jsonl: Array(shareGPT.utf8), source: nil)
        #expect(parsed == [[.user("What is 2 + 3?"), .assistant("2 + 3 = 5. The answer is 5.")]])
        let system = #"{"conversations":[{"from":"system","value":"Be brief."},{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"}]}"#
        #expect(try ChatDataset.parseConversations(jsonl: Array(system.utf8), source: nil)
            == [[.system("Be brief."), .user("Hi"), .assistant("Hello")]])
    }

    @Test func crlfLineEndsAndAByteOrderMarkAreAccepted() throws {
        let data = try dataset("\u{FEFF}" + good + "\r\n\r\n" + good + "\r\n")
        #expect(data.lineNumbers == [1, 3])
    }

    // MARK: - Errors

    @Test func malformedLinesNameTheirLine() throws {
        let cases: [(String, (TrainingDataError.Kind) -> Bool)] = [
            (#"{"messages": [}"#, { if case .invalidJSON = $0 { true } else { false } }),
            (#"[1, 2]"#, { $0 == .notAnObject(found: "an array") }),
            (#"{"turns": []}"#, { $0 == .missingConversation }),
            (#"{"messages": [], "conversations": []}"#, { $0 == .ambiguousConversation }),
            (#"{"messages": "hello"}"#, { $0 == .invalidValue(key: "messages", found: "a string", expected: "an array of messages") }),
            (#"{"messages": []}"#, { $0 == .emptyConversation }),
            (#"{"messages": [{"role": "user", "content": "Hi"}, 3]}"#, { $0 == .invalidValue(key: "messages[1]", found: "a number", expected: "an object") }),
            (#"{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]}"#,
             { $0 == .invalidValue(key: "messages[0].content", found: "a number", expected: "a string") }),
            (#"{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}"#, { $0 == .missingKey(key: "content", message: 0) }),
            (#"{"messages": [{"content": "Hi"}, {"role": "assistant", "content": "x"}]}"#, { $0 == .missingKey(key: "role", message: 0) }),
            (#"{"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "x"}]}"#, { $0 == .unknownRole("robot", message: 1) }),
            (#"{"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "x"}]}"#, { $0 == .unknownRole("bot", message: 1) }),
            (#"{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt"}]}"#, { $0 == .missingKey(key: "value", message: 1) }),
            (#"{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]}"#, { $0 == .noAssistantMessage }),
            (#"{"messages": [{"role": "assistant", "content": "Hello"}]}"#, { $0 == .noAssistantMessage }),
        ]
        for (index, (line, check)) in cases.enumerated() {
            // Good lines and blank lines before the bad one: the reported line counts them all.
            let text = good + "\n\n" + String(repeating: good + "\n", count: index) + line + "\n" + good + "\n"
            let expectedLine = 3 + index
            expectError(line: expectedLine, { _ = try ChatDataset.parseConversations(jsonl: Array(text.utf8), source: "data.jsonl") }, check)
            expectError(line: expectedLine, { _ = try dataset(text) }, check)
        }
    }

    @Test func templateErrorsNameTheirLine() throws {
        // The custom ChatML has no tool turn.
        let tool = #"{"messages":[{"role":"user","content":"Hi"},{"role":"tool","content":"42"},{"role":"assistant","content":"x"}]}"#
        expectError(line: 2, { _ = try dataset(good + "\n" + tool) }) { if case .template = $0 { true } else { false } }

        // Qwen3 writes an empty think block only in an assistant turn after the last user
        // query: a second exchange changes how the first one renders.
        let qwen3 = try ChatTemplate(recognizing: String(contentsOfFile: Repository.path("Tests/TokenizationTests/Fixtures/templates/Qwen-Qwen3-0.6B.jinja"),
                                                         encoding: .utf8))
        let twoTurns = #"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d"}]}"#
        expectError(line: 3, { _ = try dataset(good + "\n\n" + twoTurns, template: qwen3) }) { $0 == .templateNotPrefixStable(message: 3) }
    }

    @Test func anEmptyFileAndAMissingFileAreErrors() throws {
        #expect(throws: TrainingDataError(.noConversations, path: "data.jsonl")) { try dataset("\n  \n") }
        do {
            _ = try ChatDataset(contentsOf: "/nonexistent/train.jsonl", template: chatML, tokenizer: tokenizer(), maxSequenceLength: 64)
            Issue.record("no error thrown")
        } catch let error as TrainingDataError {
            guard case .io(_, let path, _, _) = error.kind else { Issue.record("unexpected error: \(error)"); return }
            #expect(path == "/nonexistent/train.jsonl")
        }
    }

    // MARK: - Masks

    @Test func onlyAssistantContentAndEndOfTurnAreTrained() throws {
        let tokenizer = try tokenizer()
        let line = #"{"messages":[{"role":"system","content":"You add numbers."},{"role":"user","content":"what is two and three"},"#
            + #"{"role":"assistant","content":"two and three is five"},{"role":"user","content":"and four more"},"#
            + #"{"role":"assistant","content":"five and four is nine"}]}"#
        for template in [chatML, try smolLM2()] {
            let data = try dataset(line, template: template)
            let sequence = try #require(data.sequences.first)
            #expect(sequence.tokens.count == sequence.trained.count)
            #expect(sequence.trained[0] == false)
            #expect(trainedRuns(sequence, tokenizer) == ["two and three is five<|im_end|>", "five and four is nine<|im_end|>"])
            #expect(sequence.trainedCount == sequence.trained.filter { $0 }.count)
            // The pieces join into the whole conversation, rendered as the template renders it.
            let messages = try ChatDataset.parseConversations(jsonl: Array(line.utf8), source: nil)[0]
            #expect(tokenizer.decode(sequence.tokens.map(Int32.init), renderSpecial: true)
                == (try template.render(messages: messages, addGenerationPrompt: false)))
        }
        // SmolLM2's template adds its default system message before the user turn.
        let smol = try dataset(good, template: smolLM2()).sequences[0]
        #expect(tokenizer.decode(smol.tokens.map(Int32.init), renderSpecial: true).hasPrefix("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"))
        // The random model does not ask for BOS, so none is added.
        #expect(smol.tokens.first == Int(tokenizer.encode("<|im_start|>", addSpecial: false, parseSpecial: true)[0]))
    }

    // MARK: - Truncation

    @Test func longSequencesKeepTheirFirstTokens() throws {
        let tokenizer = try tokenizer()
        let full = try dataset(good).sequences[0]
        let firstTrained = try #require(full.trained.firstIndex(of: true))
        let cut = try dataset(good + "\n" + good, maxSequenceLength: firstTrained + 3)
        #expect(cut.truncatedCount == 2)
        #expect(cut.sequences[0].tokens == Array(full.tokens.prefix(firstTrained + 3)))
        #expect(cut.sequences[0].trained == Array(full.trained.prefix(firstTrained + 3)))
        #expect(cut.sequences[0].trainedCount == 3)
        #expect(trainedRuns(cut.sequences[0], tokenizer) == [tokenizer.decode(full.tokens[firstTrained..<(firstTrained + 3)].map(Int32.init))])

        // Cut before the first assistant token, nothing would be trained: an error naming the line.
        do {
            _ = try dataset(good + "\n" + good, maxSequenceLength: firstTrained)
            Issue.record("no error thrown")
        } catch let error as TrainingDataError {
            #expect(error.line == 1)
            #expect(error.kind == .nothingTrainedAfterTruncation(tokens: full.tokens.count, maxSequenceLength: firstTrained))
            #expect(error.description.contains("raise --max-seq-len"))
        }
    }

    // MARK: - Split and checksum

    @Test func splitIsDeterministicAndDisjoint() throws {
        let lines = (0..<20).map {
            #"{"messages":[{"role":"user","content":"question \#($0)"},{"role":"assistant","content":"answer \#($0)"}]}"#
        }
        let data = try dataset(lines.joined(separator: "\n"))
        #expect(Set(data.sequences).count == 20)
        let (train, validation) = data.split(validationFraction: 0.25, seed: 7)
        #expect(validation.count == 5)
        #expect(train.count == 15)
        #expect(Set(train).isDisjoint(with: validation))
        #expect(Set(train).union(validation) == Set(data.sequences))
        let again = data.split(validationFraction: 0.25, seed: 7)
        #expect(again.train == train && again.validation == validation)
        // Each part keeps file order.
        #expect(train == data.sequences.filter { train.contains($0) })
        let other = data.split(validationFraction: 0.25, seed: 8)
        #expect(other.validation != validation)

        #expect(data.split(validationFraction: 0, seed: 1).validation.isEmpty)
        #expect(data.split(validationFraction: 0.001, seed: 1).validation.count == 1)
        #expect(data.split(validationFraction: 1, seed: 1).train.count == 1)
        let two = try dataset(lines[0] + "\n" + lines[1])
        #expect(two.split(validationFraction: 0.1, seed: 3).validation.count == 1)
        #expect(try dataset(lines[0]).split(validationFraction: 0.5, seed: 3).validation.isEmpty)
    }

    @Test func checksumIsTheFilesSHA256() throws {
        let path = RandomModels.scratch("train.jsonl")
        try Data((good + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let data = try ChatDataset(contentsOf: path, template: chatML, tokenizer: tokenizer(), maxSequenceLength: 512)
        let peer = try run("sha256sum", [path])
        #expect(peer.status == 0)
        #expect(data.sha256 == String(peer.stdoutText.prefix(64)))
        #expect(data.path == path)
    }
}
