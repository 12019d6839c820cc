import Foundation
import Adapters
import GGUFFormat
import Inference
import LocoSupport
import Quantization
import Tensor
import Tokenization

/// Bang per bit: one model quantized to several types with the SDK's quantizer, each variant
/// scored on suites (on the base, and with an adapter when one is given), its perplexity and KL
/// divergence from the source over a text, and its speed, memory and energy per token measured.
///
/// Every variant is made from the source file. When the source is itself quantized (SmolLM2's
/// shipped Q4_1, say), every variant is a requantization (dequantized, then quantized again), so
/// its quality is bounded by the source's, and the report says so. KL divergence is against the
/// source, the best reference there is then.
///
/// Resumable: quantized files are kept in `folder/models/` and reused when their file type
/// matches; each suite run keeps its journal in `folder/runs/TYPE/SUITE/SETTING/`, so a sweep
/// started again continues where it stopped. `results.json` and `report.md` are written at the end.
public struct QuantizationSweep {
    public struct Configuration: Sendable {
        /// The model every variant is made from.
        public var source: String
        public var types: [QuantizationFileType]
        public var suites: [EvaluationSuite] = []
        /// A LoRA adapter (GGUF or PEFT) scored on every variant beside the bare base.
        public var adapter: String?
        /// A text for perplexity and KL divergence (nil: not measured).
        public var text: String?
        public var context = 512
        public var maxTokens = 256
        public var batch = 16
        public var threads: Int?
        /// The speed probe's prompt and generated tokens, best of `probeRepetitions`.
        public var probePromptTokens = 128
        public var probeGenTokens = 64
        public var probeRepetitions = 2
        public var wattsPerCore = EnergyMeter.defaultWattsPerCore
        /// Measure only this shard's variants (see ``Shard``); the folder gets `shard.json` for
        /// ``ShardMerge``.
        public var shard: Shard?

        public init(source: String, types: [QuantizationFileType]) {
            self.source = source
            self.types = types
        }
    }

