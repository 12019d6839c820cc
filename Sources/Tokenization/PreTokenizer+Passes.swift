/// Splits text into words: decodes a chunk of the text into code points and their Unicode
/// classes, runs the passes over them, and reports each word's byte range.
///
/// Segments are end positions (code point indices); each pass cuts every segment of the previous
/// pass, as llama.cpp's `unicode_regex_split` does with its offset lists. Long text is cut into
/// chunks of about `chunkSize` bytes at places where every implemented pattern cuts anyway (after
/// a newline that follows a printable ASCII character and precedes an ASCII letter), so the
/// buffers stay small and in cache and the words come out the same as for the whole text.
final class PreTokenizerBuffers {
    static let chunkSize = 16 * 1024

    private var capacity = 0
    private var codePoints = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    private var classes = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    /// Byte offset of each code point, and the chunk's length after the last.
    private var byteOffsets = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var ends = SegmentList()
    private var scratch = SegmentList()

    deinit {
        codePoints.deallocate()
        classes.deallocate()
        byteOffsets.deallocate()
        ends.deallocate()
        scratch.deallocate()
    }

    /// Splits valid UTF-8 `text` into words, calling `body` with each word's byte range.
    func split(_ text: UnsafeRawBufferPointer, with preTokenizer: PreTokenizer, chunkSize: Int = chunkSize,
               _ body: (Range<Int>) -> Void) {
        var start = 0
        while start < text.count {
            let end = PreTokenizerBuffers.chunkEnd(text, from: start, chunkSize: chunkSize)
            let words = splitChunk(UnsafeRawBufferPointer(rebasing: text[start..<end]), preTokenizer)
            for i in 0..<words { body(wordRange(i).shifted(by: start)) }
            start = end
        }
    }

    /// Where the chunk starting at `start` ends: the first safe cut after `chunkSize` bytes.
    static func chunkEnd(_ text: UnsafeRawBufferPointer, from start: Int, chunkSize: Int = chunkSize) -> Int {
        guard chunkSize < text.count - start else { return text.count }
        var i = max(start + chunkSize, start + 2)
        while i < text.count {
            if text[i - 1] == 0x0A && (0x21...0x7E).contains(text[i - 2]) && (text[i] | 0x20) >= 0x61 && (text[i] | 0x20) <= 0x7A {
                return i
            }
            i += 1
        }
        return text.count
    }

    /// Splits one chunk (see `chunkEnd`); returns the number of words, read with `wordRange`.
    func splitChunk(_ text: UnsafeRawBufferPointer, _ preTokenizer: PreTokenizer) -> Int {
        let count = load(text)
        guard count > 0 else { return 0 }
        ends.reset(capacity: count)
        ends.append(Int32(count))
        let view = CodePointView(codePoints: UnsafeBufferPointer(start: codePoints, count: count),
                                 classes: UnsafeBufferPointer(start: classes, count: count))
        for pass in preTokenizer.passes {
            scratch.reset(capacity: count)
            var segmentStart = 0
            for i in 0..<ends.count {
                let segmentEnd = Int(ends[i])
                view.apply(pass, segmentStart, segmentEnd, into: &scratch)
                segmentStart = segmentEnd
            }
            swap(&ends, &scratch)
        }
        return ends.count
    }

    /// The byte range, within the chunk, of word `i` of the last `splitChunk`.
    @inline(__always)
    func wordRange(_ i: Int) -> Range<Int> {
        let start = i == 0 ? 0 : Int(byteOffsets[Int(ends[i - 1])])
        return start..<Int(byteOffsets[Int(ends[i])])
    }

    /// Decodes `text` (valid UTF-8) into code points, classes and byte offsets; returns the count.
    private func load(_ text: UnsafeRawBufferPointer) -> Int {
        let n = text.count
        if n + 1 > capacity {
            codePoints.deallocate()
            classes.deallocate()
            byteOffsets.deallocate()
            capacity = max(n + 1, capacity * 2)
            codePoints = .allocate(capacity: capacity)
            classes = .allocate(capacity: capacity)
            byteOffsets = .allocate(capacity: capacity)
        }
        let table = UnicodeClasses.shared
        var i = 0
        var count = 0
        while i < n {
            byteOffsets[count] = Int32(i)
            let b0 = UInt32(text[i])
            let value: UInt32
            if b0 < 0x80 {
                value = b0
                i += 1
            } else if b0 < 0xE0 {
                value = (b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F)
                i += 2
            } else if b0 < 0xF0 {
                value = (b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F)
                i += 3
            } else {
                value = (b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12 | UInt32(text[i + 2] & 0x3F) << 6
                    | UInt32(text[i + 3] & 0x3F)
                i += 4
            }
            codePoints[count] = value
            classes[count] = table[value]
            count += 1
        }
        byteOffsets[count] = Int32(n)
        return count
    }
}

extension Range<Int> {
    func shifted(by offset: Int) -> Range<Int> { (lowerBound + offset)..<(upperBound + offset) }
}

/// Segment end positions, in a buffer sized for the worst case (one segment per code point), so
/// appending needs no checks.
struct SegmentList {
    private var storage = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var capacity = 1
    private(set) var count = 0

