import Foundation
import Adapters
import GGUFFormat
import Inference
import LocoSupport
import Tensor
import Tokenization

/// What the selection needs from a trainer: one quick LoRA adapter on a candidate, the same
/// recipe for every candidate. `Evaluation` does not train; `LocoLLM` conforms with the
/// `Training` target (`SelectionTrainer`).
public protocol QuickAdapterTrainer {
    /// Trains the adapter on `model` (loaded from `path`), rendering chat data with `template`,
    /// into `folder`; the adapter's GGUF file is `QuickAdapter.adapterPath`.
    func train(model: Model, path: String, template: ChatTemplate?, folder: String) throws -> QuickAdapter
}

/// One candidate's quick adapter: how training went and what it costs.
public struct QuickAdapter: Sendable, Codable, Equatable {
    /// The training loss of every step.
    public var losses: [Double]
    /// The first step whose loss is at or below the selection's target (nil: never).
    public var stepsToTarget: Int?
    public var finalLoss: Double
    /// The adapter's GGUF LoRA file.
    public var adapterPath: String
    public var adapterBytes: Int
    public var seconds: Double

    public init(losses: [Double], stepsToTarget: Int?, finalLoss: Double, adapterPath: String, adapterBytes: Int, seconds: Double) {
        self.losses = losses
        self.stepsToTarget = stepsToTarget
        self.finalLoss = finalLoss
        self.adapterPath = adapterPath
        self.adapterBytes = adapterBytes
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case losses
        case stepsToTarget = "steps_to_target"
        case finalLoss = "final_loss"
        case adapterPath = "adapter_path"
        case adapterBytes = "adapter_bytes"
        case seconds
    }
}

/// Choosing a base model the way the LocoLLM design note lays it out, for a list of candidate
/// GGUF files:
///
/// 1. **Hard requirements**, from each file alone: the licence (`general.license`) against an
///    allow-list, a chat template (the file's own, or a family named for a base model), and an
///    estimate of the memory it needs on an 8 GB laptop at a stated context (weights, KV cache,
///    one adapter, the runtime) against the share of the laptop a model may use.
/// 2. **The base suite**: every suite scored on the bare model.
/// 3. **A quick adapter**, the same recipe on each (``QuickAdapterTrainer``): the steps it takes to
///    reach a target loss, its final loss, its size, and every suite scored again with it.
/// 4. **The laptop probe** (run first, before the suites grow the process): prefill and decode
///    speed, time to first token, peak memory (compared with the estimate), the resident
///    memory's drift over a long conversation, and energy per token (measured from RAPL, or
///    estimated and labelled).
///
/// Candidates that meet the hard requirements rank first, by their mean score with the quick
/// adapter (without one: the base's), then by decode speed; the report says for each why it
/// ranked where it did. Suite runs keep their journals in `folder/SLUG/runs/`, so a selection
/// started again continues; `selection.json` and `selection.md` are written at the end.
public struct BaseModelSelection {
    /// A candidate file, and the chat template family to use when its file has none.
    public struct Candidate: Sendable, Equatable {
        public var path: String
        public var chatTemplate: String?

        public init(path: String, chatTemplate: String? = nil) {
            self.path = path
            self.chatTemplate = chatTemplate
        }
    }

    public struct Configuration: Sendable {
        public var candidates: [Candidate]
        public var suites: [EvaluationSuite] = []
        /// The context the memory estimate plans for.
        public var context = 4096
        /// The laptop's memory, and the part of it the model may use (the rest: the system, a
        /// browser, an editor).
        public var laptopBytes = 8 << 30
        public var availableBytes = 5 << 30
        /// Licences accepted (`general.license`, compared case-insensitively).
        public var licenses = BaseModelSelection.defaultLicenses
        /// The adapter the memory estimate includes: rank and how many of each block's
        /// projections it adapts (4: attention).
        public var estimateRank = 16
        public var maxTokens = 128
        public var batch = 16
        public var threads: Int?
        /// The loss the quick adapter's steps-to-target counts to.
        public var targetLoss = 1.0
        public var probePromptTokens = 128
        public var probeGenTokens = 64
        public var probeRepetitions = 2
        /// Turns of the long conversation whose memory drift the probe reads.
        public var chatTurns = 50
        public var wattsPerCore = EnergyMeter.defaultWattsPerCore
        /// Runs the speed probe on a model file. nil: in this process, first thing after the
        /// candidate is loaded (its peak memory then includes what the process kept from earlier
        /// candidates). `loco select` runs `loco bench` in a child process instead, so each peak
        /// is that model's alone.
        public var probe: (@Sendable (_ path: String, _ configuration: SpeedProbe.Configuration) throws -> BenchResult)?
        /// Measure only this shard's candidates (see ``Shard``); the folder gets `shard.json`
        /// for ``ShardMerge``.
        public var shard: Shard?