    public var configuration: Configuration

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Runs the sweep into `folder` (created if missing); `progress` gets a line per step.
    public func run(folder: String, progress: (String) -> Void = { _ in }) throws -> SweepReport {
        let c = configuration
        try FileSystem.makeAll(folder + "/models")
        let sourceFile = try GGUFFile(contentsOf: c.source)
        let sourceModel = try Model(file: sourceFile)
        let tokenizer = try Tokenizer(gguf: sourceFile)
        let template = try? ChatTemplate(gguf: sourceFile)
        let sourceType = Self.fileType(of: sourceFile)
        let pool = ComputePool(threads: c.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let adapterFile = try c.adapter.map { try LoRAAdapter(contentsOf: $0) }
        let meter = EnergyMeter(wattsPerCore: c.wattsPerCore)
        let stem = ((c.source as NSString).lastPathComponent as NSString).deletingPathExtension

        // The source first (when its type is not among those asked for), then each type asked for.
        // A made variant's path is relative to the folder (`models/STEM-TYPE.gguf`), so the
        // report does not depend on where the folder is.
        var plan: [(type: String, path: String, isSource: Bool, quantize: QuantizationFileType?)] = []
        if !c.types.contains(where: { $0.rawValue == sourceType }) { plan.append((sourceType ?? "source", c.source, true, nil)) }
        for type in c.types {
            if type.rawValue == sourceType {
                plan.append((type.rawValue, c.source, true, nil))
            } else {
                plan.append((type.rawValue, "models/\(stem)-\(type.rawValue).gguf", false, type))
            }
        }
        var manifest: ShardManifest?
        if let shard = c.shard {
            let mine = shard.owned(plan.map(\.type))
            manifest = ShardManifest(kind: .sweep, shard: shard, run: Self.runDescription(c, sourceType: sourceType), units: plan.map(\.type),
                                     owned: plan.map(\.type).filter { mine.contains($0) }, complete: false)
            plan = plan.filter { mine.contains($0.type) }
            try manifest?.write(to: folder)
        }
        func located(_ path: String) -> String { path.hasPrefix("/") || path == c.source ? path : folder + "/" + path }
        for entry in plan {
            guard let type = entry.quantize else { continue }
            let path = located(entry.path)
            if let existing = try? GGUFFile(contentsOf: path), Self.fileType(of: existing) == type.rawValue {
                progress("\(type.rawValue): reusing \(path)")
            } else {
                progress("\(type.rawValue): quantizing \(c.source)")
                let quantizer = ModelQuantizer(recipe: QuantizationRecipe(type), allowRequantize: true, threads: c.threads)
                _ = try quantizer.quantize(input: c.source, output: path)
            }
        }

        var variants: [SweepVariant] = []
        for entry in plan {
            let path = entry.isSource ? c.source : located(entry.path)
            let file = entry.isSource ? sourceFile : try GGUFFile(contentsOf: path)
            let model = entry.isSource ? sourceModel : try Model(file: file)
            let tensorBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
            let elements = file.tensors.reduce(0) { $0 + $1.elementCount }
            let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? tensorBytes
            var variant = SweepVariant(type: entry.type, isSource: entry.isSource, requantizedFrom: entry.isSource ? nil : sourceType,
                                       path: entry.path, fileBytes: fileBytes, bitsPerWeight: 8 * Double(tensorBytes) / Double(max(1, elements)))
            variant.tensorTypes = SweepVariant.tensorTypes(of: file)

            // Suites: the bare base, then with the adapter.
            let adapters = try adapterFile.map { try AdapterSet(model: model, adapters: [($0, 1)]) }
            for suite in c.suites {
                var score = SweepVariant.SuiteScore(suite: suite.name, total: suite.items.count, base: 0)
                for (label, set) in [("base", nil as AdapterSet?)] + (adapters.map { [("adapter", $0)] } ?? []) {
                    progress("\(entry.type): \(suite.name), \(label == "base" ? "base" : "with the adapter")")
                    var runner = SuiteRun(model: model, tokenizer: tokenizer, template: template)
                    runner.maxTokens = c.maxTokens
                    runner.contextLength = min(4096, model.configuration.contextLength)
                    runner.batchSize = c.batch
                    runner.pool = pool
                    runner.adapterFor = { _ in (label == "base" ? nil : c.adapter, set) }
                    let runFolder = "\(folder)/runs/\(entry.type)/\(suite.name)/\(label)"  // the run's journal makes it
                    let report = try runner.run(suite, identity: runner.identity(for: suite, model: path, adapter: label == "base" ? nil : c.adapter),
                                                folder: runFolder)
                    if label == "base" { score.base = report.score } else { score.adapter = report.score }
                }
                variant.scores.append(score)
            }

            // Quality against the source over the text.
            if let text = c.text {
                progress("\(entry.type): perplexity\(entry.isSource ? "" : " and KL divergence") over the text")
                if entry.isSource {
                    let result = try Perplexity.measure(model: model, tokenizer: tokenizer, text: text, context: c.context, pool: pool)
                    variant.perplexity = result.perplexity
                    variant.meanKLD = 0
                    variant.top1Agreement = 1
                } else {
                    let result = try Perplexity.divergence(model: model, reference: sourceModel, tokenizer: tokenizer, text: text,
                                                           context: c.context, pool: pool)
                    variant.perplexity = result.perplexity
                    variant.meanKLD = result.meanKLD
                    variant.kld99 = result.kld99
                    variant.top1Agreement = result.top1Agreement
                }
            }

            // Speed, memory from the start of this variant's probe, energy per decoded token.
            progress("\(entry.type): speed")
            PeakMemory.reset()
            var probe = SpeedProbe.Configuration()
            probe.promptTokens = c.probePromptTokens
            probe.genTokens = c.probeGenTokens
            probe.repetitions = c.probeRepetitions
            probe.threads = pool.threadCount
            let mark = meter.start()
            let speed = try SpeedProbe(probe).run(model: model, path: path)
            let energy = meter.stop(mark)
            variant.prefillTokensPerSecond = speed.prefillTokensPerSecond
            variant.decodeTokensPerSecond = speed.decodeTokensPerSecond
            variant.peakRSSBytes = PeakMemory.residentBytesSinceReset() ?? speed.peakRSSBytes
            // The probe's every token (prefill and decode, each repetition) shares the energy.
            let tokens = max(1, c.probeRepetitions) * (c.probePromptTokens + c.probeGenTokens)
            variant.energy = energy
            variant.joulesPerToken = energy.joules / Double(tokens)
            variants.append(variant)
        }

        let report = SweepReport(source: c.source, sourceType: sourceType, cpu: CPUInfo.modelName, kernels: KernelSet.running.rawValue,
                                 threads: pool.threadCount, adapter: c.adapter, suites: c.suites.map(\.name),
                                 context: c.text == nil ? nil : c.context, maxTokens: c.maxTokens, variants: variants)
        try report.write(to: folder)
        if var manifest {
            manifest.complete = true
            try manifest.write(to: folder)
        }
        return report
    }

    /// What every shard of one sweep shares: the settings that decide its results.
    static func runDescription(_ c: Configuration, sourceType: String?) -> String {
        var fields: [(String, JSONValue)] = [("source", .string(c.source)), ("source_type", sourceType.map { .string($0) } ?? .null),
                                             ("types", .array(c.types.map { .string($0.rawValue) })),
                                             ("suites", .array(c.suites.map { .string($0.name + " " + $0.sha256) })),
                                             ("adapter", c.adapter.map { .string($0) } ?? .null),
                                             ("text_sha256", c.text.map { .string(ContentHash.sha256(Array($0.utf8))) } ?? .null)]
        fields += [("context", .number(String(c.context))), ("max_tokens", .number(String(c.maxTokens))), ("batch", .number(String(c.batch))),
                   ("probe", .string("\(c.probePromptTokens)+\(c.probeGenTokens)x\(c.probeRepetitions)"))]
        return JSONWriter.encode(.object(JSONObject(fields)), pretty: false)
    }

    /// The file type `general.file_type` names, as llama.cpp spells it (nil when absent or unknown).
    static func fileType(of file: GGUFFile) -> String? {
        guard let id = try? file.metadata.integer("general.file_type", as: UInt32.self) else { return nil }
        return QuantizationFileType.allCases.first { $0.fileTypeID == id }?.rawValue
    }
}

/// One variant of a sweep.
public struct SweepVariant: Sendable, Codable, Equatable {
    public struct SuiteScore: Sendable, Codable, Equatable {
        public var suite: String
        public var total: Int
        public var base: Double
        public var adapter: Double?

