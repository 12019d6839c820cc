import GGUFFormat
import Testing
@testable import Tokenization

/// Special tokens matched whole before the tokenizer runs, as llama.cpp's partition does.
@Suite struct SpecialTokenTests {
    static let special = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user"]

    static func tokenizer(extra: [String: GGUFValue] = [:], userDefined: [String] = []) throws -> Tokenizer {
        var tokens = (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) }
        tokens += special + userDefined
        let types = Array(repeating: Int32(1), count: 256) + Array(repeating: Int32(3), count: special.count)
            + Array(repeating: Int32(4), count: userDefined.count)
        return try TokenizerFixtures.tokenizer(model: "gpt2", pre: "gpt-2", tokens: tokens, types: types, extra: extra)
    }

    @Test func controlTokensOnlyWhenParsed() throws {
        let tokenizer = try Self.tokenizer()
        let text = "a<|im_end|>b"
        #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: true) == [97, 257, 98])
        let plain = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
        #expect(!plain.contains(257))
        #expect(tokenizer.decode(plain) == text)
        // Decoding leaves control tokens out unless asked.
        #expect(tokenizer.decode([97, 257, 98]) == "ab")
        #expect(tokenizer.decode([97, 257, 98], renderSpecial: true) == text)
    }

    @Test func longestTokenFirst() throws {
        let tokenizer = try Self.tokenizer()
        // "<|im_start|>user" (259) is longer than "<|im_start|>" (256) and wins.
        #expect(tokenizer.encode("<|im_start|>user\n<|im_start|>x", addSpecial: false, parseSpecial: true) == [259, 10, 256, 120])
    }

    @Test func userDefinedTokensAreAlwaysMatched() throws {
        let tokenizer = try Self.tokenizer(userDefined: ["<think>"])
        #expect(tokenizer.encode("a<think>b", addSpecial: false, parseSpecial: false) == [97, 260, 98])
        #expect(tokenizer.decode([97, 260, 98]) == "a<think>b")
    }

    /// Phi-3's vocabulary strips whitespace after its special tokens (llama.cpp sets the
    /// attribute by model name).
    @Test func phi3StripsAfterSpecialTokens() throws {
        let phi = try Self.tokenizer(extra: ["general.name": .string("Phi3")])
        #expect(phi.encode("<|im_end|>  \n x", addSpecial: false, parseSpecial: true) == [257, 120])
        let other = try Self.tokenizer()
        #expect(other.encode("<|im_end|> x", addSpecial: false, parseSpecial: true) == [257, 32, 120])
    }

    @Test func endOfGenerationFromTextAndMetadata() throws {
        let tokenizer = try Self.tokenizer(extra: ["tokenizer.ggml.eos_token_id": .uint32(258)])
        #expect(tokenizer.eos == 258)
        #expect(tokenizer.eot == 257)  // "<|im_end|>", found by its text
        #expect(tokenizer.isEndOfGeneration(257) && tokenizer.isEndOfGeneration(258))
        #expect(!tokenizer.isEndOfGeneration(256))
    }

    @Test func bosAndEosFollowTheMetadata() throws {
        let tokenizer = try Self.tokenizer(extra: [
            "tokenizer.ggml.bos_token_id": .uint32(256), "tokenizer.ggml.eos_token_id": .uint32(257),
            "tokenizer.ggml.add_bos_token": .bool(true), "tokenizer.ggml.add_eos_token": .bool(true),
        ])
        #expect(tokenizer.encode("a") == [256, 97, 257])
        #expect(tokenizer.encode("a", addSpecial: false) == [97])
        #expect(tokenizer.encode("") == [256, 257])
    }
}