        public init(candidates: [Candidate]) {
            self.candidates = candidates
        }
    }

    /// Licences of the design note's candidates that allow a student project: Apache 2.0 and MIT
    /// (Qwen3, SmolLM2, BitNet), Gemma's terms, Llama 3.2's community licence.
    public static let defaultLicenses = ["apache-2.0", "mit", "gemma", "llama3.2", "llama3.1", "llama3"]

    /// Memory the runtime itself holds besides weights, KV cache and adapter (code, thread stacks,
    /// scratch for a prompt batch, the logits): a stated allowance, which the report checks
    /// against each candidate's measured peak.
    public static let runtimeBytes = 96 << 20

    public var configuration: Configuration

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Runs the selection into `folder` (created if missing); `trainer` nil skips the quick
    /// adapters. `progress` gets a line per step.
    public func run(folder: String, trainer: (any QuickAdapterTrainer)?, progress: (String) -> Void = { _ in }) throws -> SelectionReport {
        let c = configuration
        try FileSystem.makeAll(folder)
        let pool = ComputePool(threads: c.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let meter = EnergyMeter(wattsPerCore: c.wattsPerCore)
        var results: [SelectionCandidate] = []
        let names = c.candidates.enumerated().map { Self.slug($1.path, index: $0) + ($1.chatTemplate.map { "@" + $0 } ?? "") }
        if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw SelectionError("candidate \(repeated) is listed twice")
        }
        var manifest: ShardManifest?
        var mine = Set(names)
        if let shard = c.shard {
            mine = shard.owned(names)
            manifest = ShardManifest(kind: .select, shard: shard, run: Self.runDescription(c), units: names,
                                     owned: names.filter { mine.contains($0) }, complete: false)
            try manifest?.write(to: folder)
        }
        for (index, candidate) in c.candidates.enumerated() where mine.contains(names[index]) {
            let file = try GGUFFile(contentsOf: candidate.path)
            let model = try Model(file: file)
            let slug = Self.slug(candidate.path, index: index) + (candidate.chatTemplate.map { "@" + $0 } ?? "")
            var result = Self.requirements(candidate, file: file, model: model, configuration: c)
            progress("\(slug): \(result.requirementsMet ? "meets the hard requirements" : "fails: " + result.failures.joined(separator: "; "))")
            let tokenizer = try Tokenizer(gguf: file)
            let template = try? candidate.chatTemplate.map { try ChatTemplate(named: $0, gguf: file) } ?? ChatTemplate(gguf: file)

            // The laptop probe first, before the suites and training have grown the process.
            progress("\(slug): speed and memory")
            var probe = SpeedProbe.Configuration()
            probe.promptTokens = c.probePromptTokens
            probe.genTokens = c.probeGenTokens
            probe.repetitions = c.probeRepetitions
            probe.threads = pool.threadCount
            probe.chatTurns = c.chatTurns
            PeakMemory.reset()
            let mark = meter.start()
            let speed = try c.probe.map { try $0(candidate.path, probe) } ?? SpeedProbe(probe).run(model: model, path: candidate.path)
            let energy = meter.stop(mark)
            result.prefillTokensPerSecond = speed.prefillTokensPerSecond
            result.decodeTokensPerSecond = speed.decodeTokensPerSecond
            result.timeToFirstTokenSeconds = Double(c.probePromptTokens) / speed.prefillTokensPerSecond + 1 / speed.decodeTokensPerSecond
            result.peakRSSBytes = c.probe != nil ? speed.peakRSSBytes : PeakMemory.residentBytesSinceReset() ?? speed.peakRSSBytes
            result.probeInChildProcess = c.probe != nil
            result.chatTurns = speed.chatRSSByTurnBytes?.count
            result.chatRSSDriftBytes = speed.chatRSSDriftBytes
            result.chatKVCacheBytes = speed.chatKVCacheBytes
            // The probe's longest session: its speed runs, or the conversation when that is longer.
            let chatPositions = (result.chatTurns ?? 0) * (probe.chatPromptTokens + probe.chatReplyTokens)
            result.probeEstimate = Self.memoryEstimate(model: model, file: file, context: max(c.probePromptTokens + c.probeGenTokens, chatPositions),
                                                       rank: 0, targets: 0)
            result.energy = energy
            // Every token the probe ran shares the energy: each repetition's prompt and decode, and the conversation's.
            let probeTokens = max(1, c.probeRepetitions) * (c.probePromptTokens + c.probeGenTokens) + chatPositions
            result.joulesPerToken = energy.joules / Double(probeTokens)

            // The base suite, then the quick adapter and the suite again with it.
            func score(_ suite: EvaluationSuite, adapter: String?) throws -> Double {
                progress("\(slug): \(suite.name)\(adapter == nil ? "" : " with the quick adapter")")
                var runner = SuiteRun(model: model, tokenizer: tokenizer, template: template)
                runner.maxTokens = c.maxTokens
                runner.contextLength = min(4096, model.configuration.contextLength)
                runner.batchSize = c.batch
                runner.pool = pool
                let set = try adapter.map { try AdapterSet(model: model, adapters: [(LoRAAdapter(contentsOf: $0), 1)]) }
                runner.adapterFor = { _ in (adapter, set) }
                let runFolder = "\(folder)/\(slug)/runs/\(suite.name)/\(adapter == nil ? "base" : "adapter")"
                return try runner.run(suite, identity: runner.identity(for: suite, model: candidate.path, adapter: adapter), folder: runFolder).score
            }
            for suite in c.suites { result.baseScores[suite.name] = try score(suite, adapter: nil) }
            if let trainer {
                progress("\(slug): training the quick adapter")
                var quick = try trainer.train(model: model, path: candidate.path, template: template, folder: "\(folder)/\(slug)/adapter")
                for suite in c.suites { result.adapterScores[suite.name] = try score(suite, adapter: quick.adapterPath) }
                // The report names the adapter relative to the folder, so it does not depend on where the folder is.
                if quick.adapterPath.hasPrefix(folder + "/") { quick.adapterPath.removeFirst(folder.count + 1) }
                result.quickAdapter = quick
            }
            results.append(result)
        }
        let report = SelectionReport(cpu: CPUInfo.modelName, kernels: KernelSet.running.rawValue, threads: pool.threadCount,
                                     context: c.context, laptopBytes: c.laptopBytes, availableBytes: c.availableBytes,
                                     licenses: c.licenses, suites: c.suites.map(\.name), targetLoss: c.targetLoss,
                                     candidates: SelectionReport.ranked(results))
        try report.write(to: folder)
        if var manifest {
            manifest.complete = true
            try manifest.write(to: folder)
        }
        return report
    }

