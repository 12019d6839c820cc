import Foundation
import LocoSupport

/// What ``BaseModelSelection`` found: every candidate ranked, each criterion, and why.
public struct SelectionReport: Sendable, Codable, Equatable {
    public var cpu: String
    public var kernels: String
    public var threads: Int
    /// The context the memory estimates plan for.
    public var context: Int
    public var laptopBytes: Int
    public var availableBytes: Int
    public var licenses: [String]
    public var suites: [String]
    public var targetLoss: Double
    /// Best first.
    public var candidates: [SelectionCandidate]

    public init(cpu: String, kernels: String, threads: Int, context: Int, laptopBytes: Int, availableBytes: Int, licenses: [String],
                suites: [String], targetLoss: Double, candidates: [SelectionCandidate]) {
        self.cpu = cpu
        self.kernels = kernels
        self.threads = threads
        self.context = context
        self.laptopBytes = laptopBytes
        self.availableBytes = availableBytes
        self.licenses = licenses
        self.suites = suites
        self.targetLoss = targetLoss
        self.candidates = candidates
    }

    enum CodingKeys: String, CodingKey {
        case cpu, kernels, threads, context, licenses, suites, candidates
        case laptopBytes = "laptop_bytes"
        case availableBytes = "available_bytes"
        case targetLoss = "target_loss"
    }

    public func jsonText() throws -> String {
        String(decoding: try JSONEncoder.sortedKeys.encode(self), as: UTF8.self)
    }

    /// Writes `selection.json` and `selection.md` into `folder`.
    public func write(to folder: String) throws {
        try AtomicFile.write(Array(try jsonText().utf8) + [0x0A], to: folder + "/selection.json")
        try AtomicFile.write(Array(markdown().utf8), to: folder + "/selection.md")
    }

    /// `candidates` ordered and given their rank and reason: those meeting the hard requirements
    /// first, by mean score (with the quick adapter when there is one), then decode speed, then
    /// the smaller file; the rest after them, in the given order.
    public static func ranked(_ candidates: [SelectionCandidate]) -> [SelectionCandidate] {
        let eligible = candidates.filter(\.requirementsMet).sorted { a, b in
            let (sa, sb) = (a.meanScore ?? 0, b.meanScore ?? 0)
            if abs(sa - sb) > 1e-9 { return sa > sb }
            let (da, db) = (a.decodeTokensPerSecond ?? 0, b.decodeTokensPerSecond ?? 0)
            if da != db { return da > db }
            return a.fileBytes < b.fileBytes
        }
        let excluded = candidates.filter { !$0.requirementsMet }
        var out: [SelectionCandidate] = []
        for (i, var candidate) in eligible.enumerated() {
            candidate.rank = i + 1
            candidate.reason = reason(candidate, among: eligible, at: i)
            out.append(candidate)
        }
        for var candidate in excluded {
            candidate.rank = out.count + 1
            candidate.reason = "excluded by the hard requirements: " + candidate.failures.joined(separator: "; ")
            out.append(candidate)
        }
        return out
    }