    mutating func reset(capacity needed: Int) {
        count = 0
        if needed > capacity {
            storage.deallocate()
            capacity = max(needed, capacity * 2)
            storage = .allocate(capacity: capacity)
        }
    }

    @inline(__always)
    mutating func append(_ end: Int32) {
        storage[count] = end
        count += 1
    }

    subscript(i: Int) -> Int32 { storage[i] }

    func deallocate() { storage.deallocate() }
}

/// Read access to one fragment's code points, with llama.cpp's conventions: past the end of the
/// current segment a code point reads as `outOfRange` and its classes as 0.
struct CodePointView {
    let codePoints: UnsafeBufferPointer<UInt32>
    let classes: UnsafeBufferPointer<UInt8>

    static let outOfRange: UInt32 = 0xFFFF_FFFF

    func apply(_ pass: PreTokenizer.Pass, _ start: Int, _ end: Int, into out: inout SegmentList) {
        switch pass {
        case .gpt2: gpt2(start, end, &out)
        case .llama3(let digits, let contractions): llama3(start, end, digits: digits, contractions: contractions, marksAreLetters: false, &out)
        case .qwen35: llama3(start, end, digits: 1, contractions: true, marksAreLetters: true, &out)
        case .isolate(let set): matches(start, end, &out) { p in set.contains(codePoints[p], classes: classes[p]) ? p + 1 : nil }
        case .runs(let set, let leadingWhitespace): runs(set, leadingWhitespace, start, end, &out)
        case .asciiDigitTriples: matches(start, end, &out) { p in
            p + 3 <= end && (p..<p + 3).allSatisfy { (0x30...0x39).contains(codePoints[$0]) } ? p + 3 : nil
        }
        case .trailingWhitespace: trailingWhitespace(start, end, &out)
        case .newlines: newlines(start, end, &out)
        }
    }

    // MARK: Hand-written patterns (ports of llama.cpp's unicode_regex_split_custom_*)

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    private func gpt2(_ start: Int, _ end: Int, _ out: inout SegmentList) {
        @inline(__always) func cp(_ p: Int) -> UInt32 { p < end ? codePoints[p] : CodePointView.outOfRange }
        @inline(__always) func cls(_ p: Int) -> UInt8 { p < end ? classes[p] : 0 }
        let letter = UnicodeClasses.letter, number = UnicodeClasses.number, space = UnicodeClasses.whitespace
        var previousEnd = start
        @inline(__always) func emit(_ e: Int) -> Int {
            let length = e - previousEnd
            if length > 0 { out.append(Int32(e)) }
            previousEnd = e
            return length
        }
        var pos = start
        while pos < end {
            let c = codePoints[pos]
            let f = classes[pos]
            if c == 0x27 && pos + 1 < end {  // '
                let next = codePoints[pos + 1]
                if next == 0x73 || next == 0x74 || next == 0x6D || next == 0x64 {  // s t m d
                    pos += emit(pos + 2)
                    continue
                }
                if pos + 2 < end {
                    let after = codePoints[pos + 2]
                    if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65) || (next == 0x6C && after == 0x6C) {  // re ve ll
                        pos += emit(pos + 3)
                        continue
                    }
                }
            }
            let leadingSpace = c == 0x20
            let f2 = leadingSpace ? cls(pos + 1) : f
            if f2 & letter != 0 {
                if leadingSpace { pos += 1 }
                repeat { pos += 1 } while cls(pos) & letter != 0
                _ = emit(pos)
                continue
            }
            if f2 & number != 0 {
                if leadingSpace { pos += 1 }
                repeat { pos += 1 } while cls(pos) & number != 0
                _ = emit(pos)
                continue
            }
            let other = space | letter | number
            if (leadingSpace ? pos + 1 < end : true) && f2 & other == 0 {
                if leadingSpace { pos += 1 }
                while pos < end && classes[pos] & other == 0 { pos += 1 }
                _ = emit(pos)
                continue
            }
            var spaces = 0
            while cls(pos + spaces) & space != 0 { spaces += 1 }
            if spaces > 1 && cp(pos + spaces) != CodePointView.outOfRange {  // \s+(?!\S)
                pos += spaces - 1
                _ = emit(pos)
                continue
            }
            if spaces > 0 {
                pos += spaces
                _ = emit(pos)
                continue
            }
            pos += 1
            _ = emit(pos)
        }
    }

