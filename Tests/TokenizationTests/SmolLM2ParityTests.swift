import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Tokenization

/// The default model's vocabulary (SmolLM2, byte-level BPE, pre-tokenizer "smollm") against
/// llama.cpp on 3000 varied strings (`scripts/tokenizer_corpus.py`, seed 1: prose, code, emoji,
/// CJK, accents, whitespace runs, digits, special tokens whole and broken, random code points),
/// tokenized by llama-cpp-python in one process. Every id must match, in all three modes; and
/// decoding gives every string back.
@Suite struct SmolLM2ParityTests {
    struct Expected: Decodable {
        let text: String
        let plain: [Int32]
        let special: [Int32]
        let added: [Int32]
    }

    /// One tokenizer for the suite: loading it is the slow part in a debug build.
    static let tokenizer: Tokenizer? = Peers.defaultModel.flatMap { try? Tokenizer(gguf: GGUFFile(contentsOf: $0)) }

    /// The corpus strings (`scripts/tokenizer_corpus.py`, seed 1).
    static func corpusTexts() throws -> [String] {
        let result = try run("python3", [Repository.path("scripts/tokenizer_corpus.py"), "--seed", "1", "--count", "3000"])
        try #require(result.status == 0, "tokenizer_corpus.py: \(result.stderr)")
        return try result.stdoutText.split(separator: "\n").map { try JSONDecoder().decode(String.self, from: Data($0.utf8)) }
    }

    /// llama.cpp's ids for the corpus, tokenized in one process.
    static func peerCorpus(_ model: String) throws -> [Expected] {
        let result = try TokenizerFixtures.peer(["corpus", model, "--seed", "1", "--count", "3000"])
        try #require(result.status == 0, "tokenizer_peer.py corpus: \(result.stderr.suffix(2000))")
        let decoder = JSONDecoder()
        return try result.stdoutText.split(separator: "\n").map { try decoder.decode(Expected.self, from: Data($0.utf8)) }
    }

    @Test func corpusMatchesLlamaCpp() async throws {
        guard let model = Peers.defaultModel, let tokenizer = Self.tokenizer, Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "the default model and llama-cpp-python are required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        // llama.cpp works in its own process while this one tokenizes the same strings.
        async let peer = Self.peerCorpus(model)
        let texts = try Self.corpusTexts()
        let ours = texts.map { text in
            (plain: tokenizer.encode(text, addSpecial: false, parseSpecial: false),
             special: tokenizer.encode(text, addSpecial: false, parseSpecial: true),
             added: tokenizer.encode(text, addSpecial: true, parseSpecial: true))
        }
        let expected = try await peer
        try #require(expected.count == 3000 && expected.map(\.text) == texts)
        var mismatches = 0, roundTripFailures = 0
        for (item, got) in zip(expected, ours) {
            if got.plain != item.plain || got.special != item.special || got.added != item.added {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record("\(item.text.debugDescription): plain \(got.plain) vs \(item.plain), special \(got.special) vs \(item.special)")
                }
            }
            if Array(tokenizer.decode(got.plain).utf8) != Array(item.text.utf8) { roundTripFailures += 1 }
            if Array(tokenizer.decode(got.special, renderSpecial: true).utf8) != Array(item.text.utf8) { roundTripFailures += 1 }
        }
        #expect(mismatches == 0, "\(mismatches) of \(expected.count) strings differ from llama.cpp")
        #expect(roundTripFailures == 0)
    }

    @Test func vocabularyFacts() throws {
        guard let tokenizer = Self.tokenizer else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        #expect(tokenizer.model == .bytePairEncoding(preTokenizer: "smollm"))
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bos == 1 && tokenizer.eos == 2 && tokenizer.eot == 2)
        #expect(!tokenizer.addsBOS && !tokenizer.addsEOS)
        // llama.cpp's end-of-generation set: <|endoftext|>, <|im_end|>, and <reponame> (a FIM token).
        #expect(tokenizer.endOfGeneration == [0, 2, 4])
        #expect(tokenizer.encode("<|im_start|>user\nHi<|im_end|>", parseSpecial: true) == [1, 4093, 198, 26843, 2])
        #expect(tokenizer.piece(216) == [0x20])
        #expect(tokenizer.tokenText(216) == "Ġ")
        #expect(tokenizer.attributes(of: 1) == .control)
    }

    /// Streaming the tokens of every corpus string gives the same text as decoding them at once.
    @Test func streamingMatchesDecoding() throws {
        guard let tokenizer = Self.tokenizer else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let texts = ["a😀b👨‍👩‍👧‍👦c", "我想在apple工作1314151天～", "ĉ̌ ə ️", "<|im_start|>x"]
        for text in texts {
            let ids = tokenizer.encode(text, addSpecial: false)
            var stream = StreamingDetokenizer(tokenizer: tokenizer)
            var pieces = ids.map { stream.append($0) }
            pieces.append(stream.finish())
            #expect(Array(pieces.joined().utf8) == Array(text.utf8))
            #expect(pieces.allSatisfy { !$0.unicodeScalars.contains("\u{FFFD}") })
        }
    }
}