    static func reason(_ c: SelectionCandidate, among eligible: [SelectionCandidate], at i: Int) -> String {
        let what = c.adapterScores.isEmpty ? "mean score" : "mean score with the quick adapter"
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }
        func tps(_ v: Double?) -> String { v.map { String(format: "%.1f tok/s", $0) } ?? "-" }
        var parts: [String] = []
        if eligible.count == 1 { return "the only candidate that meets the hard requirements (\(what) \(pct(c.meanScore)))" }
        if i == 0 {
            let next = eligible[1]
            if abs((c.meanScore ?? 0) - (next.meanScore ?? 0)) > 1e-9 {
                parts.append("highest \(what): \(pct(c.meanScore)) against \(pct(next.meanScore)) for \(next.name)")
            } else {
                parts.append("\(what) tied with \(next.name) at \(pct(c.meanScore)); faster decode, \(tps(c.decodeTokensPerSecond)) against \(tps(next.decodeTokensPerSecond))")
            }
        } else {
            let above = eligible[i - 1]
            if abs((c.meanScore ?? 0) - (above.meanScore ?? 0)) > 1e-9 {
                parts.append("\(what) \(pct(c.meanScore)), below \(above.name)'s \(pct(above.meanScore))")
            } else {
                parts.append("\(what) tied with \(above.name) at \(pct(c.meanScore)); decode \(tps(c.decodeTokensPerSecond)) against \(tps(above.decodeTokensPerSecond))")
            }
        }
        return parts.joined(separator: "; ")
    }

    public func markdown() -> String {
        func gb(_ bytes: Int?) -> String { bytes.map { String(format: "%.2f GB", Double($0) / 1e9) } ?? "-" }
        func mb(_ bytes: Int?) -> String { bytes.map { String(format: "%.0f MB", Double($0) / 1e6) } ?? "-" }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }
        func num(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "-" }
        var lines = ["# Choosing a base model", ""]
        lines.append("- machine: \(cpu), \(kernels) kernels, \(threads) threads")
        lines.append(String(format: "- laptop: %.0f GB, of which a model may use %.1f GB; memory planned at %d tokens of context",
                            Double(laptopBytes) / Double(1 << 30), Double(availableBytes) / Double(1 << 30), context))
        lines.append("- accepted licences: \(licenses.joined(separator: ", "))")
        lines.append("- suites: \(suites.isEmpty ? "none" : suites.joined(separator: ", "))")
        if let energy = candidates.first(where: { $0.energy != nil })?.energy {
            lines.append(energy.method == .measured
                ? "- energy: measured from the RAPL package counters over the speed probe (whole package)"
                : String(format: "- energy: **estimated** (no RAPL counters readable here): the process's CPU-seconds x %.1f W per busy core, over the speed probe", energy.wattsPerCore ?? 0))
        }
        lines += ["", "## Ranking", "", "| rank | candidate | why |", "|---:|---|---|"]
        for c in candidates { lines.append("| \(c.rank) | \(c.name) | \(c.reason) |") }

        lines += ["", "## 1. Hard requirements", "",
                  "| candidate | architecture | parameters | file | bits/weight | licence | chat template | memory at \(context) tokens | fits | failures |",
                  "|---|---|---:|---:|---:|---|---|---:|---|---|"]
        for c in candidates {
            let e = c.estimate
            let memory = e.map { "\(gb($0.totalBytes)) (weights \(mb($0.weightBytes)), KV \(mb($0.kvCacheBytes)), adapter \(mb($0.adapterBytes)), runtime \(mb($0.runtimeBytes)))" } ?? "-"
            let fits = e.map { $0.totalBytes <= availableBytes ? "yes" : "no" } ?? "-"
            lines.append("| \(c.name) | \(c.architecture) | \(String(format: "%.0fM", Double(c.parameters) / 1e6)) | \(mb(c.fileBytes)) | "
                         + "\(num(c.bitsPerWeight, "%.2f")) | \(c.license ?? "none") | \(c.chatTemplate ?? "none") | \(memory) | \(fits) | "
                         + "\(c.failures.isEmpty ? "none" : c.failures.joined(separator: "; ")) |")
        }

        lines += ["", "## 2. Base suite and 3. the quick adapter", ""]
        var header = "| candidate |", rule = "|---|"
        for suite in suites { header += " \(suite) base | \(suite) adapter |"; rule += "---:|---:|" }
        header += " steps to loss \(num(targetLoss, "%.2f")) | final loss | adapter size | training time |"
        rule += "---:|---:|---:|---:|"
        lines += [header, rule]
        for c in candidates {
            var row = "| \(c.name) |"
            for suite in suites { row += " \(pct(c.baseScores[suite])) | \(pct(c.adapterScores[suite])) |" }
            let q = c.quickAdapter
            let steps = q.map { a in a.stepsToTarget.map { "\($0) of \(a.losses.count)" } ?? "not reached in \(a.losses.count)" } ?? "-"
            row += " \(steps) | \(num(q?.finalLoss, "%.3f")) | \(mb(q?.adapterBytes)) | \(num(q?.seconds, "%.0f s")) |"
            lines.append(row)
        }

        lines += ["", "## 4. On this machine", "",
                  "| candidate | prefill | decode | time to first token | peak RSS | estimate at the probe's longest context | memory drift over a chat (KV cache at its end) | energy per token |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for c in candidates {
            let energy = c.energy.map { $0.method == .measured ? "measured" : "estimated" } ?? ""
            lines.append("| \(c.name) | \(num(c.prefillTokensPerSecond, "%.1f tok/s")) | \(num(c.decodeTokensPerSecond, "%.1f tok/s")) | "
                         + "\(num(c.timeToFirstTokenSeconds.map { $0 * 1000 }, "%.0f ms")) | \(mb(c.peakRSSBytes)) | "
                         + "\(mb(c.probeEstimate?.totalBytes)) | "
                         + (c.chatRSSDriftBytes.map { "\(mb($0)) over \(c.chatTurns ?? 0) turns (\(mb(c.chatKVCacheBytes)))" } ?? "-")
                         + " | \(num(c.joulesPerToken, "%.4f J")) \(energy) |")
        }
        let child = candidates.contains(where: \.probeInChildProcess)
        lines += ["", "Time to first token is derived: the probe's prompt over its prefill speed, plus one decode step. "
                  + (child ? "Each probe ran in a child process (`loco bench`); its peak RSS is that process's high-water mark. "
                     : "Peak RSS is this process's high-water mark from the start of each candidate's probe (reset through "
                     + "/proc/self/clear_refs), so it includes what the process kept from earlier candidates. ")
                  + "The estimate beside it is the same formula as the hard requirement's, at the probe's longest session (its "
                  + "speed runs, or the conversation when that is longer) and without an adapter. "
                  + "Energy per token divides the probe's energy over every token it ran (speed runs and conversation). "
                  + "The chat drift is the resident memory after the last turn of a long conversation in one session (24 prompt and "
                  + "32 generated tokens a turn) minus after the first; its KV cache's size at the end says how much of that is the "
                  + "conversation itself (the cache doubles as it grows).", ""]
        return lines.joined(separator: "\n")
    }
}
