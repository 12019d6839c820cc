import Foundation
import Inference
import Tensor
import LocoSupport
import Tokenization

/// One scored item.
public struct ItemResult: Sendable, Equatable, Encodable {
    /// What the model answered: the chosen index for multiple choice, else the reply's text.
    public enum Prediction: Sendable, Equatable, Encodable {
        case choice(Int)
        case text(String)

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .choice(let index): try container.encode(index)
            case .text(let text): try container.encode(text)
            }
        }
    }

    public var id: String
    public var type: SuiteItem.Kind
    public var prediction: Prediction
    public var correct: Bool
    /// The adapter that answered (nil: the base model).
    public var adapter: String?
    /// multiple_choice: each choice's log-likelihood, and whether the length-normalized choice
    /// (`acc_norm`) is right.
    public var loglikelihoods: [Double]?
    public var correctNormalized: Bool?
    /// numeric: the number found in the reply; code: why the tests failed.
    public var extracted: Double?
    public var detail: String?
    public var generatedTokens: Int

    enum CodingKeys: String, CodingKey {
        case id, type, prediction, correct, adapter, loglikelihoods, extracted, detail
        case correctNormalized = "correct_norm"
        case generatedTokens = "generated_tokens"
    }

    /// Reads back a line of the run journal (what ``SuiteRun`` appends).
    init(json object: JSONObject) throws {
        func bad() -> EvaluationDataError { EvaluationDataError(path: nil, line: nil, message: "a damaged line in the run journal") }
        guard let id = object["id"]?.string, let typeName = object["type"]?.string, let type = SuiteItem.Kind(rawValue: typeName),
              case .bool(let correct)? = object["correct"] else { throw bad() }
        self.id = id
        self.type = type
        self.correct = correct
        switch object["prediction"] {
        case .number(let text)?: prediction = .choice(Int(text) ?? -1)
        case .string(let text)?: prediction = .text(text)
        default: throw bad()
        }
        adapter = object["adapter"]?.string
        if case .array(let list)? = object["loglikelihoods"] {
            loglikelihoods = list.compactMap { if case .number(let t) = $0 { Double(t) } else { nil } }
        }
        if case .bool(let value)? = object["correct_norm"] { correctNormalized = value }
        if case .number(let text)? = object["extracted"] { extracted = Double(text) }
        detail = object["detail"]?.string
        if case .number(let text)? = object["generated_tokens"] { generatedTokens = Int(text) ?? 0 } else { generatedTokens = 0 }
    }

    public init(id: String, type: SuiteItem.Kind, prediction: Prediction, correct: Bool, adapter: String? = nil,
                loglikelihoods: [Double]? = nil, correctNormalized: Bool? = nil, extracted: Double? = nil, detail: String? = nil,
                generatedTokens: Int = 0) {
        self.id = id
        self.type = type
        self.prediction = prediction
        self.correct = correct
        self.adapter = adapter
        self.loglikelihoods = loglikelihoods
        self.correctNormalized = correctNormalized
        self.extracted = extracted
        self.detail = detail
        self.generatedTokens = generatedTokens
    }
}

/// A suite's results: the score and every item, as `loco eval run --json` prints them.
public struct SuiteReport: Sendable, Encodable {
    public var suite: String
    public var suiteSHA256: String
    public var model: String
    /// The adapter setting: nil (base), a name or path, or "auto".
    public var adapter: String?
    /// The share of items answered correctly, in [0, 1].
    public var score: Double
    /// Multiple-choice items only: accuracy by raw and by length-normalized log-likelihood.
    public var multipleChoiceAccuracy: Double?
    public var multipleChoiceAccuracyNormalized: Double?
    public var scoreByType: [String: Double]
    public var correct: Int
    public var total: Int
    /// Items scored in this process (the rest came from the journal of an earlier run).
    public var scoredNow: Int
    public var seconds: Double
    public var itemsPerSecond: Double
    public var items: [ItemResult]

