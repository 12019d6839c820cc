import GGUFFormat

/// Byte-pair encoding of one word at a time: start from one symbol per byte (byte-level BPE) or
/// per character (`gemma4`), then merge the adjacent pair with the lowest merge rank (the leftmost
/// on ties) until no pair has a merge. A binary heap keyed by (rank, position) holds the candidate
/// pairs; a popped pair whose symbols have changed since it was pushed is skipped, so each merge
/// costs O(log n) and nothing is rescanned. This is llama.cpp's `llm_tokenizer_bpe_session`, on
/// integer symbol ids instead of strings.
///
/// Symbols are identified by the raw bytes they stand for. Ids below the vocabulary size are
/// tokens; larger ids name strings that occur in merges without being tokens. A symbol left over
/// that is not a token is written out byte by byte, as llama.cpp does (a byte whose GPT-2
/// character is not one UTF-8 byte has no such token and is dropped, as there).
struct BytePairEncoder: Sendable {
    let vocabularySize: Int32
    /// One symbol per byte (GPT-2 byte-level alphabet) rather than per UTF-8 character.
    let byteLevel: Bool
    /// Raw bytes to symbol id.
    let symbols: ByteStringTable
    let merges: MergeTable
    /// The symbol for each byte (byte-level).
    let byteSymbols: [Int32]
    /// The token a leftover byte becomes, or -1: the one-character token for printable ASCII
    /// (byte-level) or the `<0xNN>` token (`gemma4`).
    let fallbackTokens: [Int32]

