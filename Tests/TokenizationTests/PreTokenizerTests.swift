import Testing
@testable import Tokenization

/// The hand-written pattern matchers, on cases where llama.cpp's matchers and the original
/// regular expressions agree, and on llama.cpp's quirks that the ports keep.
@Suite struct PreTokenizerTests {
    static func words(_ name: String, _ text: String, chunkSize: Int = PreTokenizerBuffers.chunkSize) -> [String] {
        let preTokenizer = PreTokenizer(named: name)!
        let buffers = PreTokenizerBuffers()
        var words: [String] = []
        var text = text
        text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            buffers.split(bytes, with: preTokenizer, chunkSize: chunkSize) { range in
                words.append(String(decoding: bytes[range], as: UTF8.self))
            }
        }
        return words
    }

    @Test func gpt2() {
        #expect(Self.words("gpt-2", "Hello world!") == ["Hello", " world", "!"])
        #expect(Self.words("gpt-2", "I'm here's") == ["I", "'m", " here", "'s"])
        // Contractions are case-sensitive in GPT-2's pattern.
        #expect(Self.words("gpt-2", "I'M") == ["I", "'", "M"])
        // \s+(?!\S): the last space of a run joins the next word.
        #expect(Self.words("gpt-2", "x   y") == ["x", "  ", " y"])
        #expect(Self.words("gpt-2", "x \n") == ["x", " \n"])
        #expect(Self.words("gpt-2", "123 4567") == ["123", " 4567"])
        #expect(Self.words("gpt-2", "a+=b") == ["a", "+=", "b"])
    }

    @Test func llama3AndQwen2() {
        #expect(Self.words("llama-bpe", "I'M here") == ["I", "'M", " here"])
        #expect(Self.words("llama-bpe", "12345") == ["123", "45"])
        #expect(Self.words("llama-bpe", "hello\n\n  world") == ["hello", "\n\n", " ", " world"])
        #expect(Self.words("llama-bpe", "a.\n\nb") == ["a", ".\n\n", "b"])
        #expect(Self.words("qwen2", "12345") == ["1", "2", "3", "4", "5"])
        #expect(Self.words("qwen2", "¿Qué?") == ["¿Qué", "?"])
        #expect(Self.words("ufakzeka", "Ankara'da") == ["Ankara", "'da"])
    }

    @Test func unicodeClassesAreNotASCII() {
        #expect(Self.words("gpt-2", "Ünïcödé straße") == ["Ünïcödé", " straße"])
        #expect(Self.words("gpt-2", "我想在apple工作") == ["我想在apple工作"])
        #expect(Self.words("gpt-2", "Γειά σου") == ["Γειά", " σου"])
        // Arabic-Indic digits and Roman numerals are \p{N}; the ideographic space is \s.
        #expect(Self.words("smollm", "٣٤Ⅻ") == ["٣", "٤", "Ⅻ"])
        #expect(Self.words("gpt-2", "a\u{3000}\u{3000}b") == ["a", "\u{3000}", "\u{3000}", "b"])
        #expect(Self.words("llama-bpe", "a\u{3000}\u{3000}b") == ["a", "\u{3000}", "\u{3000}b"])
        // Qwen 3.5 counts combining marks as letters; Qwen2 does not.
        #expect(Self.words("qwen35", "नमस्ते") == ["नमस्ते"])
        #expect(Self.words("qwen2", "नमस्ते").count > 1)
    }

    @Test func multiplePasses() {
        #expect(Self.words("smollm", "abc123 4") == ["abc", "1", "2", "3", " ", "4"])
        #expect(Self.words("falcon", "a+b=3000") == ["a", "+", "b", "=", "300", "0"])
        #expect(Self.words("deepseek-coder", "foo bar\n123") == ["foo", " bar", "\n", "1", "2", "3"])
        #expect(Self.words("gemma4", "a▁b\n\nc") == ["a▁b", "\n\n", "c"])
    }

    /// Long text is split in chunks at places every pattern cuts anyway: the words are the same
    /// as without chunks.
    @Test(arguments: ["gpt-2", "llama-bpe", "qwen2", "qwen35", "smollm", "falcon", "deepseek-llm", "deepseek-coder", "default"])
    func chunkingDoesNotChangeWords(_ name: String) {
        var generator = SplitMix64(seed: 7)
        let pieces = ["word", " ", "  ", "\n", "\n\n", ".", "!\n", "12", "x\ny", "\t", "é", "我", "😀", " \n", "'s", "A"]
        var text = ""
        while text.utf8.count < 5000 { text += pieces[Int(generator.next() % UInt64(pieces.count))] }
        #expect(Self.words(name, text, chunkSize: 64) == Self.words(name, text, chunkSize: Int.max / 2))
    }

    @Test func unknownNameIsRejected() {
        #expect(PreTokenizer(named: "tekken") == nil)
        #expect(PreTokenizer.supportedNames.contains("smollm"))
    }
}

/// A small deterministic generator for tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