    enum CodingKeys: String, CodingKey {
        case suite, model, adapter, score, correct, total, seconds, items
        case suiteSHA256 = "suite_sha256"
        case multipleChoiceAccuracy = "acc"
        case multipleChoiceAccuracyNormalized = "acc_norm"
        case scoreByType = "score_by_type"
        case scoredNow = "scored_now"
        case itemsPerSecond = "items_per_second"
    }

    public init(suite: String, suiteSHA256: String, model: String, adapter: String?, score: Double, multipleChoiceAccuracy: Double?,
                multipleChoiceAccuracyNormalized: Double?, scoreByType: [String: Double], correct: Int, total: Int, scoredNow: Int,
                seconds: Double, itemsPerSecond: Double, items: [ItemResult]) {
        self.suite = suite
        self.suiteSHA256 = suiteSHA256
        self.model = model
        self.adapter = adapter
        self.score = score
        self.multipleChoiceAccuracy = multipleChoiceAccuracy
        self.multipleChoiceAccuracyNormalized = multipleChoiceAccuracyNormalized
        self.scoreByType = scoreByType
        self.correct = correct
        self.total = total
        self.scoredNow = scoredNow
        self.seconds = seconds
        self.itemsPerSecond = itemsPerSecond
        self.items = items
    }

    public func jsonText() throws -> String {
        String(decoding: try JSONEncoder.sortedKeys.encode(self), as: UTF8.self)
    }

