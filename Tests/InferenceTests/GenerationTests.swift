import GGUFFormat
@testable import Inference
import LocoTestSupport
import Testing
import Tokenization

@Suite struct StopStringFilterTests {
    @Test func holdsBackPossibleStopStartsAndCutsAtTheStop() {
        var filter = StopStringFilter(stops: ["</answer>", "\n\n"])
        #expect(filter.feed("The answer is 4") == ("The answer is 4", false))
        #expect(filter.feed("</ans") == ("", false))          // may be a stop string: held
        #expect(filter.feed("wer> and more") == ("", true))    // it was: cut before it
        var other = StopStringFilter(stops: ["STOP"])
        #expect(other.feed("ST") == ("", false))
        #expect(other.feed("ART") == ("START", false))        // not a stop after all: released
        #expect(other.feed("S") == ("", false))
        #expect(other.flush() == "S")
        var none = StopStringFilter(stops: [])
        #expect(none.feed("anything") == ("anything", false))
    }
}

/// Generation on a small random model (written by scripts/make-random-model.py): greedy output
/// equals the argmax chain of plain forward passes, and the stop reasons come out right.
@Suite struct GeneratorTests {
    func load() throws -> (Model, Tokenizer)? {
        guard Peers.pythonHas("gguf") else {
            #expect(!Peers.required, "gguf-py is required to write the random model (LOCO_REQUIRE_PEERS=1)")
            return nil
        }
        let file = try GGUFFile(contentsOf: RandomModels.path("llama-f32"))
        return (try Model(file: file), try Tokenizer(gguf: file))
    }

    @Test func greedyGenerationIsTheArgmaxChain() throws {
        guard let (model, tokenizer) = try load() else { return }
        let prompt: [Int32] = [5, 60, 7, 100]
        var expected: [Int32] = []
        let reference = model.makeSession(contextLength: 64)
        var logits = try reference.forward(tokens: prompt, logits: .last).values
        for _ in 0..<8 {
            let next = Sampler.argmax(logits)
            expected.append(next)
            logits = try reference.decode(next)
        }
        let generator = Generator(session: model.makeSession(contextLength: 64), tokenizer: tokenizer)
        var options = GenerationOptions(maxTokens: 8, sampler: .greedy)
        options.stopAtEndOfGeneration = false
        var text = ""
        let stats = try generator.generate(prompt: prompt, options: options) { text += $0 }
        #expect(stats.stopReason == .maxTokens)
        #expect(stats.generatedTokens == 8)
        #expect(Array(generator.history.suffix(7)) == Array(expected.prefix(7)))
        #expect(text == tokenizer.decode(expected))

        // The same prompt again reuses the cache for all but its last token.
        let again = try generator.generate(prompt: prompt, options: options) { _ in }
        #expect(again.reusedPromptTokens == prompt.count - 1)
    }

    @Test func aFullContextStopsGeneration() throws {
        guard let (model, tokenizer) = try load() else { return }
        let generator = Generator(session: model.makeSession(contextLength: 12), tokenizer: tokenizer)
        var options = GenerationOptions(maxTokens: 100, sampler: .greedy)
        options.stopAtEndOfGeneration = false
        let stats = try generator.generate(prompt: [5, 6, 7, 8], options: options) { _ in }
        #expect(stats.stopReason == .contextFull)
        #expect(stats.generatedTokens == 9)
        #expect(throws: ModelError.self) {
            try generator.generate(prompt: [Int32](repeating: 5, count: 12), options: options) { _ in }
        }
    }

    @Test func streamEndsWithStatistics() async throws {
        guard let (model, tokenizer) = try load() else { return }
        let generator = Generator(session: model.makeSession(contextLength: 64), tokenizer: tokenizer)
        var pieces = 0
        var finished: GenerationStatistics?
        for try await event in generator.stream(prompt: [5, 6, 7], options: GenerationOptions(maxTokens: 5, sampler: .greedy)) {
            switch event {
            case .text: pieces += 1
            case .finished(let s): finished = s
            }
        }
        #expect(finished != nil)
        #expect((finished?.generatedTokens ?? 0) <= 5)
    }
}