    /// Llama 3 (`digits` = 3) and Qwen2 (`digits` = 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
    /// with `marksAreLetters`, Qwen 3.5's variant where `\p{M}` joins `\p{L}`.
    private func llama3(_ start: Int, _ end: Int, digits: Int, contractions: Bool, marksAreLetters: Bool, _ out: inout SegmentList) {
        @inline(__always) func cp(_ p: Int) -> UInt32 { p < end ? codePoints[p] : CodePointView.outOfRange }
        @inline(__always) func cls(_ p: Int) -> UInt8 { p < end ? classes[p] : 0 }
        @inline(__always) func lower(_ c: UInt32) -> UInt32 { (0x41...0x5A).contains(c) ? c + 0x20 : c }
        let letter = marksAreLetters ? UnicodeClasses.letter | UnicodeClasses.mark : UnicodeClasses.letter
        let number = UnicodeClasses.number, space = UnicodeClasses.whitespace
        var previousEnd = start
        @inline(__always) func emit(_ e: Int) -> Int {
            let length = e - previousEnd
            if length > 0 { out.append(Int32(e)) }
            previousEnd = e
            return length
        }
        var pos = start
        while pos < end {
            let c = codePoints[pos]
            let f = classes[pos]
            if contractions && c == 0x27 && pos + 1 < end {  // ', case-insensitive
                let next = lower(codePoints[pos + 1])
                if next == 0x73 || next == 0x74 || next == 0x6D || next == 0x64 {
                    pos += emit(pos + 2)
                    continue
                }
                if pos + 2 < end {
                    let after = lower(codePoints[pos + 2])
                    if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65) || (next == 0x6C && after == 0x6C) {
                        pos += emit(pos + 3)
                        continue
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 0x0D || c == 0x0A || f & number != 0) && (f & letter != 0 || cls(pos + 1) & letter != 0) {
                pos += 1
                while cls(pos) & letter != 0 { pos += 1 }
                _ = emit(pos)
                continue
            }
            // \p{N}{1,digits}
            if f & number != 0 {
                var first = pos
                while cls(pos) & number != 0 {
                    pos += 1
                    if pos - first >= digits {
                        _ = emit(pos)
                        first = pos
                    }
                }
                _ = emit(pos)
                continue
            }
            // ' '?[^\s\p{L}\p{N}]+[\r\n]*  (a lone space at the segment's end falls in here, as in llama.cpp)
            let other = space | letter | number
            let f2 = c == 0x20 ? cls(pos + 1) : f
            if f2 & other == 0 {
                if c == 0x20 { pos += 1 }
                while pos < end && classes[pos] & other == 0 { pos += 1 }
                while cp(pos) == 0x0D || cp(pos) == 0x0A { pos += 1 }
                _ = emit(pos)
                continue
            }
            var spaces = 0
            var afterLastNewline = 0
            while cls(pos + spaces) & space != 0 {
                let s = codePoints[pos + spaces]
                if s == 0x0D || s == 0x0A { afterLastNewline = pos + spaces + 1 }
                spaces += 1
            }
            if afterLastNewline > 0 {  // \s*[\r\n]+
                pos = afterLastNewline
                _ = emit(pos)
                continue
            }
            if spaces > 1 && cp(pos + spaces) != CodePointView.outOfRange {  // \s+(?!\S)
                pos += spaces - 1
                _ = emit(pos)
                continue
            }
            if spaces > 0 {
                pos += spaces
                _ = emit(pos)
                continue
            }
            pos += 1
            _ = emit(pos)
        }
    }

    /// `[^\n]+|[\n]+`.
    private func newlines(_ start: Int, _ end: Int, _ out: inout SegmentList) {
        var pos = start
        while pos < end {
            let isNewline = codePoints[pos] == 0x0A
            while pos < end && (codePoints[pos] == 0x0A) == isNewline { pos += 1 }
            out.append(Int32(pos))
        }
    }

    // MARK: Simple patterns, with std::regex_iterator's semantics

    /// Leftmost matches, where `match(p)` is the end of a match starting at `p` or nil; the text
    /// between matches becomes one segment each.
    @inline(__always)
    private func matches(_ start: Int, _ end: Int, _ out: inout SegmentList, _ match: (Int) -> Int?) {
        var previousEnd = start
        var pos = start
        while pos < end {
            if let matchEnd = match(pos) {
                if pos > previousEnd { out.append(Int32(pos)) }
                out.append(Int32(matchEnd))
                previousEnd = matchEnd
                pos = matchEnd
            } else {
                pos += 1
            }
        }
        if previousEnd < end { out.append(Int32(end)) }
    }

    /// `set+`, or `\s?set+` with `leadingWhitespace`.
    private func runs(_ set: CharacterClass, _ leadingWhitespace: Bool, _ start: Int, _ end: Int, _ out: inout SegmentList) {
        @inline(__always) func member(_ p: Int) -> Bool { p < end && set.contains(codePoints[p], classes: classes[p]) }
        matches(start, end, &out) { p in
            var q = p
            if leadingWhitespace && classes[p] & UnicodeClasses.whitespace != 0 && member(p + 1) {
                q = p + 1
            } else if !member(p) {
                return nil
            }
            while member(q) { q += 1 }
            return q
        }
    }

    /// `\s+$`: the whitespace at the end of the segment.
    private func trailingWhitespace(_ start: Int, _ end: Int, _ out: inout SegmentList) {
        var first = end
        while first > start && classes[first - 1] & UnicodeClasses.whitespace != 0 { first -= 1 }
        if first > start && first < end { out.append(Int32(first)) }
        out.append(Int32(end))
    }
}
