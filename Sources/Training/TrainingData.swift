import Foundation
import GGUFFormat
import Inference
import LocoSupport
import Tokenization

/// A training data file read for a run: its sequences split into a training and a validation
/// part, with the file's SHA-256 (for the manifest) and how many sequences were cut.
///
/// The file's form is sniffed from its first non-blank line (``Format-swift.enum``): lines with
/// `tokens` and neither `messages` nor `conversations` are already tokenized (``TokenDataset``);
/// any other file is chat JSONL (``ChatDataset``), rendered with the model's chat template.
///
/// ```swift
/// let data = try TrainingData(contentsOf: "train.jsonl", model: base, maxSequenceLength: 512,
///                             validationFraction: 0.05, seed: 0)
/// let trainer = try Trainer(model: base, train: data.trainingExamples, validation: data.validationExamples,
///                           configuration: configuration, outputFolder: "out",
///                           datasetName: data.name, datasetSHA256: data.sha256)
/// ```
public struct TrainingData: Sendable {
    /// The two forms a training file can have.
    public enum Format: String, Sendable, Equatable, Codable {
        /// `{"messages": [...]}` or `{"conversations": [...]}` per line.
        case chat
        /// `{"tokens": [ids], "trained": [0|1, ...]}` per line.
        case tokens
    }

    public let format: Format
    /// The file's last path component (what the manifest records as the dataset).
    public let name: String
    public let sha256: String
    /// Sequences cut to the maximum length.
    public let truncatedCount: Int
    public let training: [TrainingSequence]
    public let validation: [TrainingSequence]

    /// The form of the file at `path`: ``Format-swift.enum/tokens`` when its first non-blank line
    /// is a pre-tokenized sequence, else ``Format-swift.enum/chat`` (a file that cannot be read is
    /// sniffed as chat, whose reader then throws the error naming it).
    public static func format(of path: String) -> Format {
        TokenDataset.looksPretokenized(path) ? .tokens : .chat
    }

    /// Reads the file at `path` for training `model`: token ids are checked against its
    /// vocabulary; chat lines are rendered with `template` and `tokenizer` (by default the
    /// model's own, made only when the file is chat). Sequences are cut to `maxSequenceLength`
    /// tokens, then split with ``TrainingSequence/split(_:validationFraction:seed:)``.
    ///
    /// Throws the readers' ``TrainingDataError`` (file, line, what was wrong), or the chat
    /// template's and tokenizer's errors when the model has none.
    public init(contentsOf path: String, model: Model, maxSequenceLength: Int, validationFraction: Double, seed: UInt64,
                tokenizer: Tokenizer? = nil, template: ChatTemplate? = nil) throws {
        let sequences: [TrainingSequence]
        format = Self.format(of: path)
        switch format {
        case .tokens:
            let dataset = try TokenDataset(contentsOf: path, vocabularySize: model.vocabularySize, maxSequenceLength: maxSequenceLength)
            (sequences, sha256, truncatedCount) = (dataset.sequences, dataset.sha256, dataset.truncatedCount)
        case .chat:
            let dataset = try ChatDataset(contentsOf: path, template: try template ?? ChatTemplate(gguf: model.file),
                                          tokenizer: try tokenizer ?? Tokenizer(gguf: model.file), maxSequenceLength: maxSequenceLength)
            (sequences, sha256, truncatedCount) = (dataset.sequences, dataset.sha256, dataset.truncatedCount)
        }
        name = URL(fileURLWithPath: path).lastPathComponent
        (training, validation) = TrainingSequence.split(sequences, validationFraction: validationFraction, seed: seed)
    }

    /// The training part as ``Trainer`` takes it.
    public var trainingExamples: [TrainingGraph.Example] {
        training.map { TrainingGraph.Example(tokens: $0.tokens, trained: $0.trained) }
    }

    /// The validation part as ``Trainer`` takes it.
    public var validationExamples: [TrainingGraph.Example] {
        validation.map { TrainingGraph.Example(tokens: $0.tokens, trained: $0.trained) }
    }

    /// Tokens in the training part.
    public var trainingTokens: Int { training.reduce(0) { $0 + $1.tokens.count } }
}

