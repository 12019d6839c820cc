import Foundation
import GGUFFormat
import LocoTestSupport
import Testing

/// `loco tokenize` and the `tokenize` example, run as a user runs them.
@Suite struct TokenizeCommandTests {
    let loco = Repository.productsDirectory + "/loco"
    let example = Repository.productsDirectory + "/tokenize"

    /// A vocabulary-only copy of the default model: its tokenizer metadata, no tensors.
    static func vocabularyOnlyFile(from model: String, in dir: String) throws -> String {
        let source = try GGUFFile(contentsOf: model)
        var metadata = GGUFMetadata()
        for entry in source.metadata where entry.key.hasPrefix("tokenizer.") || entry.key == "general.architecture" {
            metadata[entry.key] = entry.value
        }
        let path = dir + "/vocab-only.gguf"
        try Data(GGUFWriter(metadata: metadata).encodedHeader()).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func jsonMatchesLlamaCppOnTheDefaultModel() throws {
        guard let model = Peers.defaultModel, Peers.pythonHas("llama_cpp") else {
            #expect(!Peers.required, "the default model and llama-cpp-python are required")
            return
        }
        let text = "<|im_start|>user\nHow many r's in \"strawberry\"? 🍓 12345<|im_end|>"
        let ours = try run(loco, ["tokenize", "--text", text, "--json", "--special"])
        #expect(ours.status == 0, "\(ours.stderr)")
        let peer = try TokenizerFixtures.peer(["tokenize", model, text, "--special", "--add-special"])
        try #require(peer.status == 0, "\(peer.stderr)")
        let ourIDs = try JSONSerialization.jsonObject(with: ours.stdout) as? [Int]
        let peerIDs = try JSONSerialization.jsonObject(with: peer.stdout) as? [Int]
        #expect(ourIDs != nil && ourIDs == peerIDs)
    }

    @Test func piecesAndVocabularyOnlyFiles() throws {
        guard let model = Peers.defaultModel else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vocabOnly = try Self.vocabularyOnlyFile(from: model, in: dir)
        #expect(try GGUFFile(contentsOf: vocabOnly).tensors.isEmpty)
        let full = try run(loco, ["tokenize", "--model", model, "--text", "Hi 😀\n"])
        let vocab = try run(loco, ["tokenize", "--model", vocabOnly, "--text", "Hi 😀\n"])
        #expect(full.status == 0 && vocab.status == 0, "\(full.stderr) \(vocab.stderr)")
        #expect(full.stdoutText == vocab.stdoutText)
        // One line per token: the id, a tab, the quoted piece; a split emoji shows its bytes.
        let lines = full.stdoutText.split(separator: "\n")
        #expect(lines.first == "26843\t\"Hi\"")
        #expect(lines.contains { $0.hasSuffix("\"\\xF0\"") || $0.contains("\\x") })
        #expect(lines.last == "198\t\"\\n\"")
    }

    @Test func separatorTokenizesEachPart() throws {
        guard Peers.defaultModel != nil else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/parts.txt"
        try "Hello|| world||".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try run(loco, ["tokenize", "--file", path, "--separator", "||", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText == "[[19556],\n [905]]\n")
    }

    @Test func errorsGoToStandardError() throws {
        let missing = try run(loco, ["tokenize", "--model", "/nonexistent/model.gguf", "--text", "x"])
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr.hasPrefix("loco: model '/nonexistent/model.gguf' not found"))
        let noVocabulary = try run(loco, ["tokenize", "--model", Repository.ggufFixture("value-types.gguf"), "--text", "x"])
        #expect(noVocabulary.status == 1)
        #expect(noVocabulary.stderr.contains("no tokenizer in this file: metadata key 'tokenizer.ggml.model' is missing"), "\(noVocabulary.stderr)")
        let both = try run(loco, ["tokenize", "--text", "x", "--file", "y"])
        #expect(both.status != 0 && both.stderr.contains("exactly one of --text and --file"))
    }

    @Test func exampleRendersTheDefaultModelsChat() throws {
        guard Peers.defaultModel != nil else {
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        let result = try run(example, [])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("decoded: \"Hello, world! 👋 <|im_end|>\""))
        // The emoji comes out whole, once its last byte has arrived.
        #expect(result.stdoutText.contains("streamed: [\"Hello\", \",\", \" world\", \"!\", \" \", \"\", \"👋\", \" \", \"<|im_end|>\", \"\"]"))
        #expect(result.stdoutText.contains("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is a token?<|im_end|>\n<|im_start|>assistant\n"))
    }
}
