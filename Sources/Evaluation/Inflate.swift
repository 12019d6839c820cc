/// DEFLATE (RFC 1951) inside a gzip (RFC 1952) or zlib (RFC 1950) wrapper, as Parquet's GZIP pages
/// hold it: stored, fixed-Huffman and dynamic-Huffman blocks. The output is capped at the size the
/// page header gives; malformed data throws.
enum Inflate {
    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
                                       3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// The order in which a dynamic block gives the code-length code's lengths.
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// A canonical Huffman code: how many codes of each length, and the symbols in code order.
    private struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        /// The code for symbols with these lengths (0: unused); nil when the lengths over-subscribe.
        init?(lengths: ArraySlice<Int>) {
            for length in lengths { counts[length] += 1 }
            counts[0] = 0
            var left = 1
            for length in 1..<16 {
                left = left * 2 - counts[length]
                if left < 0 { return nil }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (symbol, length) in lengths.enumerated() where length > 0 {
                symbols[offsets[length]] = symbol
                offsets[length] += 1
            }
        }
    }

    private struct BitReader {
        let bytes: ArraySlice<UInt8>
        var position: Int
        var buffer = 0, count = 0

        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            position = bytes.startIndex
        }

        mutating func bits(_ n: Int) throws(EvaluationDataError) -> Int {
            while count < n {
                guard position < bytes.endIndex else { throw Inflate.error("deflate data ends early") }
                buffer |= Int(bytes[position]) << count
                position += 1
                count += 8
            }
            defer {
                buffer >>= n
                count -= n
            }
            return buffer & ((1 << n) - 1)
        }

        mutating func alignToByte() {
            buffer = 0
            count = 0
        }

