import Foundation
import Inference

/// Training data already tokenized: JSON lines `{"tokens": [ids], "trained": [0|1, ...]}`
/// (`trained` optional: every position but the first), the form PyTorch benchmarks and custom
/// tokenization pipelines write. Each line is cut to `maxSequenceLength` tokens; ids must be in
/// the vocabulary. Bad lines throw a ``TrainingDataError`` with the line number.
public struct TokenDataset: Sendable {
    public let sequences: [TrainingSequence]
    public let sha256: String
    public let truncatedCount: Int

    public init(contentsOf path: String, vocabularySize: Int, maxSequenceLength: Int) throws {
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw TrainingDataError(.io(operation: "read", path: path, errno: 0, message: "\(error)"), path: path)
        }
        try self.init(jsonl: bytes, source: path, vocabularySize: vocabularySize, maxSequenceLength: maxSequenceLength)
    }

    public init(jsonl bytes: [UInt8], source: String?, vocabularySize: Int, maxSequenceLength: Int) throws {
        var sequences: [TrainingSequence] = []
        var truncated = 0
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            func error(_ kind: TrainingDataError.Kind) -> TrainingDataError { TrainingDataError(kind, path: source, line: index + 1) }
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            let value: Any
            do { value = try JSONSerialization.jsonObject(with: Data(line)) } catch let failure { throw error(.invalidJSON("\(failure.localizedDescription)")) }
            guard let object = value as? [String: Any] else { throw error(.notAnObject(found: "\(type(of: value))")) }
            guard let tokens = object["tokens"] as? [Int], !tokens.isEmpty else {
                throw error(.invalidValue(key: "tokens", found: object["tokens"].map { "\(type(of: $0))" } ?? "nothing",
                                          expected: "a non-empty array of token ids"))
            }
            if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
                throw error(.invalidValue(key: "tokens", found: "\(bad)", expected: "ids below the vocabulary size \(vocabularySize)"))
            }
            var trained = tokens.indices.map { $0 > 0 }
            if let flags = object["trained"] {
                guard let values = flags as? [Int], values.count == tokens.count else {
                    throw error(.invalidValue(key: "trained", found: "\(type(of: flags))", expected: "an array of 0 and 1 as long as tokens"))
                }
                trained = values.enumerated().map { $0.offset > 0 && $0.element != 0 }
            }
            var kept = tokens
            if kept.count > maxSequenceLength {
                kept = Array(kept.prefix(maxSequenceLength))
                trained = Array(trained.prefix(maxSequenceLength))
                truncated += 1
            }
            guard trained.contains(true) else {
                throw error(.nothingTrainedAfterTruncation(tokens: tokens.count, maxSequenceLength: maxSequenceLength))
            }
            sequences.append(TrainingSequence(tokens: kept, trained: trained))
        }
        guard !sequences.isEmpty else { throw TrainingDataError(.noConversations, path: source) }
        self.sequences = sequences
        var hasher = SHA256()
        hasher.update(bytes)
        sha256 = SHA256.hexString(hasher.finalize())
        truncatedCount = truncated
    }

    /// Whether a JSONL file's first non-blank line is in this form (has `tokens`).
    public static func looksPretokenized(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 1 << 16)) ?? Data()
        guard let line = head.split(separator: 0x0A).first(where: { $0.contains(where: { $0 > 0x20 }) }),
              let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return false }
        return object["tokens"] != nil && object["messages"] == nil && object["conversations"] == nil
    }
}
