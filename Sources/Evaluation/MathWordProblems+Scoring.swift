import LocoSupport
import Foundation

extension MathWordProblems {
    /// The integer a reply gives as its answer: the number after the last "The answer is" (any
    /// case; `$`, `:`, `*` and spaces before it, thousands commas in it and a trailing period are
    /// tolerated), else the last integer anywhere in the text. Nil when there is none, or when the
    /// stated answer is not a whole number ("The answer is 2.5.").
    ///
    /// ```swift
    /// MathWordProblems.extractAnswer(from: "3 x 4 = 12. The answer is $1,200.")  // 1200
    /// MathWordProblems.extractAnswer(from: "so she has 17 apples")               // 17
    /// ```
    public static func extractAnswer(from text: String) -> Int? {
        let bytes = Array(text.lowercased().utf8)
        let phrase = Array("the answer is".utf8)
        if bytes.count >= phrase.count {
            var start = bytes.count - phrase.count
            while start >= 0, !bytes[start..<(start + phrase.count)].elementsEqual(phrase) { start -= 1 }
            if start >= 0 {
                var i = start + phrase.count
                while i < bytes.count, [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: "$"), UInt8(ascii: "*")].contains(bytes[i]) {
                    i += 1
                }
                if let number = NumberScanner.number(in: bytes, at: i) { return number.value }
            }
        }
        var last: Int?
        var i = 0
        while i < bytes.count {
            if let number = NumberScanner.number(in: bytes, at: i) {
                if let value = number.value { last = value }
                i = number.end
            } else {
                i += 1
            }
        }
        return last
    }

    /// Problems from chat JSONL as `loco data math` writes it: the first user message is the
    /// question, the first assistant message the solution, and the answer is the `answer` key
    /// when present, else the one the solution states.
    ///
    /// - Throws: ``EvaluationDataError`` naming `source` and the line of the first unusable line.
    public static func problems(jsonl bytes: [UInt8], source: String?) throws -> [MathProblem] {
        var problems: [MathProblem] = []
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            func failure(_ message: String) -> EvaluationDataError { EvaluationDataError(path: source, line: index + 1, message: message) }
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            let value: JSONValue
            do {
                value = try JSONParser.parse(Array(line))
            } catch {
                throw failure("not JSON: \(error)")
            }
            guard case .object(let object) = value else { throw failure("not a JSON object") }
            guard case .array(let items)? = object["messages"] else {
                throw failure("expected \"messages\": an array of objects")
            }
            var messages: [JSONObject] = []
            for item in items {
                guard case .object(let message) = item else { throw failure("expected \"messages\": an array of objects") }
                messages.append(message)
            }
            func content(_ role: String) -> String? {
                messages.first { $0["role"]?.string == role }?["content"]?.string
            }
            guard let question = content("user") else { throw failure("no user message with string content") }
            let solution = content("assistant") ?? ""
            let answer: Int
            if let stated = object["answer"] {
                guard case .number(let text) = stated, let exact = Int(text) ?? Double(text).flatMap({ Int(exactly: $0) }) else {
                    throw failure("\"answer\" is not an integer")
                }
                answer = exact
            } else if let stated = extractAnswer(from: solution) {
                answer = stated
            } else {
                throw failure("no \"answer\" key and no answer in the assistant message")
            }
            problems.append(MathProblem(question: question, solution: solution, answer: answer))
        }
        return problems
    }
}

/// Numbers written in replies: an optional minus, digits with optional thousands commas
/// (`1,234`), an optional fraction.
enum NumberScanner {
    /// The number starting at `start`, with where it ends; `value` is nil when it is not a whole
    /// number (or does not fit `Int`). Nil when no number starts there.
    static func number(in bytes: [UInt8], at start: Int) -> (value: Int?, end: Int)? {
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        // A digit right before `start` means this is the middle of a number (or `5-3`), not its start.
        guard !isDigit(start - 1) else { return nil }
        var i = start
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-"), isDigit(i + 1) {
            negative = true
            i += 1
        }
        guard isDigit(i) else { return nil }
        var digits: [UInt8] = []
        while isDigit(i) {
            digits.append(bytes[i])
            i += 1
        }
        while i < bytes.count, bytes[i] == UInt8(ascii: ","), isDigit(i + 1), isDigit(i + 2), isDigit(i + 3), !isDigit(i + 4) {
            digits += bytes[(i + 1)...(i + 3)]
            i += 4
        }
        var whole = true
        if i < bytes.count, bytes[i] == UInt8(ascii: "."), isDigit(i + 1) {
            i += 1
            while isDigit(i) {
                if bytes[i] != 0x30 { whole = false }
                i += 1
            }
        }
        guard whole, let magnitude = Int(String(decoding: digits, as: UTF8.self)) else { return (nil, i) }
        return (negative ? -magnitude : magnitude, i)
    }
}
