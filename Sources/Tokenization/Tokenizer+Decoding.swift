extension Tokenizer {
    /// The bytes token `id` stands for: its text for control and user-defined tokens, the raw
    /// bytes for byte-level and byte-fallback tokens, `▁` read as a space in SentencePiece
    /// vocabularies. Empty for unused tokens and for ids outside the vocabulary.
    public func piece(_ id: Int32) -> [UInt8] {
        guard vocabulary.contains(id) else { return [] }
        let attributes = vocabulary.attributes[Int(id)]
        let text = vocabulary.text(id)
        if !attributes.isDisjoint(with: .special) { return Array(text) }
        if attributes.contains(.normal) {
            if case .bytePairs(let encoder, _) = engine, encoder.byteLevel {
                return Tokenizer.decodeByteLevel(text)
            }
            return Tokenizer.unescapeSpaces(text)
        }
        if attributes.contains(.byte), text.count >= 5,
           let byte = UInt8(String(decoding: text.dropFirst(3).prefix(2), as: UTF8.self), radix: 16) {
            return [byte]
        }
        return []
    }

    /// The text of `ids`: the exact inverse of `encode(_:addSpecial:parseSpecial:)`.
    ///
    /// Control tokens (BOS, turn markers) are left out unless `renderSpecial`; user-defined tokens
    /// are always written. In a SentencePiece vocabulary that adds a space prefix, the space that
    /// encoding added at the start, and after each special token, is removed. Ids outside the
    /// vocabulary are skipped; bytes that are not valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) -> String {
        var detokenizer = StreamingDetokenizer(tokenizer: self, renderSpecial: renderSpecial)
        var bytes: [UInt8] = []
        for id in ids { detokenizer.appendBytes(of: id, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether decoding drops the space that SentencePiece encoding put at the start of text.
    var stripsSpacePrefix: Bool {
        if case .sentencePiece = engine { return addsSpacePrefix }
        return false
    }

    /// llama.cpp's `llama_decode_text`: GPT-2 characters back to bytes; a character outside the
    /// alphabet is written as `[UNK_BYTE_0x..<token>]`, as there.
    static func decodeByteLevel(_ text: ArraySlice<UInt8>) -> [UInt8] {
        text.withUnsafeBytes { raw in
            if let bytes = ByteLevelAlphabet.decode(raw) { return bytes }
            var out: [UInt8] = []
            var i = 0
            while i < raw.count {
                let length = min(UTF8Decoding.sequenceLength(leadByte: raw[i]), raw.count - i)
                if let (scalar, _) = UTF8Decoding.decode(raw, at: i), let byte = ByteLevelAlphabet.byte(for: scalar) {
                    out.append(byte)
                } else {
                    let hex = raw[i..<(i + length)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
                    out.append(contentsOf: Array("[UNK_BYTE_0x\(hex)".utf8) + Array(raw) + [UInt8(ascii: "]")])
                }
                i += length
            }
            return out
        }
    }

    /// `▁` back to spaces.
    static func unescapeSpaces(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = text.startIndex
        while i < text.endIndex {
            if text[i] == 0xE2 && i + 2 < text.endIndex && text[i + 1] == 0x96 && text[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}

/// Turns generated token ids into text as they come, never cutting a UTF-8 sequence: the bytes
/// of a character split across tokens (an emoji in byte-level BPE, a byte-fallback run) are held
/// back until the character is complete.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer)
/// for id in generatedIDs { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
///
/// The concatenated output equals `tokenizer.decode(ids, renderSpecial:)`.
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    /// Write control tokens' text (`<|im_end|>`) instead of leaving them out.
    public var renderSpecial: Bool
    private var pending: [UInt8] = []
    private var stripNextSpace: Bool

    public init(tokenizer: Tokenizer, renderSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
        stripNextSpace = tokenizer.stripsSpacePrefix
    }

    /// Adds a token; returns the text that is now complete (often empty mid-character).
    public mutating func append(_ id: Int32) -> String {
        var bytes: [UInt8] = []
        swap(&bytes, &pending)
        appendBytes(of: id, to: &bytes)
        let held = bytes.withUnsafeBytes { UTF8Decoding.incompleteSuffixLength($0) }
        pending = Array(bytes.suffix(held))
        guard bytes.count > held else { return "" }
        return String(decoding: bytes[..<(bytes.count - held)], as: UTF8.self)
    }

    /// The text still held back (an incomplete character becomes U+FFFD); call at the end.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    mutating func appendBytes(of id: Int32, to bytes: inout [UInt8]) {
        let attributes = tokenizer.attributes(of: id)
        if !attributes.isDisjoint(with: .special) {
            if renderSpecial || !attributes.isDisjoint(with: .userDefined) { bytes.append(contentsOf: tokenizer.piece(id)) }
            stripNextSpace = tokenizer.stripsSpacePrefix
            return
        }
        let piece = tokenizer.piece(id)
        if stripNextSpace && piece.first == 0x20 {
            bytes.append(contentsOf: piece.dropFirst())
        } else {
            bytes.append(contentsOf: piece)
        }
        stripNextSpace = false
    }
}