        public init(suite: String, total: Int, base: Double, adapter: Double? = nil) {
            self.suite = suite
            self.total = total
            self.base = base
            self.adapter = adapter
        }
    }

    /// The file type, e.g. "Q4_K_M".
    public var type: String
    /// The file given, not made by the sweep.
    public var isSource: Bool
    /// The source's type when this variant was made by requantizing a quantized source.
    public var requantizedFrom: String?
    /// The source's path as given; a made variant's relative to the sweep's folder
    /// (`models/STEM-TYPE.gguf`).
    public var path: String
    public var fileBytes: Int
    /// Tensor bytes x 8 over the tensors' elements: every tensor, embeddings and norms included.
    public var bitsPerWeight: Double
    /// What the file holds: each tensor type with its tensor count and share of the tensor
    /// bytes, largest share first. A recipe's name can overstate it: k-quants need rows that are
    /// a multiple of 256 and fall back to other types where they are not.
    public var tensorTypes: [TensorTypeShare] = []
    public var scores: [SuiteScore] = []
    public var perplexity: Double?
    /// Against the source (0 for the source itself).
    public var meanKLD: Double?
    public var kld99: Double?
    public var top1Agreement: Double?
    public var prefillTokensPerSecond: Double = 0
    public var decodeTokensPerSecond: Double = 0
    /// The peak resident size during this variant's speed probe.
    public var peakRSSBytes: Int = 0
    public var energy: EnergyMeter.Reading?
    public var joulesPerToken: Double?

