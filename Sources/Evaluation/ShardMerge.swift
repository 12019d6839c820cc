import Foundation
import LocoSupport

/// Puts the partial results folders of a sharded run (``Shard``) together into what the
/// unsharded run writes: for a suite run its journal, `results.json` and `report.md`; for a
/// sweep `results.json`, `report.md` and the charts, with `models/` and `runs/` linked to the
/// shards' files; for a selection `selection.json` and `selection.md`, each candidate's folder
/// linked. Only timings (seconds, speeds, memory, energy) can differ from the unsharded run's.
///
/// The shards must be of one run (the same settings, as `shard.json` records them), every shard
/// `0..<N` present exactly once and finished; anything else is a ``ShardError`` naming the folder.
public enum ShardMerge {
    /// The merged report, of the kind the shards were.
    public enum Merged: Sendable {
        case run(SuiteReport)
        case sweep(SweepReport)
        case select(SelectionReport)

        /// The report's JSON, as the unsharded command's `--json` prints it.
        public func jsonText() throws -> String {
            switch self {
            case .run(let report): try report.jsonText()
            case .sweep(let report): try report.jsonText()
            case .select(let report): try report.jsonText()
            }
        }

        /// The report's Markdown, as the unsharded command prints it.
        public func markdown() -> String {
            switch self {
            case .run(let report): report.markdown()
            case .sweep(let report): report.markdown()
            case .select(let report): report.markdown()
            }
        }
    }

    /// Merges the shard folders `folders` into `output` (created if missing).
    public static func merge(_ folders: [String], into output: String) throws -> Merged {
        guard !folders.isEmpty else { throw ShardError("give the shards' folders to merge") }
        let shards = try folders.map { (folder: $0, manifest: try ShardManifest.read(from: $0)) }
        let first = shards[0].manifest
        for (folder, m) in shards {
            guard m.kind == first.kind else {
                throw ShardError("\(folder) holds a shard of an eval \(m.kind.rawValue), \(shards[0].folder) one of an eval \(first.kind.rawValue)")
            }
            guard m.count == first.count, m.run == first.run, m.units == first.units, m.suite == first.suite else {
                throw ShardError("\(folder) is a shard of another run than \(shards[0].folder) (other settings, inputs or shard count)")
            }
            guard m.complete else {
                throw ShardError("shard \(m.index)/\(m.count) in \(folder) has not finished; run its command again and it continues")
            }
        }
        var byIndex: [Int: (folder: String, manifest: ShardManifest)] = [:]
        for shard in shards {
            if let other = byIndex[shard.manifest.index] {
                throw ShardError("\(other.folder) and \(shard.folder) are both shard \(shard.manifest.index)/\(first.count)")
            }
            byIndex[shard.manifest.index] = shard
        }
        if let missing = (0..<first.count).first(where: { byIndex[$0] == nil }) {
            throw ShardError("shard \(missing)/\(first.count) is missing: none of the folders given holds it")
        }
        let ordered = (0..<first.count).map { byIndex[$0]! }
        var owner: [String: String] = [:]
        for (folder, m) in ordered {
            for key in m.owned {
                guard owner[key] == nil else { throw ShardError("\(key) is in two shards (\(owner[key]!) and \(folder))") }
                owner[key] = folder
            }
        }
        if let lost = first.units.first(where: { owner[$0] == nil }) { throw ShardError("no shard holds \(lost)") }
        if FileSystem.exists(output + "/" + ShardManifest.fileName) {
            throw ShardError("\(output) is a shard's folder; merge into another folder")
        }
        try FileSystem.makeAll(output)
        switch first.kind {
        case .run: return .run(try mergeRun(ordered, units: first, owner: owner, into: output))
        case .sweep: return .sweep(try mergeSweep(ordered, units: first.units, owner: owner, into: output))
        case .select: return .select(try mergeSelection(ordered, units: first.units, owner: owner, into: output))
        }
    }

    static func readJSON(_ path: String) throws -> Data {
        guard FileSystem.exists(path) else { throw ShardError("\(path) is missing: the shard did not write its results") }
        return Data(try FileSystem.read(path, limit: 1 << 30))
    }

