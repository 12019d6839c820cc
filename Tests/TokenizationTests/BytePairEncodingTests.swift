import GGUFFormat
import Testing
@testable import Tokenization

/// The merge loop against a plain quadratic BPE (rescan every pair, merge the lowest rank,
/// leftmost on ties) on random words and random merge lists.
@Suite struct BytePairEncodingTests {
    /// The reference: merges by rescanning, as the BPE papers state it.
    static func reference(_ word: String, ranks: [String: Int], ids: [String: Int32]) -> [Int32] {
        var symbols = word.map { String($0) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[i] + " " + symbols[i + 1]], best == nil || rank < best!.rank { best = (rank, i) }
            }
            guard let best else { break }
            symbols[best.index] += symbols[best.index + 1]
            symbols.remove(at: best.index + 1)
        }
        return symbols.map { ids[$0]! }
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func heapMergesEqualRescanning(seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        let alphabet = ["a", "b", "c", "d"]
        // Random merges over the alphabet and earlier results (ASCII, so byte-level text is plain).
        var symbols = alphabet
        var merges: [(String, String)] = []
        var seen = Set<String>()
        while merges.count < 40 {
            let left = symbols[Int(generator.next() % UInt64(symbols.count))]
            let right = symbols[Int(generator.next() % UInt64(symbols.count))]
            guard (left + right).count <= 6, seen.insert(left + " " + right).inserted else { continue }
            merges.append((left, right))
            if !symbols.contains(left + right) { symbols.append(left + right) }
        }
        let tokenizer = try TokenizerFixtures.byteLevel(merges: merges)
        var ranks: [String: Int] = [:]
        for (rank, merge) in merges.enumerated() where ranks[merge.0 + " " + merge.1] == nil { ranks[merge.0 + " " + merge.1] = rank }
        var ids: [String: Int32] = [:]
        for id in 0..<Int32(tokenizer.vocabularySize) { ids[String(decoding: tokenizer.piece(id), as: UTF8.self)] = id }
        for _ in 0..<300 {
            let length = 1 + Int(generator.next() % 24)
            let word = String((0..<length).map { _ in Character(alphabet[Int(generator.next() % 4)]) })
            let expected = Self.reference(word, ranks: ranks, ids: ids)
            #expect(tokenizer.encode(word, addSpecial: false) == expected, "\(word)")
            // Again, now from the word cache.
            #expect(tokenizer.encode(word, addSpecial: false) == expected, "\(word) (cached)")
        }
    }

    /// Threads sharing one tokenizer (and its word cache) get what a lone tokenizer gives.
    @Test func concurrentEncodingMatchesSerial() async throws {
        let merges: [(String, String)] = [("a", "b"), ("ab", "c"), ("c", "d"), ("b", "d"), ("abc", "d")]
        let shared = try TokenizerFixtures.byteLevel(merges: merges)
        let reference = try TokenizerFixtures.byteLevel(merges: merges)
        var generator = SplitMix64(seed: 11)
        let texts = (0..<64).map { _ in
            (0..<40).map { _ in ["ab", "cd", "abcd", " ", "bd", "dcba", "\n", "x"][Int(generator.next() % 8)] }.joined()
        }
        let expected = texts.map { reference.encode($0, addSpecial: false) }
        let results = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var last: (Int, [Int32]) = (0, [])
                    for round in 0..<8 {
                        let i = (worker * 16 + round * 5) % texts.count
                        last = (i, shared.encode(texts[i], addSpecial: false))
                        if last.1 != expected[i] { return last }
                    }
                    return last
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (i, ids) in results { #expect(ids == expected[i]) }
    }

    @Test func byteLevelRoundTripsEveryByte() throws {
        let tokenizer = try TokenizerFixtures.byteLevel(merges: [("h", "e"), ("he", "l")])
        let text = "hel\u{0}\u{7F} é😀\t\r\n"
        let ids = tokenizer.encode(text, addSpecial: false)
        #expect(tokenizer.decode(ids) == text)
        let hel: Int32 = 257
        #expect(ids.first == hel)
    }

    /// A merged symbol that is not itself a token falls back to the tokens of its bytes, as in
    /// llama.cpp; bytes whose GPT-2 character is two UTF-8 bytes have no such token and vanish.
    @Test func leftoverSymbolsFallBackToBytes() throws {
        var tokens = (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) }
        tokens.removeAll { $0 == "y" }
        let merges = ["x y", "xy z"]
        let tokenizer = try TokenizerFixtures.tokenizer(model: "gpt2", pre: "gpt-2", tokens: tokens + ["xyz"], merges: merges)
        let xyz = Int32(tokens.count)
        #expect(tokenizer.encode("xyz", addSpecial: false) == [xyz])
        // "xy" is not a token: its bytes come out, "y" has no token and is dropped.
        let x = Int32(tokens.firstIndex(of: "x")!)
        #expect(tokenizer.encode("xy", addSpecial: false) == [x])
    }

    /// Llama 3 takes a word that is a token whole, whatever the merges would make of it.
    @Test func ignoreMergesTakesWholeWords() throws {
        var tokens = (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) }
        tokens += ["ab", "abc"]
        let merges = ["a b"]
        let llama = try TokenizerFixtures.tokenizer(model: "gpt2", pre: "llama-bpe", tokens: tokens, merges: merges)
        let gpt2 = try TokenizerFixtures.tokenizer(model: "gpt2", pre: "gpt-2", tokens: tokens, merges: merges)
        #expect(llama.encode("abc", addSpecial: false) == [257])
        #expect(gpt2.encode("abc", addSpecial: false) == [256, 99])
    }

    @Test func sentencePieceMergesByScoreWithByteFallback() throws {
        let bytes = (0..<256).map { "<0x" + (($0 < 16) ? "0" : "") + String($0, radix: 16, uppercase: true) + ">" }
        let pieces = ["▁", "h", "e", "l", "o", "▁h", "he", "ll", "llo", "▁he"]
        let tokens = ["<unk>", "<s>", "</s>"] + bytes + pieces
        let types: [Int32] = [2, 3, 3] + Array(repeating: 6, count: 256) + Array(repeating: 1, count: pieces.count)
        // Higher score merges first: "▁h" beats "he".
        let pieceScores: [Float] = [-1, -2, -2, -2, -2, -3, -4, -5, -6, -7]
        let scores: [Float] = [0, 0, 0] + Array(repeating: 0, count: 256) + pieceScores
        let tokenizer = try TokenizerFixtures.tokenizer(model: "llama", tokens: tokens, types: types, scores: scores)
        let id = { (piece: String) in Int32(tokens.firstIndex(of: piece)!) }
        #expect(tokenizer.addsBOS && tokenizer.addsSpacePrefix)
        let ids = tokenizer.encode("hello", addSpecial: true)
        // "▁h" + "e" -> "▁he"; "l" + "l" -> "ll" + "o" -> "llo"; "▁he" + "llo" is no token.
        #expect(ids == [1, id("▁he"), id("llo")])
        #expect(tokenizer.decode(ids) == "hello")
        // "é" is no piece: its two bytes' tokens.
        let byteTokens: [Int32] = [3 + 0xC3, 3 + 0xA9]
        #expect(tokenizer.encode("é", addSpecial: false) == [id("▁")] + byteTokens)
        #expect(tokenizer.decode(tokenizer.encode("é h", addSpecial: false)) == "é h")
    }
}