        mutating func decode(_ code: Huffman) throws(EvaluationDataError) -> Int {
            // Canonical codes read most significant bit first, one bit at a time.
            var value = 0, first = 0, index = 0
            for length in 1..<16 {
                value |= try bits(1)
                let count = code.counts[length]
                if value - first < count { return code.symbols[index + value - first] }
                index += count
                first = (first + count) << 1
                value <<= 1
            }
            throw Inflate.error("invalid Huffman code")
        }
    }

    static func error(_ message: String) -> EvaluationDataError { EvaluationDataError(path: nil, line: nil, message: "gzip: " + message) }

    /// The decompressed bytes of a gzip or zlib stream: exactly `expectedCount` of them when
    /// given (a Parquet page), else at most `limit`, and for gzip as many as its trailer says (a
    /// whole `.gz` file; its first member).
    static func decompress(_ input: ArraySlice<UInt8>, expectedCount: Int?, limit: Int = 1 << 30) throws(EvaluationDataError) -> [UInt8] {
        let start = input.startIndex
        var body = input
        if input.count >= 18, input[start] == 0x1F, input[start + 1] == 0x8B {
            guard input[start + 2] == 8 else { throw error("compression method \(input[start + 2]) is not deflate") }
            let flags = input[start + 3]
            var position = start + 10
            func skip(_ count: Int) throws(EvaluationDataError) {
                guard count <= input.endIndex - position else { throw error("header runs past the end") }
                position += count
            }
            if flags & 4 != 0 {  // FEXTRA
                try skip(2)
                try skip(Int(input[position - 2]) | Int(input[position - 1]) << 8)
            }
            for flag: UInt8 in [8, 16] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
                while position < input.endIndex, input[position] != 0 { position += 1 }
                try skip(1)
            }
            if flags & 2 != 0 { try skip(2) }  // FHCRC
            body = input[position...]
        } else if input.count >= 2, input[start] & 0x0F == 8, (Int(input[start]) << 8 | Int(input[start + 1])) % 31 == 0 {
            guard input[start + 1] & 0x20 == 0 else { throw error("zlib stream needs a preset dictionary") }
            body = input[(start + 2)...]
        } else {
            throw error("neither a gzip nor a zlib stream")
        }
        let out = try inflate(body, limit: expectedCount ?? limit)
        if let expectedCount {
            guard out.count == expectedCount else { throw error("\(out.count) bytes decompressed, the page header says \(expectedCount)") }
        } else if input[start] == 0x1F {
            // ISIZE, the last four bytes of the member: the length modulo 2^32.
            let end = input.endIndex
            let size = UInt32(input[end - 4]) | UInt32(input[end - 3]) << 8 | UInt32(input[end - 2]) << 16 | UInt32(input[end - 1]) << 24
            guard UInt32(truncatingIfNeeded: out.count) == size else { throw error("\(out.count) bytes decompressed, the trailer says \(size)") }
        }
        return out
    }

    /// Raw DEFLATE blocks up to the final one, at most `limit` bytes of output.
    static func inflate(_ data: ArraySlice<UInt8>, limit: Int) throws(EvaluationDataError) -> [UInt8] {
        var reader = BitReader(data)
        var out: [UInt8] = []
        out.reserveCapacity(min(limit, data.count * 1032))
        var last = false
        while !last {
            last = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let at = reader.position
                guard data.endIndex - at >= 4 else { throw error("stored block ends early") }
                let length = Int(data[at]) | Int(data[at + 1]) << 8, check = Int(data[at + 2]) | Int(data[at + 3]) << 8
                guard length == check ^ 0xFFFF else { throw error("stored block length does not match its complement") }
                guard length <= data.endIndex - at - 4 else { throw error("stored block runs past the end") }
                guard length <= limit - out.count else { throw error("more than \(limit) bytes") }
                out += data[(at + 4)..<(at + 4 + length)]
                reader.position = at + 4 + length
            case 1:
                var lengths = [Int](repeating: 8, count: 288)
                for i in 144..<256 { lengths[i] = 9 }
                for i in 256..<280 { lengths[i] = 7 }
                try codes(&reader, Huffman(lengths: lengths[...])!, Huffman(lengths: [Int](repeating: 5, count: 30)[...])!, into: &out, limit: limit)
            case 2:
                let literalCount = try reader.bits(5) + 257, distanceCount = try reader.bits(5) + 1, codeLengthCount = try reader.bits(4) + 4
                guard literalCount <= 286, distanceCount <= 30 else { throw error("dynamic block with too many codes") }
                var codeLengths = [Int](repeating: 0, count: 19)
                for i in 0..<codeLengthCount { codeLengths[codeLengthOrder[i]] = try reader.bits(3) }
                guard let lengthCode = Huffman(lengths: codeLengths[...]) else { throw error("invalid code-length code") }
                var lengths: [Int] = []
                while lengths.count < literalCount + distanceCount {
                    let symbol = try reader.decode(lengthCode)
                    switch symbol {
                    case 0..<16: lengths.append(symbol)
                    case 16:
                        guard let previous = lengths.last else { throw error("repeat with no previous length") }
                        lengths += repeatElement(previous, count: 3 + (try reader.bits(2)))
                    case 17: lengths += repeatElement(0, count: 3 + (try reader.bits(3)))
                    default: lengths += repeatElement(0, count: 11 + (try reader.bits(7)))
                    }
                }
                guard lengths.count == literalCount + distanceCount, lengths[256] > 0 else { throw error("invalid code lengths") }
                guard let literals = Huffman(lengths: lengths[..<literalCount]),
                      let distances = Huffman(lengths: lengths[literalCount...]) else { throw error("over-subscribed code lengths") }
                try codes(&reader, literals, distances, into: &out, limit: limit)
            default:
                throw error("invalid block type")
            }
        }
        return out
    }

    /// A Huffman-coded block's literals and back-references, up to its end-of-block symbol.
    private static func codes(_ reader: inout BitReader, _ literals: Huffman, _ distances: Huffman, into out: inout [UInt8],
                              limit: Int) throws(EvaluationDataError) {
        while true {
            let symbol = try reader.decode(literals)
            if symbol < 256 {
                guard out.count < limit else { throw error("more than \(limit) bytes") }
                out.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let index = symbol - 257
                guard index < lengthBase.count else { throw error("invalid length symbol \(symbol)") }
                let length = lengthBase[index] + (try reader.bits(lengthExtra[index]))
                let code = try reader.decode(distances)
                guard code < distanceBase.count else { throw error("invalid distance symbol \(code)") }
                let distance = distanceBase[code] + (try reader.bits(distanceExtra[code]))
                guard distance <= out.count else { throw error("distance \(distance) before the start of the output") }
                guard length <= limit - out.count else { throw error("more than \(limit) bytes") }
                let from = out.count - distance
                for i in 0..<length { out.append(out[from + i]) }
            }
        }
    }
}
