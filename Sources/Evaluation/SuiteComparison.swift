import Foundation

/// Several suites scored under several adapter settings on one base: the base against each
/// adapter (and against routing), item by item, with the out-of-domain check.
///
/// The check: an adapter is meant to help on its own suite and cost nothing elsewhere, so a
/// setting fails where its score falls more than ``thresholdPoints`` percentage points below the
/// base's on any suite. (On its own suite a working adapter is far above the base, so "any suite"
/// comes to "the other suites".) Scores on small suites move in whole items: 1 of 24 is 4.2
/// points, which is why each row also counts the items gained and lost.
public struct SuiteComparison: Sendable, Encodable {
    /// One suite under one setting.
    public struct Row: Sendable, Encodable, Equatable {
        public var suite: String
        /// The setting's label: "base", the adapters' names or paths, or "auto".
        public var setting: String
        public var score: Double
        public var correct: Int
        public var total: Int
        /// Percentage points above (+) or below (-) the base on this suite; nil for the base.
        public var deltaPoints: Double?
        /// Items the base got wrong and this setting right, and the other way round.
        public var gained: Int?
        public var lost: Int?

        enum CodingKeys: String, CodingKey {
            case suite, setting, score, correct, total, gained, lost
            case deltaPoints = "delta_points"
        }
    }

    /// A setting more than the threshold below the base on a suite.
    public struct Regression: Sendable, Encodable, Equatable {
        public var suite: String
        public var setting: String
        public var baseScore: Double
        public var score: Double
        public var deltaPoints: Double

        enum CodingKeys: String, CodingKey {
            case suite, setting, score
            case baseScore = "base_score"
            case deltaPoints = "delta_points"
        }
    }

    public var model: String
    /// The settings in the order given, the base first.
    public var settings: [String]
    /// The suites' names in the order given.
    public var suites: [String]
    public var thresholdPoints: Double
    public var rows: [Row]
    public var regressions: [Regression]
    /// The reports behind the rows, by suite then setting (not encoded: each run folder holds its own).
    public var reports: [[SuiteReport]]

    /// True when no setting falls more than the threshold below the base on any suite.
    public var passed: Bool { regressions.isEmpty }

    public static let baseLabel = "base"

    enum CodingKeys: String, CodingKey {
        case model, settings, suites, rows, regressions, passed
        case thresholdPoints = "threshold_points"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(model, forKey: .model)
        try container.encode(settings, forKey: .settings)
        try container.encode(suites, forKey: .suites)
        try container.encode(thresholdPoints, forKey: .thresholdPoints)
        try container.encode(rows, forKey: .rows)
        try container.encode(regressions, forKey: .regressions)
        try container.encode(passed, forKey: .passed)
    }

    /// `reports[s][k]` is suite `s` under setting `k`; setting 0 must be the base. Items are
    /// matched by id between a setting's report and the base's.
    public init(reports: [[SuiteReport]], settings: [String], thresholdPoints: Double = 5) {
        self.reports = reports
        self.settings = settings
        self.thresholdPoints = thresholdPoints
        model = reports.first?.first?.model ?? ""
        suites = reports.map { $0.first?.suite ?? "" }
        var rows: [Row] = [], regressions: [Regression] = []
        for suiteReports in reports {
            guard let base = suiteReports.first else { continue }
            let baseCorrect = Dictionary(base.items.map { ($0.id, $0.correct) }, uniquingKeysWith: { first, _ in first })
            for (k, report) in suiteReports.enumerated() {
                var row = Row(suite: report.suite, setting: settings[k], score: report.score, correct: report.correct, total: report.total)
                if k > 0 {
                    let delta = 100 * (report.score - base.score)
                    row.deltaPoints = delta
                    row.gained = report.items.filter { $0.correct && baseCorrect[$0.id] == false }.count
                    row.lost = report.items.filter { !$0.correct && baseCorrect[$0.id] == true }.count
                    // A tiny epsilon so that exactly the threshold (e.g. 2 of 40) passes.
                    if delta < -thresholdPoints - 1e-9 {
                        regressions.append(Regression(suite: report.suite, setting: settings[k], baseScore: base.score,
                                                      score: report.score, deltaPoints: delta))
                    }
                }
                rows.append(row)
            }
        }
        self.rows = rows
        self.regressions = regressions
    }

    public func jsonText() throws -> String {
        String(decoding: try JSONEncoder.sortedKeys.encode(self), as: UTF8.self)
    }

    /// A Markdown table, suites down and settings across, then the check's verdict.
    public func markdown() -> String {
        var lines = ["# Base against adapters", "", "- model: `\(model)`", ""]
        lines.append("| suite | items | " + settings.map { $0 == Self.baseLabel ? "base" : "`\($0)`" }.joined(separator: " | ") + " |")
        lines.append("|---|---:|" + String(repeating: "---:|", count: settings.count))
        for suite in suites {
            let some = rows.filter { $0.suite == suite }
            var cells = ["\(suite)", "\(some.first?.total ?? 0)"]
            for row in some {
                var cell = String(format: "%.1f%%", 100 * row.score)
                if let delta = row.deltaPoints, let gained = row.gained, let lost = row.lost {
                    cell += String(format: " (%+.1f; +%d/-%d)", delta, gained, lost)
                }
                cells.append(cell)
            }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("In parentheses: points against the base, items gained / lost.")
        lines.append("")
        if passed {
            lines.append(String(format: "Out-of-domain check passed: no setting is more than %.1f points below the base on any suite.", thresholdPoints))
        } else {
            lines.append(String(format: "Out-of-domain check FAILED (more than %.1f points below the base):", thresholdPoints))
            for r in regressions {
                lines.append(String(format: "- `%@` on %@: %.1f%% against the base's %.1f%% (%+.1f points)",
                                    r.setting, r.suite, 100 * r.score, 100 * r.baseScore, r.deltaPoints))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension JSONEncoder {
    /// Sorted keys, slashes unescaped: the one encoder the evaluation's JSON files and output use.
    static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
