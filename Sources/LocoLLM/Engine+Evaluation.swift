import Foundation

/// Which adapters answer the items of an evaluation run.
public enum AdapterSetting: Sendable, Hashable {
    /// The bare base model.
    case base
    /// Registry names or paths, each with its user scale, applied together to every item.
    case fixed([AdapterChoice])
    /// The registry's router picks an adapter (or none) for each item's question
    /// (``Engine/automaticRouter()``).
    case routed

    public struct AdapterChoice: Sendable, Hashable {
        public var nameOrPath: String
        public var scale: Float
        public init(_ nameOrPath: String, scale: Float = 1) {
            self.nameOrPath = nameOrPath
            self.scale = scale
        }
    }

    /// The adapters named, each at scale 1 (`.base` when none).
    public static func adapters(_ namesOrPaths: [String]) -> AdapterSetting {
        namesOrPaths.isEmpty ? .base : .fixed(namesOrPaths.map { AdapterChoice($0) })
    }

    /// How reports and run folders name it: nil for the base, "auto" when routed, else the
    /// names or paths joined by commas, a scale other than 1 after an `@`.
    public var label: String? {
        switch self {
        case .base: nil
        case .routed: "auto"
        case .fixed(let choices):
            choices.isEmpty ? nil : choices.map { $0.scale == 1 ? $0.nameOrPath : "\($0.nameOrPath)@\($0.scale)" }.joined(separator: ",")
        }
    }
}

/// What an evaluation run holds fixed besides the model and the adapters.
public struct EvaluationOptions: Sendable {
    /// Tokens generated at most per item.
    public var maxTokens = 256
    /// Generation items decoded together (1: one sequence at a time).
    public var batch = 16
    /// Positions of each item's cache.
    public var contextLength = 4096
    /// Score only this shard's share of a suite (``Shard``); a sharded run needs a folder.
    public var shard: Shard?

    public init(maxTokens: Int = 256, batch: Int = 16, contextLength: Int = 4096, shard: Shard? = nil) {
        self.maxTokens = maxTokens
        self.batch = batch
        self.contextLength = contextLength
        self.shard = shard
    }
}

extension Engine {
    /// Scores `suite` on this engine's base with `adapters` (see ``SuiteRun``): greedy, batched,
    /// multiple choice by log-likelihood, code in the sandbox. With `folder` the run is resumable
    /// there and ends with `results.json` and `report.md` in it.
    ///
    /// - Throws: the router's, the adapters' or the suite run's errors; `EvaluationDataError`
    ///   when `folder` holds a run of something else.
    public func evaluate(_ suite: EvaluationSuite, adapters setting: AdapterSetting = .base, options: EvaluationOptions = EvaluationOptions(),
                         folder: String? = nil, progress: (Int, Int) -> Void = { _, _ in }) throws -> SuiteReport {
        try evaluate(suite, prepared: try prepare(setting), options: options, folder: folder, progress: progress)
    }

    /// A setting's label and its adapter per item, resolved once: the adapters read and checked
    /// against the base, the router fitted.
    struct PreparedSetting {
        var label: String?
        var adapterFor: (SuiteItem) throws -> (name: String?, adapters: AdapterSet?)
    }

    func prepare(_ setting: AdapterSetting) throws -> PreparedSetting {
        let label = setting.label
        switch setting {
        case .base:
            return PreparedSetting(label: nil) { _ in (nil, nil) }
        case .fixed(let choices):
            let deltas = try self.adapters(choices.map { ($0.nameOrPath, $0.scale) })
            return PreparedSetting(label: label) { _ in (label, deltas) }
        case .routed:
            let router = try automaticRouter()
            return PreparedSetting(label: label) { item in
                let decision = try router.route(item.question)
                return (decision.route, try decision.route.map { try self.adapters([($0, 1)]) } ?? nil)
            }
        }
    }

