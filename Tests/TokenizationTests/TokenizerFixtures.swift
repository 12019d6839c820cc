import Foundation
import GGUFFormat
import LocoTestSupport
@testable import Tokenization

/// Vocabularies and files the tokenizer tests use.
enum TokenizerFixtures {
    /// A tokenizer from hand-written metadata: `tokens` with their types (normal when omitted),
    /// `merges` for BPE or `scores` for SentencePiece, and any other keys.
    static func tokenizer(model: String, pre: String? = nil, tokens: [String], types: [Int32]? = nil,
                          merges: [String] = [], scores: [Float]? = nil, extra: [String: GGUFValue] = [:]) throws -> Tokenizer {
        var metadata = GGUFMetadata()
        metadata["tokenizer.ggml.model"] = .string(model)
        if let pre { metadata["tokenizer.ggml.pre"] = .string(pre) }
        metadata["tokenizer.ggml.tokens"] = .array(GGUFArray(strings: tokens))
        metadata["tokenizer.ggml.token_type"] = .array(GGUFArray(int32s: types ?? Array(repeating: 1, count: tokens.count)))
        if model != "llama" { metadata["tokenizer.ggml.merges"] = .array(GGUFArray(strings: merges)) }
        if let scores { metadata["tokenizer.ggml.scores"] = .array(GGUFArray(float32s: scores)) }
        for (key, value) in extra { metadata[key] = value }
        return try Tokenizer(metadata: metadata, wordCacheCapacity: 1024)
    }

    /// A byte-level BPE vocabulary: the 256 byte tokens, then `words` (raw text) built by the
    /// merges that join their halves, then `special` control tokens.
    static func byteLevel(pre: String = "gpt-2", merges: [(String, String)], special: [String] = [],
                          extra: [String: GGUFValue] = [:]) throws -> Tokenizer {
        var tokens = (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) }
        var seen = Set(tokens)
        var mergeLines: [String] = []
        for (left, right) in merges {
            let l = ByteLevelAlphabet.encode(Array(left.utf8)), r = ByteLevelAlphabet.encode(Array(right.utf8))
            mergeLines.append(l + " " + r)
            if seen.insert(l + r).inserted { tokens.append(l + r) }
        }
        let types = Array(repeating: Int32(1), count: tokens.count) + Array(repeating: Int32(3), count: special.count)
        return try tokenizer(model: "gpt2", pre: pre, tokens: tokens + special, types: types, merges: mergeLines, extra: extra)
    }

    static let fixtures = Repository.path("Tests/TokenizationTests/Fixtures")

    /// A chat template committed as a fixture (`Fixtures/templates/NAME.jinja`).
    static func template(_ name: String) throws -> String {
        try String(contentsOfFile: fixtures + "/templates/\(name).jinja", encoding: .utf8)
    }

    /// Where `scripts/fetch-vocab-tests.sh` puts llama.cpp's tokenizer test vectors.
    static let vocabTestDirectory: String = {
        let environment = ProcessInfo.processInfo.environment
        if let dir = environment["LOCO_VOCAB_TESTS"], !dir.isEmpty { return dir }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache"
        return cache + "/locollm/vocab-tests"
    }()

    /// The `loco` built in release next to this test build, else the one `scripts/test.sh` builds.
    static var releaseLoco: String? {
        let products = URL(fileURLWithPath: Repository.productsDirectory)
        let candidates = [products.deletingLastPathComponent().appendingPathComponent("release/loco").path,
                          Repository.path(".build/release/loco")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `scripts/tokenizer_peer.py`; nil (with an expectation that peers are optional) when
    /// llama-cpp-python is missing.
    static func peer(_ arguments: [String]) throws -> CommandResult {
        try run("python3", [Repository.path("scripts/tokenizer_peer.py")] + arguments)
    }
}

/// llama.cpp's tokenizer test vectors for one vocabulary: `ggml-vocab-NAME.gguf` with `.inp`
/// (texts separated by `\n__ggml_vocab_test__\n`) and `.out` (ids, one line per text).
struct VocabularyTestVectors {
    static let separator = "\n__ggml_vocab_test__\n"
    let name: String
    let model: String
    let inputs: [String]
    let expected: [[Int32]]

    init?(name: String, directory: String = TokenizerFixtures.vocabTestDirectory) throws {
        self.name = name
        model = directory + "/ggml-vocab-\(name).gguf"
        guard FileManager.default.fileExists(atPath: model + ".inp") else { return nil }
        let raw = try String(contentsOfFile: model + ".inp", encoding: .utf8)
        inputs = VocabularyTestVectors.split(raw)
        let lines = try String(contentsOfFile: model + ".out", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        expected = lines.prefix(inputs.count).map { line in
            line.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        }
    }

    /// test-tokenizer-0's reading, on bytes: no empty part after a final separator.
    static func split(_ raw: String) -> [String] {
        let bytes = Array(raw.utf8), sep = Array(separator.utf8)
        var parts: [String] = []
        var start = 0, i = 0
        while i + sep.count <= bytes.count {
            if bytes[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { parts.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return parts
    }
}
