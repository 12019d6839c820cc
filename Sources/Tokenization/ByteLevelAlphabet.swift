/// GPT-2's reversible map from bytes to printable characters, in which byte-level BPE
/// vocabularies are written: printable Latin-1 bytes stand for themselves, the other 68 bytes
/// (controls, space, 0x7F-0xA0, 0xAD) become U+0100... in order, so a space is `Ġ` (U+0120).
enum ByteLevelAlphabet {
    /// The code point that stands for each byte.
    static let codePoint: [UInt32] = {
        var map = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
                map[byte] = UInt32(byte)
            } else {
                map[byte] = next
                next += 1
            }
        }
        return map
    }()

    /// The byte a code point stands for, or nil when it is not in the alphabet.
    @inline(__always)
    static func byte(for codePoint: UInt32) -> UInt8? {
        switch codePoint {
        case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF: return UInt8(codePoint)
        case 256..<(256 + 68): return extraBytes[Int(codePoint - 256)]
        default: return nil
        }
    }

    private static let extraBytes: [UInt8] = (0..<256).compactMap { byte in
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) ? nil : UInt8(byte)
    }

    /// The raw bytes a vocabulary string stands for, or nil when it has a character outside the
    /// alphabet (special tokens written as plain text can have spaces, for example) or is not
    /// valid UTF-8.
    static func decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        return decode(text, appendingTo: &out) ? out : nil
    }

    /// `decode(_:)` appending to `out`; false (with `out` partly written) when not decodable.
    static func decode(_ text: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) -> Bool {
        var i = 0
        while i < text.count {
            let b0 = text[i]
            if b0 >= 0x21 && b0 <= 0x7E {
                out.append(b0)
                i += 1
                continue
            }
            guard let (scalar, length) = UTF8Decoding.decode(text, at: i), let byte = byte(for: scalar) else { return false }
            out.append(byte)
            i += length
        }
        return true
    }

    /// The vocabulary string for raw bytes.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(codePoint[Int(byte)])!) }
        return String(scalars)
    }
}

/// Strict UTF-8 decoding of one scalar at a time.
enum UTF8Decoding {
    /// The scalar starting at `offset` and its length in bytes, or nil for an invalid sequence.
    @inline(__always)
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (UInt32, Int)? {
        let b0 = UInt32(bytes[offset])
        if b0 < 0x80 { return (b0, 1) }
        let available = bytes.count - offset
        func continuation(_ k: Int) -> UInt32? {
            let b = UInt32(bytes[offset + k])
            return b & 0xC0 == 0x80 ? b & 0x3F : nil
        }
        if b0 >= 0xC2 && b0 <= 0xDF, available >= 2, let c1 = continuation(1) {
            return ((b0 & 0x1F) << 6 | c1, 2)
        }
        if b0 >= 0xE0 && b0 <= 0xEF, available >= 3, let c1 = continuation(1), let c2 = continuation(2) {
            let value = (b0 & 0x0F) << 12 | c1 << 6 | c2
            guard value >= 0x800, !(0xD800...0xDFFF).contains(value) else { return nil }
            return (value, 3)
        }
        if b0 >= 0xF0 && b0 <= 0xF4, available >= 4, let c1 = continuation(1), let c2 = continuation(2), let c3 = continuation(3) {
            let value = (b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            guard value >= 0x10000, value <= 0x10FFFF else { return nil }
            return (value, 4)
        }
        return nil
    }

    /// How many bytes at the end of `bytes` begin a UTF-8 sequence that more bytes could still
    /// complete (0 when the end is complete or cannot become valid).
    static func incompleteSuffixLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = bytes.count
        var k = 1
        while k <= min(3, n) {
            let b = bytes[n - k]
            if b & 0xC0 != 0x80 {
                // A lead byte k bytes from the end: how long is its sequence?
                let needed: Int
                switch b {
                case 0xC2...0xDF: needed = 2
                case 0xE0...0xEF: needed = 3
                case 0xF0...0xF4: needed = 4
                default: return 0
                }
                guard needed > k else { return 0 }
                // The continuation bytes present must fit the lead byte's allowed second byte.
                if k >= 2 {
                    let second = bytes[n - k + 1]
                    switch b {
                    case 0xE0: if second < 0xA0 { return 0 }
                    case 0xED: if second > 0x9F { return 0 }
                    case 0xF0: if second < 0x90 { return 0 }
                    case 0xF4: if second > 0x8F { return 0 }
                    default: break
                    }
                }
                return k
            }
            k += 1
        }
        return 0
    }
}