    func evaluate(_ suite: EvaluationSuite, prepared: PreparedSetting, options: EvaluationOptions, folder: String?,
                  progress: (Int, Int) -> Void) throws -> SuiteReport {
        var runner = SuiteRun(model: model, tokenizer: tokenizer, template: try? chatTemplate())
        runner.maxTokens = options.maxTokens
        runner.contextLength = min(options.contextLength, model.configuration.contextLength)
        runner.numerics = numerics
        runner.batchSize = options.batch
        runner.pool = pool
        runner.adapterFor = prepared.adapterFor
        runner.shard = options.shard
        return try runner.run(suite, identity: runner.identity(for: suite, model: modelPath, adapter: prepared.label), folder: folder,
                              progress: progress)
    }

    /// Every suite under every setting, the base first (added when `settings` lacks it), and the
    /// out-of-domain check over them (see ``SuiteComparison``). With `folder`, each run is
    /// resumable in `folder/SUITE/SETTING/` and the comparison is written beside them as
    /// `comparison.json` and `comparison.md`.
    ///
    /// `progress(suite, setting, done, total)` follows each run.
    public func compare(_ suites: [EvaluationSuite], settings: [AdapterSetting], options: EvaluationOptions = EvaluationOptions(),
                        thresholdPoints: Double = 5, folder: String? = nil,
                        progress: (String, String, Int, Int) -> Void = { _, _, _, _ in }) throws -> SuiteComparison {
        var chosen: [(label: String, setting: AdapterSetting)] = []
        for setting in [.base] + settings {
            let label = setting.label ?? SuiteComparison.baseLabel
            if !chosen.contains(where: { $0.label == label }) { chosen.append((label, setting)) }
        }
        let labels = chosen.map(\.label)
        // Every adapter read and the router fitted before the first item: a wrong name fails now.
        let unique = try chosen.map { try prepare($0.setting) }
        let suiteFolders = Self.folderNames(suites.map(\.name))
        let settingFolders = Self.folderNames(labels)
        var reports: [[SuiteReport]] = []
        for (s, suite) in suites.enumerated() {
            var row: [SuiteReport] = []
            for (k, setting) in unique.enumerated() {
                let runFolder = folder.map { "\($0)/\(suiteFolders[s])/\(settingFolders[k])" }  // the run's journal makes it
                row.append(try evaluate(suite, prepared: setting, options: options, folder: runFolder) { done, total in
                    progress(suite.name, labels[k], done, total)
                })
            }
            reports.append(row)
        }
        let comparison = SuiteComparison(reports: reports, settings: labels, thresholdPoints: thresholdPoints)
        if let folder {
            try FileSystem.makeAll(folder)
            try AtomicFile.write(Array(try comparison.jsonText().utf8) + [0x0A], to: folder + "/comparison.json")
            try AtomicFile.write(Array(comparison.markdown().utf8), to: folder + "/comparison.md")
        }
        return comparison
    }

    /// File-name-safe, distinct folder names for `names` (a path's last component without its
    /// extension; a repeat gets `-2`, `-3`, ...).
    static func folderNames(_ names: [String]) -> [String] {
        var out: [String] = []
        for name in names {
            let last = name.split(separator: ",").map { part in
                let file = (String(part) as NSString).lastPathComponent
                let stem = (file as NSString).deletingPathExtension
                return stem.isEmpty ? file : stem
            }.joined(separator: "+")
            var safe = String(last.map { $0.isLetter || $0.isNumber || "-_.+@".contains($0) ? $0 : "_" })
            if safe.isEmpty || safe.hasPrefix(".") { safe = "_" + safe }
            var candidate = safe, n = 2
            while out.contains(candidate) {
                candidate = "\(safe)-\(n)"
                n += 1
            }
            out.append(candidate)
        }
        return out
    }
}

extension SuiteItem {
    /// The text a router reads for an item: its prompt, or its conversation's last user turn.
    public var question: String {
        switch prompt {
        case .text(let text): return text
        case .messages(let messages): return messages.last { $0.role == .user }?.content ?? messages.last?.content ?? ""
        }
    }
}
