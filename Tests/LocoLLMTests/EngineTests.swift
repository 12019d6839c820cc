import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// `Engine` and `ChatSession` on the default model: the same tokens as the hand-built path and
/// `loco run`, history kept in the cache across turns, typed errors, and one engine shared by
/// concurrent sessions. Replies are greedy and short (debug builds are slow).
@Suite struct EngineTests {
    static let question = "What is 2+2?"
    static let options = GenerationOptions(maxTokens: 16, sampler: .greedy)
    let loco = Repository.productsDirectory + "/loco"

    static func engine(registry: AdapterRegistry = AdapterRegistry()) throws -> Engine? {
        guard Peers.defaultModel != nil else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            print("skipped: the default model is not at \(ModelStore().defaultModelPath)")
            return nil
        }
        return try Engine(registry: registry, contextLength: 512)
    }

    struct Tokens: Decodable {
        var prompt: [Int32]
        var generated: [Int32]
    }

    /// The path the SDK had before the engine: model, tokenizer and template loaded by hand, the
    /// BOS rule written out, one generator. The chat session, the engine and `loco run --greedy`
    /// must give its prompt ids, its tokens and its text.
    @Test func greedyReplyIsTheGeneratorsAndLocoRuns() throws {
        guard let engine = try Self.engine() else { return }
        let file = try GGUFFile(contentsOf: engine.modelPath)
        let model = try Model(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        let template = try ChatTemplate(gguf: file)
        let text = try template.render(messages: [.user(Self.question)], addGenerationPrompt: true)
        let prompt = tokenizer.encode(text, addSpecial: !template.includesBOS, parseSpecial: true)
        let generator = Generator(session: model.makeSession(contextLength: 512), tokenizer: tokenizer)
        var expected = ""
        try generator.generate(prompt: prompt, options: Self.options) { expected += $0 }

        #expect(try engine.prompt(messages: [.user(Self.question)]) == prompt)
        let chat = try ChatSession(engine: engine, options: Self.options)
        var reply = ""
        try chat.respond(to: Self.question) { reply += $0 }
        #expect(!reply.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(reply == expected)
        #expect(chat.messages == [.user(Self.question), .assistant(reply)])

        let result = try run(loco, ["run", Self.question, "--greedy", "--max-tokens", "16", "--json-tokens"])
        try #require(result.status == 0, "loco run: \(result.stderr)")
        let tokens = try JSONDecoder().decode(Tokens.self, from: result.stdout)
        #expect(tokens.prompt == prompt)
        #expect(tokens.generated == generator.lastGeneration)
        #expect(tokenizer.decode(tokens.generated) == reply)
    }

    @Test func laterTurnsReuseTheCacheAndClearForgets() async throws {
        guard let engine = try Self.engine() else { return }
        var options = Self.options
        options.maxTokens = 8
        let chat = try ChatSession(engine: engine, systemMessage: "Be brief.", options: options)
        let first = try await chat.respond(to: Self.question)
        #expect(chat.lastStatistics?.reusedPromptTokens == 0)
        _ = try await chat.respond(to: "And 3+3?")
        let second = try #require(chat.lastStatistics)
        #expect(second.reusedPromptTokens > 0, "\(second)")
        #expect(chat.messages.map(\.role) == [.system, .user, .assistant, .user, .assistant])
        #expect(chat.messages[2] == .assistant(first))

        chat.clear()
        #expect(chat.messages == [.system("Be brief.")])
        var streamed = ""
        var finished: GenerationStatistics?
        for try await event in chat.streamResponse(to: Self.question) {
            switch event {
            case .text(let piece): streamed += piece
            case .finished(let statistics): finished = statistics
            }
        }
        #expect(streamed == first)
        #expect(finished?.reusedPromptTokens == 0)
    }

    @Test func unknownAdapterIsATypedErrorAndChangesNothing() throws {
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        guard let engine = try Self.engine(registry: AdapterRegistry(folder: folder)) else { return }
        let chat = try ChatSession(engine: engine, options: Self.options)
        #expect(throws: RegistryError(.notFound("no-such-adapter"), path: folder)) {
            try chat.setAdapter("no-such-adapter", scale: 1)
        }
        #expect(chat.adapterName == nil)
        #expect(throws: RegistryError.self) { try ChatSession(engine: engine, adapter: "no-such-adapter") }
        #expect(try engine.adapters([]) == nil)
    }

    /// Two sessions on one engine at once, one a chat session and one the engine's own stream:
    /// each gets the reply a lone session gets.
    @Test func oneEngineServesTwoTasksAtOnce() async throws {
        guard let engine = try Self.engine() else { return }
        let options = Self.options
        let question = Self.question
        let chat = Task { try await ChatSession(engine: engine, options: options).respond(to: question) }
        let stream = Task {
            var text = ""
            for try await event in engine.stream(prompt: try engine.prompt(messages: [.user(question)]), options: options) {
                if case .text(let piece) = event { text += piece }
            }
            return text
        }
        let (a, b) = (try await chat.value, try await stream.value)
        var alone = ""
        try engine.generate(prompt: engine.prompt(messages: [.user(question)]), options: options) { alone += $0 }
        #expect(!alone.isEmpty)
        #expect(a == alone && b == alone, "\(a.debugDescription), \(b.debugDescription), alone \(alone.debugDescription)")
    }

    @Test func embeddingHasTheModelsWidth() throws {
        guard let engine = try Self.engine() else { return }
        let vector = try engine.embedding(of: "How do I bake bread?", normalized: true)
        #expect(vector.count == engine.model.configuration.embeddingLength)
        let length = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(length - 1) < 1e-4)
    }
}