    /// A short Markdown report: the score, by type, and the wrong items.
    public func markdown() -> String {
        var lines = ["# \(suite): \(String(format: "%.1f", 100 * score))% (\(correct)/\(total))", "",
                     "- model: `\(model)`", "- adapter: \(adapter.map { "`\($0)`" } ?? "none (base model)")",
                     "- suite SHA-256: `\(suiteSHA256)`"]
        if let acc = multipleChoiceAccuracy, let norm = multipleChoiceAccuracyNormalized {
            lines.append(String(format: "- multiple choice: acc %.1f%%, acc_norm %.1f%%", 100 * acc, 100 * norm))
        }
        for (type, value) in scoreByType.sorted(by: { $0.key < $1.key }) {
            lines.append(String(format: "- %@: %.1f%%", type, 100 * value))
        }
        let wrong = items.filter { !$0.correct }
        if !wrong.isEmpty {
            lines += ["", "## Wrong (\(wrong.count))", "", "| id | type | prediction |", "|---|---|---|"]
            for item in wrong.prefix(200) {
                let shown: String
                switch item.prediction {
                case .choice(let index): shown = "choice \(index)"
                case .text(let text): shown = String(text.prefix(120)).replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "|", with: "\\|")
                }
                lines.append("| \(item.id) | \(item.type.rawValue) | \(shown) |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Scores a suite with one model: generation items greedily through the chat template (code
/// items continue their prompt raw), decoded `batchSize` at a time (``BatchGenerator``), each
/// from an empty cache; multiple-choice items by log-likelihood without generating.
///
/// Batches are fixed by suite order, and a row's results do not depend on the other rows of
/// its pass, so an item's result depends only on the item and on which batch (and position of
/// the batch in which rows finish) it falls in: the same run gives the same results, and a
/// resumed run batches as the first did.
///
/// With an output folder the run is resumable: each scored item is appended to
/// `items.jsonl` as one line before the next starts; a run started again on the same folder
/// (same suite, model and adapter setting, as `run.json` records) skips the items already
/// there, so a killed run continues where it stopped and ends with the same results.
public struct SuiteRun {
    public let model: Model
    public let tokenizer: Tokenizer
    /// The chat template for generation items; nil writes prompts raw.
    public let template: ChatTemplate?
    public var maxTokens = 256
    public var contextLength = 2048
    public var codeRunner = CodeRunner()
    /// The adapter of each item: its name (nil for the base) and deltas.
    public var adapterFor: (SuiteItem) throws -> (name: String?, adapters: AdapterSet?) = { _ in (nil, nil) }
    public var numerics: Numerics = .fast
    /// Generation items decoded together (``BatchGenerator``); 1 is one sequence at a time.
    public var batchSize = 16
    /// The threads the products run on.
    public var pool: ComputePool = .shared
    /// Score only this shard's share of the suite (see ``Shard``): its multiple-choice items and
    /// generation batches, the batches cut as the whole run cuts them, so each item gets the
    /// result it gets unsharded. Needs a folder: `shard.json` there tells ``ShardMerge`` what it
    /// holds.
    public var shard: Shard?

    /// HumanEval's stop sequences for code completions.
    public static let codeStops = ["\nclass ", "\ndef ", "\n#", "\nif __name__", "\nprint("]

    public init(model: Model, tokenizer: Tokenizer, template: ChatTemplate?) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
    }

    /// Identifies a run for resuming: what must match for a journal to be reused.
    public struct Identity: Sendable, Equatable {
        public var suiteSHA256: String
        public var model: String
        public var adapter: String?
        public var maxTokens: Int
        public var numerics: String
        /// Batches decide which rows share a pass (see ``BatchGenerator``): part of what a
        /// result depends on.
        public var batch: Int
        /// The shard a journal holds (nil: the whole suite).
        public var shard: String?

        public init(suiteSHA256: String, model: String, adapter: String?, maxTokens: Int, numerics: String = "fast", batch: Int = 16) {
            self.batch = batch
            self.suiteSHA256 = suiteSHA256
            self.model = model
            self.adapter = adapter
            self.maxTokens = maxTokens
            self.numerics = numerics
        }

        var json: String {
            JSONWriter.encode(.object(JSONObject([("suite_sha256", .string(suiteSHA256)), ("model", .string(model)),
                                                  ("adapter", adapter.map { .string($0) } ?? .null),
                                                  ("max_tokens", .number(String(maxTokens))), ("numerics", .string(numerics)),
                                                  ("batch", .number(String(batch)))] + (shard.map { [("shard", .string($0))] } ?? []))),
                              pretty: false)
        }
    }

    /// The identity of a run of `suite` by this runner on the model at `model` with the adapter
    /// setting `adapter`: its token limit, numerics and batch size are the runner's.
    public func identity(for suite: EvaluationSuite, model: String, adapter: String?) -> Identity {
        Identity(suiteSHA256: suite.sha256, model: model, adapter: adapter, maxTokens: maxTokens, numerics: numerics.flagName, batch: batchSize)
    }

    /// Scores every item of `suite` (those not in `folder`'s journal already), calling
    /// `progress(done, total)` after each.
    public func run(_ suite: EvaluationSuite, identity: Identity, folder: String? = nil,
                    progress: (Int, Int) -> Void = { _, _ in }) throws -> SuiteReport {
        var done: [String: ItemResult] = [:]
        var journal: Journal?
        // A shard scores the items of the units it owns; the journal is the shard's own.
        var owned: Set<String>?
        var manifest: ShardManifest?
        if let shard {
            guard let folder else { throw ShardError("a sharded suite run needs an output folder for its partial results") }
            let units = Self.units(suite.items, batchSize: batchSize)
            let mine = shard.owned(units.map(\.key))
            let ids = Set(units.filter { mine.contains($0.key) }.flatMap(\.ids))
            owned = ids
            manifest = ShardManifest(kind: .run, shard: shard, run: identity.json, units: suite.items.map(\.id),
                                     owned: suite.items.map(\.id).filter { ids.contains($0) }, complete: false)
            manifest?.suite = suite.name
            var shardIdentity = identity
            shardIdentity.shard = shard.description
            journal = try Journal(folder: folder, identity: shardIdentity)
            try manifest?.write(to: folder)
        } else if let folder {
            journal = try Journal(folder: folder, identity: identity)
        }
        done = journal?.results ?? [:]
        let items = owned.map { owned in suite.items.filter { owned.contains($0.id) } } ?? suite.items
        let session = model.makeSession(contextLength: contextLength, numerics: numerics, pool: pool)
        let batch = BatchGenerator(model: model, tokenizer: tokenizer, contextLength: contextLength, numerics: numerics, pool: pool)
        let start = ContinuousClock.now
        var scoredNow = 0
        progress(done.count, items.count)
        func record(_ results: [ItemResult]) throws {
            try journal?.append(results)
            for result in results { done[result.id] = result }
            scoredNow += results.count
            progress(done.count, items.count)
        }
        // Multiple choice one item at a time (no generation).
        for item in items where item.kind == .multipleChoice && done[item.id] == nil {
            let (name, adapters) = try adapterFor(item)
            session.adapters = adapters
            var result = try scoreChoice(item, session: session)
            result.adapter = name
            try record([result])
        }
        // Generation in batches fixed by suite order (code apart: its prompts are raw and its
        // stops differ), so a resumed run batches exactly as the first did: a batch with any item
        // missing from the journal runs whole again.
        for batchItems in Self.batches(suite.items, size: batchSize)
        where batchItems.contains(where: { done[$0.id] == nil }) && owned.map({ $0.contains(batchItems[0].id) }) ?? true {
            var groups: [(name: String?, adapters: AdapterSet?, items: [SuiteItem])] = []
            for item in batchItems {
                let (name, adapters) = try adapterFor(item)
                if let g = groups.firstIndex(where: { $0.name == name }) { groups[g].items.append(item) } else { groups.append((name, adapters, [item])) }
            }
            var results: [ItemResult] = []
            for group in groups {
                results += try scoreGenerated(group.items, adapters: group.adapters, batch: batch).map { result in
                    var result = result
                    result.adapter = group.name
                    return result
                }
            }
            try record(results)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let report = Self.report(suite: suite.name, suiteSHA256: suite.sha256, identity: identity, items: items.map { done[$0.id]! },
                                 scoredNow: scoredNow, seconds: seconds)
        if let folder {
            try Self.write(report, to: folder)
            if var manifest {
                manifest.complete = true
                try manifest.write(to: folder)
            }
        }
        return report
    }

    /// Writes `results.json` and `report.md` into `folder`.
    static func write(_ report: SuiteReport, to folder: String) throws {
        try AtomicFile.write(Array(try report.jsonText().utf8) + [0x0A], to: folder + "/results.json")
        try AtomicFile.write(Array(report.markdown().utf8), to: folder + "/report.md")
    }

    /// The units a shard takes whole: each multiple-choice item, and each generation batch as
    /// ``batches(_:size:)`` cuts it (a row's numbers depend on how many rows share its passes).
    static func units(_ items: [SuiteItem], batchSize: Int) -> [(key: String, ids: [String])] {
        items.filter { $0.kind == .multipleChoice }.map { ("item \($0.id)", [$0.id]) }
            + batches(items, size: batchSize).map { batch in ("batch " + batch.map(\.id).joined(separator: "\n"), batch.map(\.id)) }
    }

    static func report(suite: String, suiteSHA256: String, identity: Identity, items: [ItemResult], scoredNow: Int, seconds: Double) -> SuiteReport {
        let correct = items.filter(\.correct).count
        var byType: [String: Double] = [:]
        for kind in SuiteItem.Kind.allCases {
            let some = items.filter { $0.type == kind }
            if !some.isEmpty { byType[kind.rawValue] = Double(some.filter(\.correct).count) / Double(some.count) }
        }
        let choices = items.filter { $0.type == .multipleChoice }
        return SuiteReport(
            suite: suite, suiteSHA256: suiteSHA256, model: identity.model, adapter: identity.adapter,
            score: items.isEmpty ? 0 : Double(correct) / Double(items.count),
            multipleChoiceAccuracy: choices.isEmpty ? nil : Double(choices.filter(\.correct).count) / Double(choices.count),
            multipleChoiceAccuracyNormalized: choices.isEmpty ? nil : Double(choices.filter { $0.correctNormalized == true }.count) / Double(choices.count),
            scoreByType: byType, correct: correct, total: items.count, scoredNow: scoredNow, seconds: seconds,
            itemsPerSecond: seconds > 0 ? Double(scoredNow) / seconds : 0, items: items)
    }

    /// The generation items in batches of at most `size`, in suite order; code items batch
    /// among themselves.
    static func batches(_ items: [SuiteItem], size: Int) -> [[SuiteItem]] {
        var out: [[SuiteItem]] = []
        for code in [false, true] {
            let some = items.filter { $0.kind != .multipleChoice && ($0.kind == .code) == code }
            out += stride(from: 0, to: some.count, by: max(1, size)).map { Array(some[$0..<min(some.count, $0 + max(1, size))]) }
        }
        return out
    }

    // MARK: Scoring

    func scoreChoice(_ item: SuiteItem, session: Session) throws -> ItemResult {
        guard case .text(let context) = item.prompt else { preconditionFailure("checked when the suite was read") }
        let scores = try choiceLoglikelihoods(context: context, choices: item.choices, session: session)
        let best = scores.indices.max { scores[$0].total < scores[$1].total }!
        let bestNormalized = scores.indices.max { scores[$0].total / Double(scores[$0].bytes) < scores[$1].total / Double(scores[$1].bytes) }!
        return ItemResult(id: item.id, type: item.kind, prediction: .choice(best), correct: best == item.correctChoice,
                          loglikelihoods: scores.map(\.total), correctNormalized: bestNormalized == item.correctChoice)
    }

    /// Generates the replies of `items` (all code, or none) as one batch and scores them.
    func scoreGenerated(_ items: [SuiteItem], adapters: AdapterSet?, batch: BatchGenerator) throws -> [ItemResult] {
        let code = items.first?.kind == .code
        let prompts = try items.map { item -> [Int32] in
            if code, case .text(let prompt) = item.prompt { return tokenizer.encode(prompt, addSpecial: true) }
            return try promptTokens(item.prompt)
        }
        let replies = try batch.generate(prompts: prompts, options: GenerationOptions(maxTokens: maxTokens, sampler: .greedy,
                                                                                      stopStrings: code ? Self.codeStops : []),
                                         adapters: adapters)
        return try zip(items, replies).map { try score($0, reply: $1.text, tokens: $1.tokens.count) }
    }

    func score(_ item: SuiteItem, reply: String, tokens: Int) throws -> ItemResult {
        switch item.kind {
        case .multipleChoice:
            preconditionFailure("multiple choice is scored by log-likelihood")
        case .code:
            guard case .text(let prompt) = item.prompt else { preconditionFailure("checked when the suite was read") }
            let outcome = try codeRunner.run(CodeRunner.program(prompt: prompt, completion: reply, tests: item.tests!,
                                                                entryPoint: item.entryPoint!))
            return ItemResult(id: item.id, type: item.kind, prediction: .text(reply), correct: outcome.passed,
                              detail: outcome.passed ? nil : outcome.detail, generatedTokens: tokens)
        case .numeric, .exact, .contains:
            switch item.kind {
            case .numeric:
                let number = AnswerExtraction.number(in: reply)
                return ItemResult(id: item.id, type: item.kind, prediction: .text(reply),
                                  correct: AnswerExtraction.matches(number, item.number!, tolerance: item.tolerance), extracted: number,
                                  generatedTokens: tokens)
            case .exact:
                return ItemResult(id: item.id, type: item.kind, prediction: .text(reply), correct: TextNormalization.exactMatch(reply, item.answers),
                                  generatedTokens: tokens)
            default:
                return ItemResult(id: item.id, type: item.kind, prediction: .text(reply),
                                  correct: TextNormalization.containsMatch(reply, item.answers), generatedTokens: tokens)
            }
        }
    }

    func promptTokens(_ prompt: SuiteItem.Prompt) throws -> [Int32] {
        let messages: [ChatMessage]
        switch prompt {
        case .text(let text): messages = [.user(text)]
        case .messages(let list): messages = list
        }
        guard let template else {
            return tokenizer.encode(messages.map(\.content).joined(separator: "\n"), addSpecial: true)
        }
        return try tokenizer.encode(messages: messages, template: template)
    }

    /// Each choice's log-likelihood as a continuation of `context`, as lm-evaluation-harness
    /// computes it: the continuation is the choice after one space (unless the context ends in
    /// whitespace or the choice starts with it); its tokens are those of context + continuation
    /// after the context's own tokens; the sum of their log-probabilities, and the
    /// continuation's length in UTF-8 bytes for `acc_norm`.
    public func choiceLoglikelihoods(context: String, choices: [String], session: Session) throws -> [(total: Double, bytes: Int)] {
        let contextTokens = tokenizer.encode(context, addSpecial: true)
        // Each choice's whole sequence runs from an empty cache, as llama.cpp and
        // lm-evaluation-harness (through `loco serve`) evaluate it: in the fast order a pass's
        // float work depends on how many rows it has, so continuing a cached context would give
        // other numbers than those tools (by up to 0.2 nats here), and other choices on close items.
        var out: [(Double, Int)] = []
        for choice in choices {
            let continuation = Self.continuation(context: context, choice: choice)
            var sequence = tokenizer.encode(context + continuation, addSpecial: true)
            if sequence.count <= contextTokens.count || Array(sequence.prefix(contextTokens.count)) != contextTokens {
                sequence = contextTokens + tokenizer.encode(continuation, addSpecial: false)
            }
            var total = 0.0
            session.reset()
            let logits = try session.forward(tokens: sequence, logits: .all)
            for i in contextTokens.count..<sequence.count { total += Perplexity.logSoftmax(logits[i - 1], at: Int(sequence[i])) }
            out.append((total, continuation.utf8.count))
        }
        session.reset()
        return out
    }

    static func continuation(context: String, choice: String) -> String {
        if context.last?.isWhitespace == true || choice.first?.isWhitespace == true { return choice }
        return " " + choice
    }
}

/// The run journal: `run.json` (what the run is) and `items.jsonl` (one line per scored item).
struct Journal {
    let folder: String
    let handle: FileHandle
    var results: [String: ItemResult] = [:]

    init(folder: String, identity: SuiteRun.Identity) throws {
        self.folder = folder
        try FileSystem.makeAll(folder)
        let header = folder + "/run.json", items = folder + "/items.jsonl"
        if FileSystem.exists(header) {
            let recorded = String(decoding: try FileSystem.read(header, limit: 1 << 20), as: UTF8.self)
            guard recorded.trimmingCharacters(in: .whitespacesAndNewlines) == identity.json else {
                throw EvaluationDataError(path: folder, line: nil,
                                          message: "holds a run of another suite, model, adapter, token limit, numerics or batch size (\(recorded.trimmingCharacters(in: .whitespacesAndNewlines))); use another --out")
            }
        } else {
            if FileSystem.exists(items) { FileSystem.removeAll(items) }
            try AtomicFile.write(Array((identity.json + "\n").utf8), to: header)
        }
        if FileSystem.exists(items) {
            var bytes = try FileSystem.read(items, limit: 1 << 30)
            // A line cut short by a kill is dropped (and cut off the file): its item runs again.
            if let lastNewline = bytes.lastIndex(of: 0x0A) {
                if lastNewline != bytes.count - 1 { bytes = Array(bytes[...lastNewline]); truncate(items, off_t(bytes.count)) }
            } else if !bytes.isEmpty {
                bytes = []
                truncate(items, 0)
            }
            results = try Self.parse(bytes, path: items)
        } else {
            _ = FileManager.default.createFile(atPath: items, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: items) else {
            throw EvaluationDataError(path: items, line: nil, message: "cannot open the journal for appending")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// The results of a journal's complete lines (a later line of an id overrides an earlier one).
    static func parse(_ bytes: [UInt8], path: String) throws -> [String: ItemResult] {
        var results: [String: ItemResult] = [:]
        for line in bytes.split(separator: 0x0A) where !line.isEmpty {
            guard case .object(let object)? = try? JSONParser.parse(Array(line)) else {
                throw EvaluationDataError(path: path, line: nil, message: "a line of the journal is not JSON; remove the folder to start again")
            }
            let result = try ItemResult(json: object)
            results[result.id] = result
        }
        return results
    }

    /// Appends one line per result in one write and flushes it to disk before the next batch
    /// starts. (A later line of an id overrides an earlier one when the journal is read.)
    func append(_ results: [ItemResult]) throws {
        let encoder = JSONEncoder.sortedKeys
        var lines = Data()
        for result in results {
            lines.append(try encoder.encode(result))
            lines.append(0x0A)
        }
        try handle.write(contentsOf: lines)
        try handle.synchronize()
    }
}
