/// SentencePiece-style BPE (`tokenizer.ggml.model = llama`): spaces become `▁`, the text starts as
/// one symbol per UTF-8 character, and the adjacent pair whose concatenation is the token with the
/// highest score merges first (the leftmost on ties), until no concatenation is a token. A
/// character that is not a token falls back to its bytes' `<0xNN>` tokens. This is llama.cpp's
/// `llm_tokenizer_spm_session`; its re-segmentation step never fires on valid UTF-8 (every merged
/// symbol is a token), so leftovers are single characters.
struct SentencePieceEncoder: Sendable {
    let vocabularySize: Int32
    /// Token text to id.
    let tokens: ByteStringTable
    let scores: [Float]
    /// The `<0xNN>` token for each byte, else the token for the byte itself, else -1.
    let byteTokens: [Int32]
    let unknown: Int32?

    init(vocabulary: Vocabulary) throws {
        let n = vocabulary.count
        vocabularySize = Int32(n)
        var tokens = ByteStringTable(capacity: n)
        try vocabulary.textBytes.withUnsafeBytes { arena in
            for id in 0..<n {
                let text = UnsafeRawBufferPointer(rebasing: arena[Int(vocabulary.textStarts[id])..<Int(vocabulary.textStarts[id + 1])])
                let existing = tokens.insert(text, value: Int32(id))
                if existing != Int32(id) {
                    throw TokenizerError(.duplicateToken(text: vocabulary.textString(Int32(id)), firstID: Int(existing), secondID: id))
                }
            }
        }
        scores = vocabulary.scores.isEmpty ? Array(repeating: 0, count: n) : vocabulary.scores
        byteTokens = (0..<256).map { byte in
            let hex = Array("<0x\(byte < 16 ? "0" : "")\(String(byte, radix: 16, uppercase: true))>".utf8)
            let id = tokens.value(for: hex)
            return id >= 0 ? id : tokens.value(for: [UInt8(byte)])
        }
        unknown = vocabulary.unknown
        self.tokens = tokens
    }

    /// Appends the tokens of `text` (spaces already escaped to `▁`).
    func encode(_ text: UnsafeRawBufferPointer, into output: inout [Int32], workspace w: inout Workspace) {
        w.reset()
        var offset = 0
        while offset < text.count {
            let length = min(UTF8Decoding.sequenceLength(leadByte: text[offset]), text.count - offset)
            w.appendSymbol(start: offset, length: length)
            offset += length
        }
        let count = w.starts.count
        guard count > 0 else { return }
        for i in 1..<max(count, 1) { tryPair(i - 1, i, text, &w) }
        while let pair = w.popPair() {
            let left = Int(pair.left), right = Int(pair.right)
            guard w.lengths[left] > 0, w.lengths[right] > 0, w.lengths[left] + w.lengths[right] == pair.size else { continue }
            w.lengths[left] += w.lengths[right]
            w.lengths[right] = 0
            let after = w.next[right]
            w.next[left] = after
            if after >= 0 { w.previous[Int(after)] = Int32(left) }
            let before = w.previous[left]
            if before >= 0 { tryPair(Int(before), left, text, &w) }
            if after >= 0 { tryPair(left, Int(after), text, &w) }
        }
        var i: Int32 = 0
        while i >= 0 {
            let start = Int(w.starts[Int(i)]), length = Int(w.lengths[Int(i)])
            let id = tokens.value(for: UnsafeRawBufferPointer(rebasing: text[start..<(start + length)]))
            if id >= 0 {
                output.append(id)
            } else {
                for k in start..<(start + length) {
                    let byteToken = byteTokens[Int(text[k])]
                    // llama.cpp fails on a vocabulary without byte tokens; the unknown token stands in.
                    if byteToken >= 0 { output.append(byteToken) } else if let unknown { output.append(unknown) }
                }
            }
            i = w.next[Int(i)]
        }
    }

    @inline(__always)
    private func tryPair(_ left: Int, _ right: Int, _ text: UnsafeRawBufferPointer, _ w: inout Workspace) {
        let start = Int(w.starts[left])
        let size = Int(w.lengths[left] + w.lengths[right])
        let id = tokens.value(for: UnsafeRawBufferPointer(rebasing: text[start..<(start + size)]))
        guard id >= 0 else { return }
        w.pushPair(.init(score: scores[Int(id)], left: Int32(left), right: Int32(right), size: Int32(size)))
    }

    /// Reusable buffers for one text's symbols and pair heap.
    struct Workspace {
        var starts: [Int32] = []
        var lengths: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        private var heap: [Pair] = []

        struct Pair {
            var score: Float
            var left: Int32
            var right: Int32
            var size: Int32

            /// Pops first: higher score, then smaller left position.
            @inline(__always)
            func precedes(_ other: Pair) -> Bool {
                score > other.score || (score == other.score && left < other.left)
            }
        }

        mutating func reset() {
            starts.removeAll(keepingCapacity: true)
            lengths.removeAll(keepingCapacity: true)
            previous.removeAll(keepingCapacity: true)
            next.removeAll(keepingCapacity: true)
            heap.removeAll(keepingCapacity: true)
        }

        mutating func appendSymbol(start: Int, length: Int) {
            if !starts.isEmpty { next[starts.count - 1] = Int32(starts.count) }
            previous.append(Int32(starts.count) - 1)
            next.append(-1)
            starts.append(Int32(start))
            lengths.append(Int32(length))
        }

        mutating func pushPair(_ pair: Pair) {
            heap.append(pair)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].precedes(heap[parent]) else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func popPair() -> Pair? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var parent = 0
                let n = heap.count
                while true {
                    let left = 2 * parent + 1
                    guard left < n else { break }
                    var first = left
                    if left + 1 < n && heap[left + 1].precedes(heap[left]) { first = left + 1 }
                    guard heap[first].precedes(heap[parent]) else { break }
                    heap.swapAt(first, parent)
                    parent = first
                }
            }
            return top
        }
    }
}