    /// What every shard of one selection shares: the settings that decide its results.
    static func runDescription(_ c: Configuration) -> String {
        let fields: [(String, JSONValue)] = [
            ("candidates", .array(c.candidates.map { .string($0.path + ($0.chatTemplate.map { "@" + $0 } ?? "")) })),
            ("suites", .array(c.suites.map { .string($0.name + " " + $0.sha256) })), ("context", .number(String(c.context))),
            ("laptop_bytes", .number(String(c.laptopBytes))), ("available_bytes", .number(String(c.availableBytes))),
            ("licenses", .array(c.licenses.map { .string($0) })), ("max_tokens", .number(String(c.maxTokens))),
            ("batch", .number(String(c.batch))), ("target_loss", .string(String(c.targetLoss))),
            ("probe", .string("\(c.probePromptTokens)+\(c.probeGenTokens)x\(c.probeRepetitions), \(c.chatTurns) turns"))]
        return JSONWriter.encode(.object(JSONObject(fields)), pretty: false)
    }

    /// Step 1 for one candidate: what its file says, and the hard requirements checked.
    static func requirements(_ candidate: Candidate, file: GGUFFile, model: Model, configuration c: Configuration) -> SelectionCandidate {
        let m = model.configuration
        let tensorBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        let parameters = file.tensors.reduce(0) { $0 + $1.elementCount }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: candidate.path)[.size] as? Int) ?? tensorBytes
        var result = SelectionCandidate(
            path: candidate.path, name: Self.slug(candidate.path, index: 0) + (candidate.chatTemplate.map { "@" + $0 } ?? ""),
            architecture: m.architecture.rawValue, parameters: parameters, fileBytes: fileBytes,
            bitsPerWeight: 8 * Double(tensorBytes) / Double(max(1, parameters)))
        result.license = file.metadata["general.license"]?.stringValue
        let allowed = Set(c.licenses.map { $0.lowercased() })
        if let license = result.license {
            if !allowed.contains(license.lowercased()) {
                result.failures.append("licence '\(license)' is not among the accepted (\(c.licenses.joined(separator: ", ")))")
            }
        } else {
            result.failures.append("the file names no licence (general.license)")
        }
        if file.metadata["tokenizer.chat_template"]?.stringValue != nil {
            if let named = candidate.chatTemplate {
                result.chatTemplate = "\(named) (named; the file has its own)"
            } else {
                result.chatTemplate = (try? ChatTemplate(gguf: file)) != nil ? "the file's" : nil
                if result.chatTemplate == nil { result.failures.append("the file's chat template is not one LocoLLM renders; name a family") }
            }
        } else if let named = candidate.chatTemplate {
            result.chatTemplate = "\(named) (named: the file has none, a base model)"
        } else {
            result.failures.append("no chat template (a base model): name a family for it, PATH@FAMILY")
        }
        let estimate = memoryEstimate(model: model, file: file, context: c.context, rank: c.estimateRank, targets: 4)
        result.estimate = estimate
        if estimate.totalBytes > c.availableBytes {
            result.failures.append(String(format: "needs about %.2f GB at %d tokens of context, more than the %.2f GB a model may use on this laptop",
                                          Double(estimate.totalBytes) / 1e9, c.context, Double(c.availableBytes) / 1e9))
        }
        return result
    }

    /// The memory `model` needs at `context` positions: its tensors (F16/BF16 matrices are widened
    /// to F32 at load), the F16 KV cache sessions use by default, an adapter of `rank` on `targets` projections of each
    /// block (their input and output widths, F32), and ``runtimeBytes``.
    public static func memoryEstimate(model: Model, file: GGUFFile, context: Int, rank: Int, targets: Int) -> MemoryEstimate {
        let m = model.configuration
        let weights = file.tensors.reduce(0) { total, tensor in
            let widened = (tensor.type == .f16 || tensor.type == .bf16) && tensor.shape.count >= 2
            return total + (widened ? 4 * tensor.elementCount : tensor.byteCount)
        }
        let kv = 2 * m.blockCount * m.keyValueWidth * context * KVCache.Precision.standard(for: .fast).elementBytes
        let perBlock = [m.embeddingLength + m.queryWidth, m.embeddingLength + m.keyValueWidth,
                        m.embeddingLength + m.keyValueWidth, m.queryWidth + m.embeddingLength]
        let adapter = rank * m.blockCount * perBlock.prefix(targets).reduce(0, +) * 4
        return MemoryEstimate(context: context, weightBytes: weights, kvCacheBytes: kv, adapterBytes: adapter, runtimeBytes: runtimeBytes)
    }

    /// A folder name for candidate `index`: its file name without extension.
    static func slug(_ path: String, index: Int) -> String {
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return stem.isEmpty ? "candidate-\(index + 1)" : stem
    }
}

