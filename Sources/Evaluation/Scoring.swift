import Foundation

/// The number a reply gives as its answer, found in upstream LocoLLM's order: the number after
/// the last "answer is", else the last `\boxed{...}`'s, else the first number after the last
/// `=`, else the last number in the reply. Thousands commas, currency signs, a percent sign and
/// units after the number are dropped: "The answer is $1,200.50 per month" gives 1200.5.
public enum AnswerExtraction {
    public static func number(in reply: String) -> Double? {
        let text = reply.lowercased()
        if let range = text.range(of: "answer is", options: .backwards), let value = firstNumber(in: text[range.upperBound...]) {
            return value
        }
        if let range = text.range(of: "\\boxed{", options: .backwards) {
            let inside = text[range.upperBound...].prefix { $0 != "}" }
            if let value = firstNumber(in: inside) { return value }
        }
        if let range = text.range(of: "=", options: .backwards), let value = firstNumber(in: text[range.upperBound...]) {
            return value
        }
        return numbers(in: Substring(text)).last
    }

    /// The first number in `text` (see ``numbers(in:)``).
    static func firstNumber(in text: Substring) -> Double? { numbers(in: text, limit: 1).first }

    /// The numbers written in `text`: an optional minus, digits with optional thousands commas,
    /// an optional decimal fraction; a `-` between two numbers (`5-3`) is not a sign.
    static func numbers(in text: Substring, limit: Int = .max) -> [Double] {
        let bytes = Array(text.utf8)
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        var out: [Double] = []
        var i = 0
        while i < bytes.count, out.count < limit {
            guard isDigit(i) || (bytes[i] == UInt8(ascii: "-") && isDigit(i + 1) && !isDigit(i - 1)) || (bytes[i] == UInt8(ascii: ".") && isDigit(i + 1) && !isDigit(i - 1)) else {
                i += 1
                continue
            }
            var digits = ""
            if bytes[i] == UInt8(ascii: "-") {
                digits = "-"
                i += 1
            }
            while isDigit(i) {
                digits.append(Character(UnicodeScalar(bytes[i])))
                i += 1
                // Thousands commas: ",ddd" not followed by a fourth digit.
                if i < bytes.count, bytes[i] == UInt8(ascii: ","), isDigit(i + 1), isDigit(i + 2), isDigit(i + 3), !isDigit(i + 4) {
                    i += 1
                }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "."), isDigit(i + 1) {
                digits.append(".")
                i += 1
                while isDigit(i) {
                    digits.append(Character(UnicodeScalar(bytes[i])))
                    i += 1
                }
            }
            if digits.hasPrefix("-.") { digits = "-0" + digits.dropFirst() } else if digits.hasPrefix(".") { digits = "0" + digits }
            if let value = Double(digits) { out.append(value) }
        }
        return out
    }

    /// Whether `value` is within `tolerance` of `expected` (default 1e-6 times max(1, |expected|)).
    public static func matches(_ value: Double?, _ expected: Double, tolerance: Double? = nil) -> Bool {
        guard let value else { return false }
        return abs(value - expected) <= (tolerance ?? 1e-6 * max(1, abs(expected)))
    }
}

/// Text compared the way people mean "the same answer": lowercased, trimmed, inner whitespace
/// collapsed to one space, and surrounding quotes and a final period, comma, colon,
/// semicolon, exclamation or question mark dropped.
public enum TextNormalization {
    public static func normalize(_ text: String) -> String {
        var words = text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let strip: Set<Character> = ["\"", "'", "`", "*", "“", "”", "‘", "’"]
        while let first = words.first, strip.contains(first) { words.removeFirst() }
        while let last = words.last, strip.contains(last) || ".,;:!?".contains(last) { words.removeLast() }
        return words.trimmingCharacters(in: .whitespaces)
    }

    public static func exactMatch(_ reply: String, _ answers: [String]) -> Bool {
        let got = normalize(reply)
        return answers.contains { normalize($0) == got }
    }

    public static func containsMatch(_ reply: String, _ answers: [String]) -> Bool {
        let got = normalize(reply)
        return answers.contains { got.contains(normalize($0)) }
    }
}
