import Testing
@testable import Tokenization

@Suite struct StreamingDetokenizerTests {
    /// Byte tokens only: every character of more than one byte arrives in pieces.
    static let bytes: Tokenizer = try! TokenizerFixtures.byteLevel(merges: [], special: ["<|end|>"])

    @Test func holdsBackIncompleteCharacters() {
        var stream = StreamingDetokenizer(tokenizer: Self.bytes)
        let ids = Self.bytes.encode("a😀b", addSpecial: false)
        #expect(ids.count == 6)
        let outputs = ids.map { stream.append($0) }
        #expect(outputs == ["a", "", "", "", "😀", "b"])
        #expect(stream.finish() == "")
    }

    @Test func finishFlushesAnIncompleteCharacter() {
        var stream = StreamingDetokenizer(tokenizer: Self.bytes)
        #expect(stream.append(0xE2) == "")
        #expect(stream.append(0x82) == "")
        #expect(stream.finish() == "\u{FFFD}")
    }

    /// An invalid byte is not held back forever: it comes out as U+FFFD with what follows.
    @Test func invalidBytesDoNotStall() {
        var stream = StreamingDetokenizer(tokenizer: Self.bytes)
        #expect(stream.append(0xE2) == "")
        #expect(stream.append(0x41) == "\u{FFFD}A")
        #expect(stream.append(0xFF) == "\u{FFFD}")
    }

    /// The stream's pieces add up to `decode` of the same ids, for any ids, valid UTF-8 or not.
    @Test func streamEqualsDecode() {
        var generator = SplitMix64(seed: 3)
        let interesting: [Int32] = [0x41, 0x20, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xFF, 0xC0, 256]
        for _ in 0..<500 {
            let ids = (0..<Int(generator.next() % 12)).map { _ in interesting[Int(generator.next() % UInt64(interesting.count))] }
            for renderSpecial in [false, true] {
                var stream = StreamingDetokenizer(tokenizer: Self.bytes, renderSpecial: renderSpecial)
                let streamed = ids.map { stream.append($0) }.joined() + stream.finish()
                #expect(Array(streamed.utf8) == Array(Self.bytes.decode(ids, renderSpecial: renderSpecial).utf8), "\(ids)")
            }
        }
    }

    @Test func controlTokensAreLeftOutUnlessRendered() {
        var plain = StreamingDetokenizer(tokenizer: Self.bytes)
        #expect(plain.append(256) == "")
        var rendered = StreamingDetokenizer(tokenizer: Self.bytes, renderSpecial: true)
        #expect(rendered.append(256) == "<|end|>")
    }
}
