/// Snappy's raw block format (no framing), as Parquet's SNAPPY pages hold it: the uncompressed
/// length as a varint, then elements that are either literal bytes or copies of earlier output.
enum Snappy {
    /// Snappy's densest element, a 64-byte copy in 3 bytes, bounds how far a block expands.
    static let maximumExpansion = 22

    /// The decompressed bytes of `input`, which must come to exactly `expectedCount` bytes.
    static func decompress(_ input: ArraySlice<UInt8>, expectedCount: Int) throws(EvaluationDataError) -> [UInt8] {
        var position = input.startIndex
        func error(_ message: String) -> EvaluationDataError {
            EvaluationDataError(path: nil, line: nil, message: "snappy: \(message) at byte \(position - input.startIndex)")
        }
        func byte() throws(EvaluationDataError) -> Int {
            guard position < input.endIndex else { throw error("data ends early") }
            defer { position += 1 }
            return Int(input[position])
        }
        func littleEndian(_ count: Int) throws(EvaluationDataError) -> Int {
            var value = 0
            for i in 0..<count { value |= try byte() << (8 * i) }
            return value
        }

        var length = 0
        for shift in stride(from: 0, to: 35, by: 7) {
            let b = try byte()
            length |= (b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            guard shift < 28 else { throw error("length varint longer than 32 bits") }
        }
        guard length == expectedCount else { throw error("block holds \(length) bytes, the page header says \(expectedCount)") }
        guard length <= input.count * maximumExpansion else { throw error("block claims \(length) bytes from \(input.count)") }

        var out: [UInt8] = []
        out.reserveCapacity(length)
        while position < input.endIndex {
            let tag = try byte()
            switch tag & 3 {
            case 0:
                var count = tag >> 2
                if count >= 60 { count = try littleEndian(count - 59) }
                count += 1
                guard count <= input.endIndex - position else { throw error("literal of \(count) bytes runs past the end") }
                guard count <= length - out.count else { throw error("literal runs past the block's length") }
                out += input[position..<(position + count)]
                position += count
            default:
                let count: Int, offset: Int
                switch tag & 3 {
                case 1:
                    count = ((tag >> 2) & 7) + 4
                    offset = (tag >> 5) << 8 | (try byte())
                case 2:
                    count = (tag >> 2) + 1
                    offset = try littleEndian(2)
                default:
                    count = (tag >> 2) + 1
                    offset = try littleEndian(4)
                }
                guard offset > 0, offset <= out.count else { throw error("copy from offset \(offset) with \(out.count) bytes written") }
                guard count <= length - out.count else { throw error("copy runs past the block's length") }
                // Byte by byte: a copy may overlap the bytes it writes (a repeated pattern).
                let from = out.count - offset
                for i in 0..<count { out.append(out[from + i]) }
            }
        }
        guard out.count == length else { throw error("block ends after \(out.count) of \(length) bytes") }
        return out
    }
}