    static func mergeRun(_ shards: [(folder: String, manifest: ShardManifest)], units first: ShardManifest, owner: [String: String],
                         into output: String) throws -> SuiteReport {
        guard case .object(let run)? = try? JSONParser.parse(Array(first.run.utf8)), let model = run["model"]?.string,
              let suiteSHA256 = run["suite_sha256"]?.string, let suite = first.suite else {
            throw ShardError("\(shards[0].folder)/\(ShardManifest.fileName) does not describe a suite run")
        }
        var items: [String: ItemResult] = [:]
        var seconds = 0.0, scoredNow = 0
        for (folder, m) in shards {
            let results = try Journal.parse(Array(try readJSON(folder + "/items.jsonl")), path: folder + "/items.jsonl")
            for id in m.owned {
                guard let result = results[id] else { throw ShardError("\(folder)/items.jsonl has no result for \(id)") }
                items[id] = result
            }
            if case .object(let summary)? = try? JSONParser.parse(Array(try readJSON(folder + "/results.json"))) {
                if case .number(let text)? = summary["seconds"] { seconds += Double(text) ?? 0 }
                if case .number(let text)? = summary["scored_now"] { scoredNow += Int(text) ?? 0 }
            }
        }
        let identity = SuiteRun.Identity(suiteSHA256: suiteSHA256, model: model, adapter: run["adapter"]?.string, maxTokens: 0)
        let ordered = first.units.map { items[$0]! }
        let report = SuiteRun.report(suite: suite, suiteSHA256: suiteSHA256, identity: identity, items: ordered, scoredNow: scoredNow,
                                     seconds: seconds)
        // The folder an unsharded run with --out leaves: the same command run there finds every item done.
        let encoder = JSONEncoder.sortedKeys
        var journal = Data()
        for item in ordered {
            journal.append(try encoder.encode(item))
            journal.append(0x0A)
        }
        try AtomicFile.write(Array((first.run + "\n").utf8), to: output + "/run.json")
        try AtomicFile.write([UInt8](journal), to: output + "/items.jsonl")
        try SuiteRun.write(report, to: output)
        return report
    }

    static func mergeSweep(_ shards: [(folder: String, manifest: ShardManifest)], units: [String], owner: [String: String],
                           into output: String) throws -> SweepReport {
        let reports = try decode(SweepReport.self, file: "results.json", what: "a sweep's results", shards)
        var variants: [String: (folder: String, variant: SweepVariant)] = [:]
        for (folder, report) in reports {
            for variant in report.variants where owner[variant.type] == folder { variants[variant.type] = (folder, variant) }
        }
        if let lost = units.first(where: { variants[$0] == nil }) { throw ShardError("\(owner[lost]!)/results.json has no variant \(lost)") }
        // Settings come from the shards that measured something; machines that differ are all named.
        let measuring = reports.filter { r in units.contains { owner[$0] == r.folder } }.map(\.report)
        var merged = measuring.first ?? reports[0].report
        merged.cpu = unique(measuring.map(\.cpu))
        merged.kernels = unique(measuring.map(\.kernels))
        merged.variants = units.map { variants[$0]!.variant }
        try FileSystem.makeAll(output + "/models")
        try FileSystem.makeAll(output + "/runs")
        for type in units {
            let (folder, variant) = variants[type]!
            if !variant.isSource && !variant.path.hasPrefix("/") { try link(output + "/" + variant.path, to: folder + "/" + variant.path) }
            if FileSystem.exists(folder + "/runs/" + type) { try link(output + "/runs/" + type, to: folder + "/runs/" + type) }
        }
        try merged.write(to: output)
        return merged
    }

    static func mergeSelection(_ shards: [(folder: String, manifest: ShardManifest)], units: [String], owner: [String: String],
                               into output: String) throws -> SelectionReport {
        let reports = try decode(SelectionReport.self, file: "selection.json", what: "a selection's results", shards)
        var candidates: [String: SelectionCandidate] = [:]
        for (folder, report) in reports {
            for candidate in report.candidates where owner[candidate.name] == folder { candidates[candidate.name] = candidate }
        }
        if let lost = units.first(where: { candidates[$0] == nil }) { throw ShardError("\(owner[lost]!)/selection.json has no candidate \(lost)") }
        let measuring = reports.filter { r in units.contains { owner[$0] == r.folder } }.map(\.report)
        var merged = measuring.first ?? reports[0].report
        merged.cpu = unique(measuring.map(\.cpu))
        merged.kernels = unique(measuring.map(\.kernels))
        merged.candidates = SelectionReport.ranked(units.map { candidates[$0]! })
        for name in units where FileSystem.exists(owner[name]! + "/" + name) {
            try link(output + "/" + name, to: owner[name]! + "/" + name)
        }
        try merged.write(to: output)
        return merged
    }

    /// Each shard's `file`, decoded.
    static func decode<Report: Decodable>(_ type: Report.Type, file: String, what: String,
                                          _ shards: [(folder: String, manifest: ShardManifest)]) throws -> [(folder: String, report: Report)] {
        try shards.map { folder, _ in
            do {
                return (folder, try JSONDecoder().decode(Report.self, from: try readJSON(folder + "/" + file)))
            } catch let error as DecodingError {
                throw ShardError("\(folder)/\(file) is not \(what): \(error)")
            }
        }
    }

    /// The distinct values in order, joined: one machine's name, or every machine's.
    static func unique(_ values: [String]) -> String {
        var seen: [String] = []
        for value in values where !seen.contains(value) { seen.append(value) }
        return seen.joined(separator: " / ")
    }

    /// A symbolic link at `path` to `target` (made absolute), replacing an earlier link.
    static func link(_ path: String, to target: String) throws {
        let absolute = target.hasPrefix("/") ? target : FileManager.default.currentDirectoryPath + "/" + target
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil { try FileManager.default.removeItem(atPath: path) }
        guard !FileManager.default.fileExists(atPath: path) else { return }  // a real file or folder there is kept
        try FileSystem.makeAll((path as NSString).deletingLastPathComponent)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: absolute)
    }
}