/// The memory a model needs at a context, by part.
public struct MemoryEstimate: Sendable, Codable, Equatable {
    public var context: Int
    public var weightBytes: Int
    public var kvCacheBytes: Int
    public var adapterBytes: Int
    public var runtimeBytes: Int
    public var totalBytes: Int { weightBytes + kvCacheBytes + adapterBytes + runtimeBytes }

    public init(context: Int, weightBytes: Int, kvCacheBytes: Int, adapterBytes: Int, runtimeBytes: Int) {
        self.context = context
        self.weightBytes = weightBytes
        self.kvCacheBytes = kvCacheBytes
        self.adapterBytes = adapterBytes
        self.runtimeBytes = runtimeBytes
    }

    enum CodingKeys: String, CodingKey {
        case context
        case weightBytes = "weight_bytes"
        case kvCacheBytes = "kv_cache_bytes"
        case adapterBytes = "adapter_bytes"
        case runtimeBytes = "runtime_bytes"
        case totalBytes = "total_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(context: try container.decode(Int.self, forKey: .context), weightBytes: try container.decode(Int.self, forKey: .weightBytes),
                  kvCacheBytes: try container.decode(Int.self, forKey: .kvCacheBytes),
                  adapterBytes: try container.decode(Int.self, forKey: .adapterBytes),
                  runtimeBytes: try container.decode(Int.self, forKey: .runtimeBytes))
    }

    /// The parts and their total (`total_bytes`, written for readers of the JSON, not read back).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(context, forKey: .context)
        try container.encode(weightBytes, forKey: .weightBytes)
        try container.encode(kvCacheBytes, forKey: .kvCacheBytes)
        try container.encode(adapterBytes, forKey: .adapterBytes)
        try container.encode(runtimeBytes, forKey: .runtimeBytes)
        try container.encode(totalBytes, forKey: .totalBytes)
    }
}

