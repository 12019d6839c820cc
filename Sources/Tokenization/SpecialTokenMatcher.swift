#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A piece of the text to encode: plain text (a byte range) or a special token matched whole.
enum Fragment {
    case text(Range<Int>)
    case token(Int32)
}

/// Cuts text at special tokens before the tokenizer runs, as llama.cpp's
/// `tokenizer_st_partition`: tokens are tried longest first, each over every text fragment left by
/// the ones before, every occurrence left to right. User-defined tokens are always matched;
/// control and unknown tokens only when special tokens are parsed.
///
/// llama.cpp searches the whole text once per special token. Here one pass over the text with a
/// trie first finds which special tokens occur at all, and only those are searched: the result is
/// the same, and a text without special tokens costs one table lookup per byte even for
/// vocabularies with thousands of them (Gemma's).
struct SpecialTokenMatcher: Sendable {
    /// Candidate tokens in matching order (longest text first).
    private let order: [Int32]
    private let texts: [[UInt8]]
    private let matchedWithoutParsing: [Bool]
    private let stripsLeft: [Bool]
    private let stripsRight: [Bool]
    /// Trie over the texts: `node << 8 | byte` to child node; node 0 is the root.
    private let edges: [Int32: Int32]
    /// For each trie node, the positions in `order` of the texts ending there.
    private let terminals: [[Int32]]
    private let startsText: [Bool]

    init(vocabulary: Vocabulary) {
        order = vocabulary.specialTokens
        texts = order.map { Array(vocabulary.text($0)) }
        matchedWithoutParsing = order.map { vocabulary.attributes[Int($0)].isDisjoint(with: [.control, .unknown]) }
        stripsLeft = order.map { vocabulary.attributes[Int($0)].contains(.stripsLeft) }
        stripsRight = order.map { vocabulary.attributes[Int($0)].contains(.stripsRight) }
        var edges: [Int32: Int32] = [:]
        var terminals: [[Int32]] = [[]]
        var startsText = [Bool](repeating: false, count: 256)
        for (position, text) in texts.enumerated() where !text.isEmpty {
            startsText[Int(text[0])] = true
            var node: Int32 = 0
            for byte in text {
                let key = node << 8 | Int32(byte)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(terminals.count)
                    terminals.append([])
                    edges[key] = child
                    node = child
                }
            }
            terminals[Int(node)].append(Int32(position))
        }
        self.edges = edges
        self.terminals = terminals
        self.startsText = startsText
    }

    /// The fragments of `text`.
    func partition(_ text: UnsafeRawBufferPointer, parseSpecial: Bool) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0..<text.count)]
        for position in occurring(in: text, parseSpecial: parseSpecial) {
            fragments = split(fragments, at: position, in: text)
        }
        return fragments
    }

    /// Positions in `order` of the candidate tokens that occur somewhere in `text`, in order.
    private func occurring(in text: UnsafeRawBufferPointer, parseSpecial: Bool) -> [Int] {
        guard !order.isEmpty else { return [] }
        var seen = [Bool](repeating: false, count: order.count)
        var any = false
        for start in 0..<text.count where startsText[Int(text[start])] {
            var node: Int32 = 0
            var i = start
            while i < text.count, let child = edges[node << 8 | Int32(text[i])] {
                node = child
                for position in terminals[Int(node)] where parseSpecial || matchedWithoutParsing[Int(position)] {
                    seen[Int(position)] = true
                    any = true
                }
                i += 1
            }
        }
        return any ? seen.indices.filter { seen[$0] } : []
    }

    private func split(_ fragments: [Fragment], at position: Int, in text: UnsafeRawBufferPointer) -> [Fragment] {
        let needle = texts[position]
        let token = order[position]
        var out: [Fragment] = []
        out.reserveCapacity(fragments.count + 2)
        for fragment in fragments {
            guard case .text(let range) = fragment else {
                out.append(fragment)
                continue
            }
            var base = range.lowerBound
            let end = range.upperBound
            while true {
                guard let match = find(needle, in: text, from: base, to: end) else {
                    if base < end { out.append(.text(base..<end)) }
                    break
                }
                var leftEnd = match
                if stripsLeft[position] { while leftEnd > base && isSpace(text[leftEnd - 1]) { leftEnd -= 1 } }
                if leftEnd > base { out.append(.text(base..<leftEnd)) }
                out.append(.token(token))
                base = match + needle.count
                if stripsRight[position] { while base < end && isSpace(text[base]) { base += 1 } }
                if base >= end { break }
            }
        }
        return out
    }

    /// The first occurrence of `needle` within `text[start..<end]`.
    private func find(_ needle: [UInt8], in text: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        let length = needle.count
        guard end - start >= length, let base = text.baseAddress else { return nil }
        return needle.withUnsafeBytes { n in
            var i = start
            while i + length <= end {
                guard let hit = memchr(base + i, Int32(n[0]), end - length + 1 - i) else { return nil }
                if memcmp(hit, n.baseAddress!, length) == 0 { return UnsafeRawPointer(hit) - base }
                i = (UnsafeRawPointer(hit) - base) + 1
            }
            return nil
        }
    }

    /// C `isspace` in the C locale, which llama.cpp uses to strip around tokens.
    private func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
}
