import Testing
@testable import Tokenization

/// The committed class table (scripts/tokenizer_unicode_table.swift) against this toolchain's
/// Unicode data, for every code point.
@Suite struct UnicodeClassTests {
    static func expected(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return UnicodeClasses.control }
        var bits: UInt8
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: bits = UnicodeClasses.letter
        case .decimalNumber, .letterNumber, .otherNumber: bits = UnicodeClasses.number
        case .nonspacingMark, .spacingMark, .enclosingMark: bits = UnicodeClasses.mark
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: bits = UnicodeClasses.punctuation
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: bits = UnicodeClasses.symbol
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: bits = UnicodeClasses.separator
        case .control, .format, .surrogate, .privateUse: bits = UnicodeClasses.control
        default: bits = 0
        }
        if scalar.properties.isWhitespace { bits |= UnicodeClasses.whitespace }
        return bits
    }

    @Test func tableMatchesTheToolchain() {
        let table = UnicodeClasses.shared
        var mismatches: [UInt32] = []
        for value in UInt32(0)..<UInt32(UnicodeClasses.codePointCount) where table[value] != Self.expected(value) {
            mismatches.append(value)
            if mismatches.count > 10 { break }
        }
        #expect(mismatches.isEmpty, "regenerate with scripts/tokenizer_unicode_table.swift; first differences: \(mismatches)")
    }

    @Test func knownClasses() {
        let table = UnicodeClasses.shared
        #expect(table[0x41] == UnicodeClasses.letter)
        #expect(table[0x4E2D] == UnicodeClasses.letter)  // 中
        #expect(table[0x0663] == UnicodeClasses.number)  // Arabic-Indic 3
        #expect(table[0x0301] == UnicodeClasses.mark)
        #expect(table[0x20] == UnicodeClasses.separator | UnicodeClasses.whitespace)
        #expect(table[0x0A] == UnicodeClasses.control | UnicodeClasses.whitespace)
        #expect(table[0x3000] == UnicodeClasses.separator | UnicodeClasses.whitespace)
        #expect(table[0x1F600] == UnicodeClasses.symbol)  // 😀
        #expect(table[0x110000] == 0)
    }
}
