import Foundation
import Adapters
import LocoSupport

/// Training data already tokenized: JSON lines `{"tokens": [ids], "trained": [0|1, ...]}`
/// (`trained` optional: every position but the first), the form PyTorch benchmarks and custom
/// tokenization pipelines write. Each line is cut to `maxSequenceLength` tokens; ids must be in
/// the vocabulary. Bad lines throw a ``TrainingDataError`` with the line number.
public struct TokenDataset: Sendable {
    public let sequences: [TrainingSequence]
    public let sha256: String
    public let truncatedCount: Int

    public init(contentsOf path: String, vocabularySize: Int, maxSequenceLength: Int) throws {
        try self.init(jsonl: ChatDataset.readFile(path), source: path, vocabularySize: vocabularySize, maxSequenceLength: maxSequenceLength)
    }

    public init(jsonl bytes: [UInt8], source: String?, vocabularySize: Int, maxSequenceLength: Int) throws {
        var truncated = 0
        let lines = try ChatDataset.numberedLines(jsonl: bytes, source: source) { text -> TrainingSequence in
            let value: JSONValue
            do { value = try JSONParser.parse(text) } catch let failure as JSONSyntaxError { throw TrainingDataError(.invalidJSON(failure.description)) }
            guard case .object(let object) = value else { throw TrainingDataError(.notAnObject(found: value.kindName)) }
            guard case .array(let items)? = object["tokens"], !items.isEmpty else {
                throw TrainingDataError(.invalidValue(key: "tokens", found: object["tokens"]?.kindName ?? "nothing",
                                                      expected: "a non-empty array of token ids"))
            }
            let tokens = try items.map { item -> Int in
                guard let id = item.nonNegativeInteger, id < vocabularySize else {
                    let found = if case .number(let text) = item { text } else { item.kindName }
                    throw TrainingDataError(.invalidValue(key: "tokens", found: found, expected: "ids below the vocabulary size \(vocabularySize)"))
                }
                return id
            }
            var trained = tokens.indices.map { $0 > 0 }
            if let flags = object["trained"] {
                let bits = if case .array(let values) = flags { values.compactMap(\.nonNegativeInteger) } else { [Int]() }
                guard bits.count == tokens.count else {
                    throw TrainingDataError(.invalidValue(key: "trained", found: flags.kindName, expected: "an array of 0 and 1 as long as tokens"))
                }
                trained = bits.enumerated().map { $0.offset > 0 && $0.element != 0 }
            }
            var kept = tokens
            if kept.count > maxSequenceLength {
                kept = Array(kept.prefix(maxSequenceLength))
                trained = Array(trained.prefix(maxSequenceLength))
                truncated += 1
            }
            guard trained.contains(true) else {
                throw TrainingDataError(.nothingTrainedAfterTruncation(tokens: tokens.count, maxSequenceLength: maxSequenceLength))
            }
            return TrainingSequence(tokens: kept, trained: trained)
        }
        guard !lines.isEmpty else { throw TrainingDataError(.noConversations, path: source) }
        sequences = lines.map { $0.value }
        sha256 = ChatDataset.sha256(bytes)
        truncatedCount = truncated
    }

    /// Whether a JSONL file's first non-blank line is in this form (has `tokens`).
    public static func looksPretokenized(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 1 << 16)) ?? Data()
        guard let line = head.split(separator: 0x0A).first(where: { $0.contains(where: { $0 > 0x20 }) }),
              case .object(let object)? = try? JSONParser.parse(Array(line)) else { return false }
        return object["tokens"] != nil && object["messages"] == nil && object["conversations"] == nil
    }
}

// MARK: Writing

extension TokenDataset {
    /// `sequences` in this form, one line each, `{"tokens": [ids], "trained": [0|1, ...]}` (what
    /// `loco data tokenize` writes, and what ``init(jsonl:source:vocabularySize:maxSequenceLength:)`` reads back).
    public static func jsonl(_ sequences: [TrainingSequence]) -> String {
        var text = ""
        for sequence in sequences {
            text += "{\"tokens\": [" + sequence.tokens.map(String.init).joined(separator: ", ") + "], \"trained\": ["
                + sequence.trained.map { $0 ? "1" : "0" }.joined(separator: ", ") + "]}\n"
        }
        return text
    }

    /// Writes ``jsonl(_:)`` of `sequences` to `path`, atomically.
    public static func write(_ sequences: [TrainingSequence], to path: String) throws {
        try AtomicFile.write(Array(jsonl(sequences).utf8), to: path)
    }
}