    init(vocabulary: Vocabulary, merges array: GGUFArray, byteLevel: Bool) throws {
        let n = vocabulary.count
        self.vocabularySize = Int32(n)
        self.byteLevel = byteLevel
        // Merges mostly join tokens into tokens: few extra symbols.
        var builder = SymbolSpaceBuilder(capacity: n + array.count / 8, firstExtra: Int32(n), byteLevel: byteLevel,
                                         mergeCount: array.count)
        try vocabulary.textBytes.withUnsafeBytes { arena in
            for id in 0..<n {
                let text = UnsafeRawBufferPointer(rebasing: arena[Int(vocabulary.textStarts[id])..<Int(vocabulary.textStarts[id + 1])])
                guard let existing = builder.addToken(text, id: Int32(id)) else { continue }
                if existing != Int32(id) {
                    throw TokenizerError(.duplicateToken(text: vocabulary.textString(Int32(id)), firstID: Int(existing), secondID: id))
                }
            }
        }
        array.withStringBytes { rank, line in builder.addMerge(line, rank: Int32(rank)) }

        var byteSymbols = [Int32](repeating: -1, count: 256)
        var fallbackTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            let single = [UInt8(byte)]
            if byteLevel {
                byteSymbols[byte] = single.withUnsafeBytes { builder.symbol($0) }
                if (0x21...0x7E).contains(byte) {
                    let id = builder.symbols.value(for: single)
                    fallbackTokens[byte] = id < Int32(n) ? id : -1
                }
            } else {
                let hex = Array("<0x\(byte < 16 ? "0" : "")\(String(byte, radix: 16, uppercase: true))>".utf8)
                let id = builder.symbols.value(for: hex)
                fallbackTokens[byte] = id < Int32(n) ? id : -1
            }
        }
        self.symbols = builder.symbols
        self.merges = builder.merges
        self.byteSymbols = byteSymbols
        self.fallbackTokens = fallbackTokens
    }

    /// Collects the symbol space and the merge table while loading.
    private struct SymbolSpaceBuilder {
        var symbols: ByteStringTable
        var merges: MergeTable
        var nextSymbol: Int32
        let byteLevel: Bool
        private var raw: [UInt8] = []

        init(capacity: Int, firstExtra: Int32, byteLevel: Bool, mergeCount: Int) {
            symbols = ByteStringTable(capacity: capacity)
            merges = MergeTable(capacity: mergeCount)
            nextSymbol = firstExtra
            self.byteLevel = byteLevel
        }

        /// Adds a token; returns the id its bytes had already (its own when new), or nil when its
        /// text is outside the byte-level alphabet, so that merging bytes can never produce it.
        mutating func addToken(_ text: UnsafeRawBufferPointer, id: Int32) -> Int32? {
            guard byteLevel else { return symbols.insert(text, value: id) }
            raw.removeAll(keepingCapacity: true)
            guard ByteLevelAlphabet.decode(text, appendingTo: &raw) else { return nil }
            return raw.withUnsafeBytes { symbols.insert($0, value: id) }
        }

        /// The id of the symbol for `bytes`, new if needed.
        mutating func symbol(_ bytes: UnsafeRawBufferPointer) -> Int32 {
            let id = symbols.insert(bytes, value: nextSymbol)
            if id == nextSymbol { nextSymbol += 1 }
            return id
        }

        /// Adds the merge on line `rank`: "left right", split at the first space after the first
        /// byte (llama.cpp's rule).
        mutating func addMerge(_ line: UnsafeRawBufferPointer, rank: Int32) {
            guard line.count >= 2, let space = line[1...].firstIndex(of: 0x20) else { return }
            let leftText = UnsafeRawBufferPointer(rebasing: line[0..<space])
            let rightText = UnsafeRawBufferPointer(rebasing: line[(space + 1)...])
            var both: [UInt8] = []
            swap(&both, &raw)
            defer { swap(&both, &raw) }
            both.removeAll(keepingCapacity: true)
            let split: Int
            if byteLevel {
                guard ByteLevelAlphabet.decode(leftText, appendingTo: &both) else { return }
                split = both.count
                guard ByteLevelAlphabet.decode(rightText, appendingTo: &both) else { return }
            } else {
                both.append(contentsOf: leftText)
                split = both.count
                both.append(contentsOf: rightText)
            }
            both.withUnsafeBytes { bytes in
                let left = symbol(UnsafeRawBufferPointer(rebasing: bytes[..<split]))
                let right = symbol(UnsafeRawBufferPointer(rebasing: bytes[split...]))
                merges.insert(left: left, right: right, rank: rank, result: symbol(bytes))
            }
        }
    }

    /// The token whose raw bytes are exactly `word`, or -1.
    func token(matching word: UnsafeRawBufferPointer) -> Int32 {
        let id = symbols.value(for: word)
        return id < vocabularySize ? id : -1
    }

    /// Appends the tokens of `word` to `output`.
    func encode(_ word: UnsafeRawBufferPointer, into output: inout [Int32], workspace w: Workspace) {
        w.reserve(word.count)
        var count = 0
        if byteLevel {
            for i in 0..<word.count {
                w.setSymbol(count, id: byteSymbols[Int(word[i])], start: i, length: 1)
                count += 1
            }
        } else {
            var i = 0
            while i < word.count {
                let length = min(UTF8Decoding.sequenceLength(leadByte: word[i]), word.count - i)
                w.setSymbol(count, id: symbols.value(for: UnsafeRawBufferPointer(rebasing: word[i..<(i + length)])), start: i, length: length)
                count += 1
                i += length
            }
        }
        guard count > 0 else { return }
        w.next[count - 1] = -1
        let ids = w.ids, next = w.next, previous = w.previous, lengths = w.lengths
        if count > 1 {
            for i in 1..<count { pushPair(i - 1, i, w) }
            while let pair = w.popPair() {
                let left = Int(pair.left), right = Int(pair.right)
                guard ids[left] == pair.leftID, ids[right] == pair.rightID, next[left] == pair.right else { continue }
                ids[left] = pair.result
                lengths[left] += lengths[right]
                ids[right] = Workspace.merged
                let after = next[right]
                next[left] = after
                if after >= 0 { previous[Int(after)] = Int32(left) }
                let before = previous[left]
                if before >= 0 { pushPair(Int(before), left, w) }
                if after >= 0 { pushPair(left, Int(after), w) }
            }
        }
        var i = 0
        while i >= 0 {
            let id = ids[i]
            if id >= 0 && id < vocabularySize {
                output.append(id)
            } else {
                let start = Int(w.starts[i])
                for k in start..<(start + Int(lengths[i])) {
                    let token = fallbackTokens[Int(word[k])]
                    if token >= 0 { output.append(token) }
                }
            }
            i = Int(next[i])
        }
    }

    @inline(__always)
    private func pushPair(_ left: Int, _ right: Int, _ w: Workspace) {
        let leftID = w.ids[left], rightID = w.ids[right]
        guard leftID >= 0, rightID >= 0, let merge = merges.lookup(leftID, rightID) else { return }
        w.pushPair(.init(key: UInt64(UInt32(merge.rank)) << 32 | UInt64(UInt32(left)), right: Int32(right),
                         leftID: leftID, rightID: rightID, result: merge.result))
    }

    /// Buffers for one word's symbols (a linked list over positions) and its pair heap, reused
    /// from word to word within one `encode` call.
    final class Workspace {
        /// Marks a symbol merged into its left neighbour.
        static let merged: Int32 = -2
        private(set) var capacity = 0
        private(set) var ids = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var starts = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var lengths = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var previous = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private(set) var next = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        private var heap = UnsafeMutablePointer<Pair>.allocate(capacity: 1)
        private var heapCapacity = 1
        private var heapCount = 0

        struct Pair {
            /// `rank << 32 | left position`: the heap pops the smallest.
            var key: UInt64
            var right: Int32
            var leftID: Int32
            var rightID: Int32
            var result: Int32
            var left: Int32 { Int32(truncatingIfNeeded: key) }
        }

        deinit {
            for buffer in [ids, starts, lengths, previous, next] { buffer.deallocate() }
            heap.deallocate()
        }

        /// Makes room for `count` symbols and empties the heap.
        func reserve(_ count: Int) {
            heapCount = 0
            guard count > capacity else { return }
            let size = max(count, capacity * 2, 64)
            for buffer in [ids, starts, lengths, previous, next] { buffer.deallocate() }
            ids = .allocate(capacity: size)
            starts = .allocate(capacity: size)
            lengths = .allocate(capacity: size)
            previous = .allocate(capacity: size)
            next = .allocate(capacity: size)
            capacity = size
        }

        @inline(__always)
        func setSymbol(_ i: Int, id: Int32, start: Int, length: Int) {
            ids[i] = id
            starts[i] = Int32(start)
            lengths[i] = Int32(length)
            previous[i] = Int32(i) - 1
            next[i] = Int32(i) + 1
        }

        @inline(__always)
        func pushPair(_ pair: Pair) {
            if heapCount == heapCapacity {
                let bigger = UnsafeMutablePointer<Pair>.allocate(capacity: heapCapacity * 2 + 64)
                bigger.moveInitialize(from: heap, count: heapCount)
                heap.deallocate()
                heap = bigger
                heapCapacity = heapCapacity * 2 + 64
            }
            var child = heapCount
            heapCount += 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard pair.key < heap[parent].key else { break }
                heap[child] = heap[parent]
                child = parent
            }
            heap[child] = pair
        }

        @inline(__always)
        func popPair() -> Pair? {
            guard heapCount > 0 else { return nil }
            let top = heap[0]
            heapCount -= 1
            let n = heapCount
            if n > 0 {
                let last = heap[n]
                var parent = 0
                while true {
                    let left = 2 * parent + 1
                    guard left < n else { break }
                    var smallest = left
                    if left + 1 < n && heap[left + 1].key < heap[left].key { smallest = left + 1 }
                    guard heap[smallest].key < last.key else { break }
                    heap[parent] = heap[smallest]
                    parent = smallest
                }
                heap[parent] = last
            }
            return top
        }
    }
}

extension UTF8Decoding {
    /// llama.cpp's `unicode_len_utf8`: the sequence length a lead byte announces (1 for
    /// continuation bytes).
    @inline(__always)
    static func sequenceLength(leadByte: UInt8) -> Int {
        switch leadByte >> 4 {
        case 0xC, 0xD: 2
        case 0xE: 3
        case 0xF: 4
        default: 1
        }
    }
}