/// A selection that cannot run as asked.
public struct SelectionError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One candidate's findings.
public struct SelectionCandidate: Sendable, Codable, Equatable {
    public var path: String
    public var name: String
    public var architecture: String
    public var parameters: Int
    public var fileBytes: Int
    public var bitsPerWeight: Double
    public var license: String?
    /// Which template renders its chats (nil: none).
    public var chatTemplate: String?
    /// The estimate at the selection's context.
    public var estimate: MemoryEstimate?
    /// Hard requirements not met, each said in full.
    public var failures: [String] = []
    public var baseScores: [String: Double] = [:]
    public var adapterScores: [String: Double] = [:]
    public var quickAdapter: QuickAdapter?
    public var prefillTokensPerSecond: Double?
    public var decodeTokensPerSecond: Double?
    /// The probe's prompt over its prefill speed, plus one decode step.
    public var timeToFirstTokenSeconds: Double?
    /// Peak resident memory of this candidate's probe: the child process's, or this process's
    /// from a reset just before it.
    public var peakRSSBytes: Int?
    public var probeInChildProcess = false
    /// The long conversation: its turns, resident memory after the last minus after the first,
    /// and its KV cache's bytes at the end (the part of the drift that is the conversation itself).
    public var chatTurns: Int?
    public var chatRSSDriftBytes: Int?
    public var chatKVCacheBytes: Int?
    /// The estimate at the probe's longest session (speed runs or conversation), without an adapter, to set beside the peak.
    public var probeEstimate: MemoryEstimate?
    public var energy: EnergyMeter.Reading?
    public var joulesPerToken: Double?
    /// 1 is the best.
    public var rank = 0
    /// Why it ranked where it did.
    public var reason = ""

    public init(path: String, name: String, architecture: String, parameters: Int, fileBytes: Int, bitsPerWeight: Double) {
        self.path = path
        self.name = name
        self.architecture = architecture
        self.parameters = parameters
        self.fileBytes = fileBytes
        self.bitsPerWeight = bitsPerWeight
    }

    public var requirementsMet: Bool { failures.isEmpty }

    /// The mean score over the suites with the quick adapter, or without one when none was trained.
    public var meanScore: Double? {
        let scores = adapterScores.isEmpty ? baseScores : adapterScores
        return scores.isEmpty ? nil : scores.values.reduce(0, +) / Double(scores.count)
    }

    enum CodingKeys: String, CodingKey {
        case path, name, architecture, parameters
        case fileBytes = "file_bytes"
        case bitsPerWeight = "bits_per_weight"
        case license
        case chatTemplate = "chat_template"
        case estimate, failures
        case baseScores = "base_scores"
        case adapterScores = "adapter_scores"
        case quickAdapter = "quick_adapter"
        case prefillTokensPerSecond = "prefill_tokens_per_second"
        case decodeTokensPerSecond = "decode_tokens_per_second"
        case timeToFirstTokenSeconds = "time_to_first_token_seconds"
        case peakRSSBytes = "peak_rss_bytes"
        case probeInChildProcess = "probe_in_child_process"
        case chatTurns = "chat_turns"
        case chatRSSDriftBytes = "chat_rss_drift_bytes"
        case chatKVCacheBytes = "chat_kv_cache_bytes"
        case probeEstimate = "probe_estimate"
        case energy
        case joulesPerToken = "joules_per_token"
        case rank, reason
    }
}
