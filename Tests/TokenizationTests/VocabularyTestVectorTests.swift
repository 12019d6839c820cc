import Foundation
import GGUFFormat
import LocoTestSupport
import Testing
@testable import Tokenization

/// llama.cpp's own tokenizer tests (test-tokenizer-0: texts and the ids Hugging Face's tokenizers
/// give them), for every vocabulary this SDK implements. The files come from the llama-cpp-python
/// source distribution (`scripts/fetch-vocab-tests.sh`). Loading a 150k-token vocabulary takes
/// seconds in a debug build, so the texts go through the release-built `loco tokenize` in one run
/// per vocabulary (`scripts/test.sh` builds it).
@Suite struct VocabularyTestVectorTests {
    /// Every vocabulary with test vectors except bert-bge (WordPiece, not implemented).
    static let names = ["qwen2", "qwen35", "llama-bpe", "llama-spm", "gpt-2", "phi-3", "starcoder", "refact", "command-r",
                        "mpt", "falcon", "deepseek-llm", "deepseek-coder", "gemma-4"]

    @Test(arguments: names)
    func llamaCppTestVectors(_ name: String) throws {
        guard let vectors = try VocabularyTestVectors(name: name), let loco = TokenizerFixtures.releaseLoco else {
            #expect(!Peers.required, "llama.cpp's vocabulary tests (scripts/fetch-vocab-tests.sh) and a release loco are required")
            return
        }
        let result = try run(loco, ["tokenize", "--model", vectors.model, "--file", vectors.model + ".inp", "--json",
                                    "--no-add-special", "--separator", VocabularyTestVectors.separator])
        try #require(result.status == 0, "loco tokenize: \(result.stderr)")
        let got = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [[Int]])
        try #require(got.count == vectors.inputs.count)
        for (i, input) in vectors.inputs.enumerated() {
            #expect(got[i].map(Int32.init) == vectors.expected[i], "\(name): \(input.debugDescription)")
        }
    }

    /// The small SentencePiece vocabularies load fast enough to check in-process too, with
    /// decoding: decode(encode(text)) gives the text back.
    @Test(arguments: ["llama-spm", "phi-3"])
    func sentencePieceInProcess(_ name: String) throws {
        guard let vectors = try VocabularyTestVectors(name: name) else {
            #expect(!Peers.required, "llama.cpp's vocabulary tests are required (scripts/fetch-vocab-tests.sh)")
            return
        }
        let tokenizer = try Tokenizer(gguf: GGUFFile(contentsOf: vectors.model))
        #expect(tokenizer.model == .sentencePiece)
        for (input, expected) in zip(vectors.inputs, vectors.expected) {
            let ids = tokenizer.encode(input, addSpecial: false)
            #expect(ids == expected, "\(input.debugDescription)")
            #expect(Array(tokenizer.decode(ids).utf8) == Array(input.utf8), "\(input.debugDescription)")
        }
    }

    /// WordPiece is not implemented: a clear error, not a wrong tokenization.
    @Test func unsupportedVocabularyIsAnError() throws {
        let path = TokenizerFixtures.vocabTestDirectory + "/ggml-vocab-bert-bge.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            #expect(!Peers.required, "llama.cpp's vocabulary tests are required (scripts/fetch-vocab-tests.sh)")
            return
        }
        #expect(throws: TokenizerError(.unsupportedModel("bert"), path: path)) { try Tokenizer(gguf: GGUFFile(contentsOf: path)) }
    }
}
