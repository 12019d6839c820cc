/// The Python string operations chat templates use, with Python's semantics: code points, not
/// Swift's grapheme clusters (Swift's `"\r\n"` is one `Character`, and `hasPrefix` compares
/// canonically equivalent strings as equal; Python does neither).
enum PythonStrings {
    /// `str.isspace()` for one code point.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// `str.strip()` (Jinja's `trim` filter).
    static func strip(_ s: String) -> String { strip(s, where: isSpace) }

    /// `str.strip(chars)`, `lstrip`, `rstrip` with the set of code points to remove.
    static func strip(_ s: String, leading: Bool = true, trailing: Bool = true, where remove: (Unicode.Scalar) -> Bool) -> String {
        let scalars = s.unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        if leading { while start < end && remove(scalars[start]) { start = scalars.index(after: start) } }
        if trailing {
            while end > start {
                let before = scalars.index(before: end)
                guard remove(scalars[before]) else { break }
                end = before
            }
        }
        return String(scalars[start..<end])
    }

    static func stripNewlines(_ s: String, leading: Bool = true, trailing: Bool = true) -> String {
        strip(s, leading: leading, trailing: trailing) { $0 == "\n" }
    }

    /// `s.split(separator)` for a non-empty separator.
    static func split(_ s: String, _ separator: String) -> [String] {
        let bytes = Array(s.utf8), sep = Array(separator.utf8)
        var parts: [String] = []
        var start = 0, i = 0
        while i + sep.count <= bytes.count {
            if bytes[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(String(decoding: bytes[start...], as: UTF8.self))
        return parts
    }

    static func contains(_ s: String, _ part: String) -> Bool { split(s, part).count > 1 }
    static func hasPrefix(_ s: String, _ prefix: String) -> Bool { s.utf8.starts(with: prefix.utf8) }
    static func hasSuffix(_ s: String, _ suffix: String) -> Bool { s.utf8.reversed().starts(with: suffix.utf8.reversed()) }

    /// `json.dumps(s, ensure_ascii=False)`, as transformers' `tojson` filter writes a string.
    static func json(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