extension TrainingConfiguration {
    /// The GGUF projection names of a comma-separated list (`loco train --targets`): GGUF names
    /// (`attn_q`, ..., `ffn_down`), the short forms `q`, `k`, `v`, `o`, `gate`, `up`, `down`,
    /// PEFT's `q_proj` ... `down_proj`, and the groups `attention`, `mlp` and `all`. Names are
    /// kept in first-seen order without repeats; an unknown name passes through for
    /// ``validate()`` to refuse. Throws ``TrainingError/invalidOption(_:)`` when the list names
    /// nothing.
    public static func targets(parsing text: String) throws -> [String] {
        let attention = ["attn_q", "attn_k", "attn_v", "attn_output"], mlp = ["ffn_gate", "ffn_up", "ffn_down"]
        let aliases: [String: [String]] = [
            "q": ["attn_q"], "k": ["attn_k"], "v": ["attn_v"], "o": ["attn_output"],
            "q_proj": ["attn_q"], "k_proj": ["attn_k"], "v_proj": ["attn_v"], "o_proj": ["attn_output"],
            "gate": ["ffn_gate"], "up": ["ffn_up"], "down": ["ffn_down"],
            "gate_proj": ["ffn_gate"], "up_proj": ["ffn_up"], "down_proj": ["ffn_down"],
            "attention": attention, "mlp": mlp, "all": attention + mlp,
        ]
        var result: [String] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            for name in aliases[part] ?? [part] where !result.contains(name) { result.append(name) }
        }
        guard !result.isEmpty else { throw TrainingError.invalidOption("the target list names no projection") }
        return result
    }
}

/// What a finished training run reports (`loco train --json` prints it as one line). Its JSON
/// uses the snake-case keys of ``CodingKeys``, which Benchmarks/training_side_by_side.py reads;
/// `validation_loss` is `null` when there was no validation part, and a loss that is not a
/// finite number is `null` too (JSON has no NaN).
public struct TrainingSummary: Sendable, Equatable, Encodable {
    public var steps: Int
    public var finalLoss: Double
    public var validationLoss: Double?
    public var tokensPerSecond: Double
    public var seconds: Double
    public var peakRSSBytes: Int
    public var threads: Int
    public var batch: Int
    public var maxSequenceLength: Int
    public var rank: Int
    public var targets: [String]
    public var trainingExamples: Int
    /// The output folder.
    public var out: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case steps
        case finalLoss = "final_loss"
        case validationLoss = "validation_loss"
        case tokensPerSecond = "tokens_per_second"
        case seconds
        case peakRSSBytes = "peak_rss_bytes"
        case threads, batch
        case maxSequenceLength = "max_seq_len"
        case rank, targets
        case trainingExamples = "training_examples"
        case out
    }

    public init(steps: Int, finalLoss: Double, validationLoss: Double?, tokensPerSecond: Double, seconds: Double, peakRSSBytes: Int,
                threads: Int, batch: Int, maxSequenceLength: Int, rank: Int, targets: [String], trainingExamples: Int, out: String) {
        self.steps = steps
        self.finalLoss = finalLoss
        self.validationLoss = validationLoss
        self.tokensPerSecond = tokensPerSecond
        self.seconds = seconds
        self.peakRSSBytes = peakRSSBytes
        self.threads = threads
        self.batch = batch
        self.maxSequenceLength = maxSequenceLength
        self.rank = rank
        self.targets = targets
        self.trainingExamples = trainingExamples
        self.out = out
    }

    /// The summary of `result`, a run with `configuration` on `trainingExamples` sequences and
    /// `threads` threads; the peak memory is read now unless given.
    public init(result: TrainingResult, configuration: TrainingConfiguration, trainingExamples: Int, threads: Int,
                peakRSSBytes: Int = PeakMemory.residentBytes()) {
        self.init(steps: result.steps, finalLoss: result.finalLoss, validationLoss: result.validationLoss,
                  tokensPerSecond: result.tokensPerSecond, seconds: result.seconds, peakRSSBytes: peakRSSBytes, threads: threads,
                  batch: configuration.batchSize, maxSequenceLength: configuration.maxSequenceLength, rank: configuration.rank,
                  targets: configuration.targets, trainingExamples: trainingExamples, out: result.outputFolder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        /// A finite number, else null.
        func number(_ value: Double?, _ key: CodingKeys) throws {
            if let value, value.isFinite { try container.encode(value, forKey: key) } else { try container.encodeNil(forKey: key) }
        }
        try container.encode(steps, forKey: .steps)
        try number(finalLoss, .finalLoss)
        try number(validationLoss, .validationLoss)
        try number(tokensPerSecond, .tokensPerSecond)
        try number(seconds, .seconds)
        try container.encode(peakRSSBytes, forKey: .peakRSSBytes)
        try container.encode(threads, forKey: .threads)
        try container.encode(batch, forKey: .batch)
        try container.encode(maxSequenceLength, forKey: .maxSequenceLength)
        try container.encode(rank, forKey: .rank)
        try container.encode(targets, forKey: .targets)
        try container.encode(trainingExamples, forKey: .trainingExamples)
        try container.encode(out, forKey: .out)
    }

    /// One line of JSON: keys sorted, slashes unescaped, every string escaped.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
