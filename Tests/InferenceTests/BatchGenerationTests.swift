import GGUFFormat
@testable import Inference
import LocoTestSupport
import Testing
import Tokenization

/// Batched decoding on the random llama (F32 weights, so both the one-row and the many-row
/// products are exact up to float additions): each sequence of a batch follows the greedy
/// chain it follows alone, and a batch of one is the plain generator token for token.
@Suite struct BatchGenerationTests {
    /// The same random llama as ``GeneratorTests``.
    func load() throws -> (Model, Tokenizer)? { try GeneratorTests().load() }

    func alone(_ prompt: [Int32], model: Model, tokenizer: Tokenizer, options: GenerationOptions) throws -> [Int32] {
        let generator = Generator(session: model.makeSession(contextLength: 64), tokenizer: tokenizer)
        _ = try generator.generate(prompt: prompt, options: options) { _ in }
        return generator.lastGeneration
    }

    @Test func everySequenceFollowsItsOwnChain() throws {
        guard let (model, tokenizer) = try load() else { return }
        var options = GenerationOptions(maxTokens: 10, sampler: .greedy)
        options.stopAtEndOfGeneration = false
        let prompts: [[Int32]] = [[5, 60, 7, 100], [9, 9, 9], [200, 31, 47, 58, 69, 70, 12], [3]]
        let batch = BatchGenerator(model: model, tokenizer: tokenizer, contextLength: 64)
        let replies = try batch.generate(prompts: prompts, options: options)
        #expect(replies.count == prompts.count)
        for (prompt, reply) in zip(prompts, replies) {
            #expect(reply.tokens == (try alone(prompt, model: model, tokenizer: tokenizer, options: options)), "\(prompt)")
            #expect(reply.stopReason == .maxTokens && reply.text == tokenizer.decode(reply.tokens))
        }
        // The sessions are reused: a second batch of other sizes gives the same replies.
        let again = try batch.generate(prompts: Array(prompts.prefix(2)), options: options)
        #expect(again.map(\.tokens) == replies.prefix(2).map(\.tokens))
    }

    @Test func stopsEndSequencesOneByOne() throws {
        guard let (model, tokenizer) = try load() else { return }
        let prompts: [[Int32]] = [[5, 60, 7, 100], [200, 31, 47]]
        var options = GenerationOptions(maxTokens: 12, sampler: .greedy)
        options.stopAtEndOfGeneration = false
        let full = try BatchGenerator(model: model, tokenizer: tokenizer, contextLength: 64).generate(prompts: prompts, options: options)
        // Stop the first sequence at a piece of its own text; the second runs on unchanged.
        let piece = String(tokenizer.decode(Array(full[0].tokens.prefix(4))).suffix(2))
        try #require(!piece.isEmpty)
        options.stopStrings = [piece]
        let stopped = try BatchGenerator(model: model, tokenizer: tokenizer, contextLength: 64).generate(prompts: prompts, options: options)
        #expect(stopped[0].stopReason == .stopString && stopped[0].tokens.count <= 4)
        #expect(!stopped[0].text.contains(piece))
        if !full[1].text.contains(piece) { #expect(stopped[1].tokens == full[1].tokens) }
        #expect(throws: ModelError.self) {
            try BatchGenerator(model: model, tokenizer: tokenizer, contextLength: 8).generate(prompts: [[Int32](repeating: 5, count: 8)], options: options)
        }
    }
}
