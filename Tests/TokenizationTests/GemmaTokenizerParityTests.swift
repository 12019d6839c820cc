import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Tokenization

/// Gemma 3 270M's vocabulary (SentencePiece-style, `tokenizer.ggml.model = llama`, 262,144 tokens,
/// no space prefix, byte fallback) against llama.cpp on the corpus of ``SmolLM2ParityTests``
/// (`scripts/tokenizer_corpus.py`, seed 1, 3000 strings), in all three modes, and decoding back.
@Suite struct GemmaTokenizerParityTests {
    @Test func corpusMatchesLlamaCpp() async throws {
        guard let model = Peers.gemmaModel, Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "Gemma 3 270M (scripts/fetch-model.sh gemma3-270m) and llama-cpp-python are required")
            return
        }
        async let peer = SmolLM2ParityTests.peerCorpus(model)
        let tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: model))
        #expect(tokenizer.vocabularySize == 262_144)
        #expect(tokenizer.bos == 2 && tokenizer.eos == 1 && tokenizer.addsBOS && !tokenizer.addsSpacePrefix)
        let texts = try SmolLM2ParityTests.corpusTexts()
        let expected = try await peer
        try #require(expected.count == texts.count && expected.map(\.text) == texts)
        var mismatches = 0, roundTripFailures = 0
        for item in expected {
            let plain = tokenizer.encode(item.text, addSpecial: false, parseSpecial: false)
            let special = tokenizer.encode(item.text, addSpecial: false, parseSpecial: true)
            let added = tokenizer.encode(item.text, addSpecial: true, parseSpecial: true)
            if plain != item.plain || special != item.special || added != item.added {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record("\(item.text.debugDescription): plain \(plain) vs \(item.plain), special \(special) vs \(item.special)")
                }
            }
            if Array(tokenizer.decode(plain).utf8) != Array(item.text.utf8) { roundTripFailures += 1 }
        }
        #expect(mismatches == 0, "\(mismatches) of \(expected.count) strings differ from llama.cpp")
        #expect(roundTripFailures == 0)
    }
}
