/// A bounds-checked little-endian reader over a byte buffer. Every read checks the remaining
/// length first and throws `GGUFError.truncated` rather than reading past the end.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    func require(_ needed: Int, _ what: @autoclosure () -> String) throws {
        guard needed >= 0, needed <= remaining else {
            throw GGUFError(.truncated(what: what(), needed: needed, available: remaining), offset: offset)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, what())
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    /// Checks that `count` items of at least `minimumSize` bytes each can fit in the rest of the
    /// file, before anything is allocated for them.
    func checkCount(_ count: UInt64, minimumSize: Int, _ what: @autoclosure () -> String) throws -> Int {
        let limit = UInt64(remaining / max(minimumSize, 1))
        guard count <= limit else {
            throw GGUFError(.countExceedsFile(what: what(), count: count), offset: offset)
        }
        return Int(count)
    }

    /// Reads a GGUF string's length and returns the range of its bytes, advancing past them.
    mutating func readStringRange(_ what: @autoclosure () -> String) throws -> Range<Int> {
        let start = offset
        let length = try read(UInt64.self, "length of \(what())")
        guard length <= UInt64(remaining) else {
            offset = start
            throw GGUFError(.countExceedsFile(what: "length of \(what())", count: length), offset: start)
        }
        let range = offset..<(offset + Int(length))
        offset += Int(length)
        return range
    }

    /// Reads a GGUF string that must be valid UTF-8.
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = offset
        let range = try readStringRange(what())
        guard let string = String(validating: bytes[range], as: UTF8.self) else {
            throw GGUFError(.invalidUTF8(what: what()), offset: start)
        }
        return string
    }
}