    public struct TensorTypeShare: Sendable, Codable, Equatable {
        public var type: String
        public var tensors: Int
        /// Share of the file's tensor bytes, in [0, 1].
        public var share: Double

        public init(type: String, tensors: Int, share: Double) {
            self.type = type
            self.tensors = tensors
            self.share = share
        }
    }

    /// The tensor types of `file`, largest share of bytes first.
    public static func tensorTypes(of file: GGUFFile) -> [TensorTypeShare] {
        var counts: [String: (tensors: Int, bytes: Int)] = [:]
        for tensor in file.tensors { counts[tensor.type.name, default: (0, 0)].tensors += 1; counts[tensor.type.name, default: (0, 0)].bytes += tensor.byteCount }
        let total = max(1, counts.values.reduce(0) { $0 + $1.bytes })
        return counts.map { TensorTypeShare(type: $0.key, tensors: $0.value.tensors, share: Double($0.value.bytes) / Double(total)) }
            .sorted { ($0.share, $1.type) > ($1.share, $0.type) }
    }

    public init(type: String, isSource: Bool, requantizedFrom: String?, path: String, fileBytes: Int, bitsPerWeight: Double) {
        self.type = type
        self.isSource = isSource
        self.requantizedFrom = requantizedFrom
        self.path = path
        self.fileBytes = fileBytes
        self.bitsPerWeight = bitsPerWeight
    }

    enum CodingKeys: String, CodingKey {
        case type, path, scores, perplexity, energy
        case isSource = "is_source"
        case requantizedFrom = "requantized_from"
        case tensorTypes = "tensor_types"
        case fileBytes = "file_bytes"
        case bitsPerWeight = "bits_per_weight"
        case meanKLD = "mean_kld"
        case kld99 = "kld_99"
        case top1Agreement = "top1_agreement"
        case prefillTokensPerSecond = "prefill_tokens_per_second"
        case decodeTokensPerSecond = "decode_tokens_per_second"
        case peakRSSBytes = "peak_rss_bytes"
        case joulesPerToken = "joules_per_token"
    }
}

/// What a sweep measured, as `results.json` holds it, and its Markdown report.
public struct SweepReport: Sendable, Codable, Equatable {
    public var source: String
    public var sourceType: String?
    public var cpu: String
    public var kernels: String
    public var threads: Int
    public var adapter: String?
    public var suites: [String]
    /// Perplexity's chunk length (nil: no text given).
    public var context: Int?
    public var maxTokens: Int
    public var variants: [SweepVariant]

    public init(source: String, sourceType: String?, cpu: String, kernels: String, threads: Int, adapter: String?, suites: [String],
                context: Int?, maxTokens: Int, variants: [SweepVariant]) {
        self.source = source
        self.sourceType = sourceType
        self.cpu = cpu
        self.kernels = kernels
        self.threads = threads
        self.adapter = adapter
        self.suites = suites
        self.context = context
        self.maxTokens = maxTokens
        self.variants = variants
    }

    enum CodingKeys: String, CodingKey {
        case source, cpu, kernels, threads, adapter, suites, context, variants
        case sourceType = "source_type"
        case maxTokens = "max_tokens"
    }

    public func jsonText() throws -> String {
        String(decoding: try JSONEncoder.sortedKeys.encode(self), as: UTF8.self)
    }

    /// Writes `results.json`, `report.md` and `charts/*.svg` into `folder`.
    public func write(to folder: String) throws {
        try AtomicFile.write(Array(try jsonText().utf8) + [0x0A], to: folder + "/results.json")
        try FileSystem.makeAll(folder + "/charts")
        for (name, chart) in charts() {
            try AtomicFile.write(Array(chart.svg().utf8), to: "\(folder)/charts/\(name).svg")
        }
        try AtomicFile.write(Array(markdown().utf8), to: folder + "/report.md")
    }

