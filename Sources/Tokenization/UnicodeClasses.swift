#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Unicode character classes the pre-tokenizer patterns use, one byte per code point.
///
/// A general category folds to one bit (`\p{L}`, `\p{N}`, `\p{M}`, `\p{P}`, `\p{S}`, `\p{Z}`,
/// `\p{C}`; unassigned code points have none) and `\s` (the Unicode `White_Space` property) adds
/// bit 7. The data is the Swift toolchain's own (`Unicode.Scalar.Properties`), committed as runs
/// in `UnicodeClasses+Table.swift` and expanded once into a flat table, so a lookup is one load.
/// llama.cpp carries an older Unicode version: the two differ only on the ~10k code points
/// assigned since, which llama.cpp treats as unassigned.
struct UnicodeClasses: @unchecked Sendable {
    static let letter: UInt8 = 0x01
    static let number: UInt8 = 0x02
    static let mark: UInt8 = 0x04
    static let punctuation: UInt8 = 0x08
    static let symbol: UInt8 = 0x10
    static let separator: UInt8 = 0x20
    static let control: UInt8 = 0x40
    static let whitespace: UInt8 = 0x80

    static let codePointCount = 0x110000

    /// The expanded table: `codePointCount` bytes, never freed. Unassigned code points are 0, and
    /// their pages are never written, so most of the 1.1 MB stays unbacked by memory.
    private let table: UnsafePointer<UInt8>

    static let shared = UnicodeClasses()

    private init() {
        let bytes = calloc(UnicodeClasses.codePointCount, 1)!.assumingMemoryBound(to: UInt8.self)
        let runs = UnicodeClasses.runs
        for i in runs.indices {
            let start = Int(runs[i] >> 8)
            let end = i + 1 < runs.count ? Int(runs[i + 1] >> 8) : UnicodeClasses.codePointCount
            let bits = UInt8(truncatingIfNeeded: runs[i])
            if bits != 0 { (bytes + start).update(repeating: bits, count: end - start) }
        }
        table = UnsafePointer(bytes)
    }

    /// The class bits of `codePoint`; 0 above U+10FFFF.
    @inline(__always)
    subscript(codePoint: UInt32) -> UInt8 {
        codePoint < UnicodeClasses.codePointCount ? table[Int(codePoint)] : 0
    }
}