    /// Whether the variants were made from an already quantized file.
    public var requantized: Bool { variants.contains { $0.requantizedFrom != nil } && !["F32", "F16", "BF16"].contains(sourceType ?? "") }

    public func markdown() -> String {
        func gb(_ bytes: Int) -> String { String(format: "%.3f", Double(bytes) / 1e9) }
        func pct(_ value: Double?) -> String { value.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }
        var lines = ["# Bang per bit: \((source as NSString).lastPathComponent)", ""]
        lines.append("- source: `\(source)` (\(sourceType ?? "unknown type"))")
        if requantized {
            lines.append("- **Every variant but the source is a requantization of the \(sourceType ?? "quantized") source** (dequantized, "
                         + "then quantized again): its quality is bounded by the source's, and it is not what quantizing the original "
                         + "F16/BF16 weights would give. KL divergence is measured against the source.")
        }
        lines.append("- machine: \(cpu), \(kernels) kernels, \(threads) threads")
        if let adapter { lines.append("- adapter: `\(adapter)` (trained over the source), scored on every variant") }
        if let energy = variants.first?.energy {
            lines.append(energy.method == .measured
                ? "- energy: measured from the RAPL package counters over the speed probe (whole package)"
                : String(format: "- energy: **estimated** (no RAPL counters readable here): the process's CPU-seconds x %.1f W per busy core, over the speed probe", energy.wattsPerCore ?? 0))
        }
        lines.append("")
        var header = "| type | GB | bits/weight |"
        var rule = "|---|---:|---:|"
        for suite in suites {
            header += " \(suite) |"
            rule += "---:|"
            if adapter != nil {
                header += " \(suite) + adapter |"
                rule += "---:|"
            }
        }
        if context != nil {
            header += " PPL | mean KLD | KLD p99 | top-1 |"
            rule += "---:|---:|---:|---:|"
        }
        header += " prefill tok/s | decode tok/s | process peak RSS MB | J/token |"
        rule += "---:|---:|---:|---:|"
        lines += [header, rule]
        for v in variants {
            var row = "| \(v.type)\(v.isSource ? " (source)" : "") | \(gb(v.fileBytes)) | \(String(format: "%.2f", v.bitsPerWeight)) |"
            for suite in suites {
                let score = v.scores.first { $0.suite == suite }
                row += " \(pct(score?.base)) |"
                if adapter != nil { row += " \(pct(score?.adapter)) |" }
            }
            if context != nil {
                row += " " + (v.perplexity.map { String(format: "%.3f", $0) } ?? "-") + " |"
                row += " " + (v.meanKLD.map { String(format: "%.5f", $0) } ?? "-") + " |"
                row += " " + (v.kld99.map { String(format: "%.4f", $0) } ?? "-") + " |"
                row += " " + pct(v.top1Agreement) + " |"
            }
            row += String(format: " %.1f | %.1f | %.0f | ", v.prefillTokensPerSecond, v.decodeTokensPerSecond, Double(v.peakRSSBytes) / 1e6)
                + (v.joulesPerToken.map { String(format: "%.4f", $0) } ?? "-") + " |"
            lines.append(row)
        }
        lines += ["", "Process peak RSS: the sweep process's high-water mark during the variant's speed probe, with the "
                  + "source kept mapped for KL divergence; more than the variant alone needs (`loco bench` measures that).", "",
                  "## What each file holds", "", "| type | tensor types (count, share of tensor bytes) |", "|---|---|"]
        for v in variants {
            lines.append("| \(v.type) | " + v.tensorTypes.map { "\($0.type) x\($0.tensors) (\(String(format: "%.0f", 100 * $0.share))%)" }
                .joined(separator: ", ") + " |")
        }
        let charts = charts().map(\.name)
        if !charts.isEmpty {
            lines += ["", "## Charts", ""] + charts.map { "![\($0)](charts/\($0).svg)" }
        }
        if let items = variants.first?.scores.map({ "\($0.suite): \($0.total) items" }), !items.isEmpty {
            lines += ["", "Suites: " + items.joined(separator: ", ") + " (one item is \(String(format: "%.1f", 100.0 / Double(variants.first?.scores.first?.total ?? 1))) points on the first)."]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension SweepReport {
    /// The sweep's charts, by file name (without `.svg`): per suite, score against file size (with
    /// the Pareto front) and against bits per weight, base and adapter; decode speed against file
    /// size; mean KL divergence against bits per weight (log scale) when a text was given.
    public func charts() -> [(name: String, chart: ScatterChart)] {
        typealias P = ScatterChart.Point
        let model = ((source as NSString).lastPathComponent as NSString).deletingPathExtension
        let origin = requantized ? "every variant requantized from \(sourceType ?? "the source")" : "quantized from \(sourceType ?? "the source")"
        func label(_ v: SweepVariant) -> String { v.isSource ? "\(v.type) (source)" : v.type }
        var out: [(String, ScatterChart)] = []
        for suite in suites {
            let safe = String(suite.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
            func series(_ x: (SweepVariant) -> Double, connect: Bool) -> [ScatterChart.Series] {
                var list = [ScatterChart.Series(name: "base", points: variants.compactMap { v in
                    v.scores.first { $0.suite == suite }.map { P(x: x(v), y: 100 * $0.base, label: label(v)) }
                }, connect: connect)]
                if adapter != nil {
                    list.append(ScatterChart.Series(name: "+ adapter", points: variants.compactMap { v in
                        v.scores.first { $0.suite == suite }?.adapter.map { P(x: x(v), y: 100 * $0, label: label(v)) }
                    }, connect: connect))
                }
                return list
            }
            let subtitle = "\(model) on \(suite), \(origin)"
            let score = ScatterChart.Axis(title: "Score", unit: "% of items")
            out.append(("score-vs-size-\(safe)", ScatterChart(
                title: "Score vs file size", subtitle: subtitle, xAxis: .init(title: "File size", unit: "GB"), yAxis: score,
                series: series({ Double($0.fileBytes) / 1e9 }, connect: false), paretoFront: .init(direction: .maximizeYMinimizeX))))
            out.append(("score-vs-bpw-\(safe)", ScatterChart(
                title: "Score vs bits per weight", subtitle: subtitle, xAxis: .init(title: "Bits per weight", unit: "bpw"), yAxis: score,
                series: series({ $0.bitsPerWeight }, connect: true))))
        }
        let sorted = variants.sorted { $0.bitsPerWeight < $1.bitsPerWeight }
        out.append(("speed-vs-size", ScatterChart(
            title: "Decode speed vs file size", subtitle: "\(model), \(threads) threads, \(cpu)",
            xAxis: .init(title: "File size", unit: "GB"), yAxis: .init(title: "Decode speed", unit: "tokens/s"),
            series: [.init(name: "base", points: variants.map { P(x: Double($0.fileBytes) / 1e9, y: $0.decodeTokensPerSecond, label: label($0)) })],
            paretoFront: .init(direction: .maximizeYMinimizeX))))
        if context != nil {
            out.append(("kld-vs-bpw", ScatterChart(
                title: "KL divergence vs bits per weight", subtitle: "\(model) against its \(sourceType ?? "source") source",
                xAxis: .init(title: "Bits per weight", unit: "bpw"), yAxis: .init(title: "Mean KL divergence", unit: "nats, log scale", log: true),
                series: [.init(name: "mean KLD", points: sorted.compactMap { v in v.meanKLD.map { P(x: v.bitsPerWeight, y: $0, label: label(v)) } },
                               connect: true)])))
        }
        return out
    }
}
