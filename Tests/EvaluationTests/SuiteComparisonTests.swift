import Evaluation
import Foundation
import Testing

/// The base-against-adapters table and its out-of-domain check, on reports made up to hit each
/// case: deltas, items gained and lost by id, and the threshold's edge.
@Suite struct SuiteComparisonTests {
    static func report(_ suite: String, adapter: String?, _ correct: [Bool]) -> SuiteReport {
        let items = correct.enumerated().map { ItemResult(id: "i\($0.offset)", type: .numeric, prediction: .text(""), correct: $0.element) }
        let right = correct.filter { $0 }.count
        return SuiteReport(suite: suite, suiteSHA256: "", model: "m.gguf", adapter: adapter, score: Double(right) / Double(correct.count),
                           multipleChoiceAccuracy: nil, multipleChoiceAccuracyNormalized: nil, scoreByType: [:], correct: right,
                           total: correct.count, scoredNow: correct.count, seconds: 1, itemsPerSecond: 1, items: items)
    }

    /// 20 items: one item is 5 points. Math: the adapter gains 3 and loses 1. General: it
    /// loses exactly 5 points (passes), the routed setting 10 (fails).
    static let comparison: SuiteComparison = {
        let mathBase = [true, false, false, true] + Array(repeating: false, count: 16)
        let mathAdapter = [false, true, true, true, true] + Array(repeating: false, count: 15)
        let general = Array(repeating: true, count: 10) + Array(repeating: false, count: 10)
        let generalMinusOne = Array(repeating: true, count: 9) + Array(repeating: false, count: 11)
        let generalMinusTwo = Array(repeating: true, count: 8) + Array(repeating: false, count: 12)
        return SuiteComparison(reports: [
            [report("math", adapter: nil, mathBase), report("math", adapter: "a.gguf", mathAdapter), report("math", adapter: "auto", mathAdapter)],
            [report("general", adapter: nil, general), report("general", adapter: "a.gguf", generalMinusOne),
             report("general", adapter: "auto", generalMinusTwo)],
        ], settings: ["base", "a.gguf", "auto"])
    }()

    @Test func rowsCarryDeltasAndItemsGainedAndLost() {
        let rows = Self.comparison.rows
        #expect(rows.map(\.setting) == ["base", "a.gguf", "auto", "base", "a.gguf", "auto"])
        #expect(rows[0].deltaPoints == nil && rows[0].gained == nil)
        #expect(abs(rows[1].deltaPoints! - 10) < 1e-9)
        #expect(rows[1].gained == 3 && rows[1].lost == 1)
        #expect(abs(rows[4].deltaPoints! + 5) < 1e-9 && rows[4].gained == 0 && rows[4].lost == 1)
    }

    /// Exactly the threshold passes; beyond it fails and is named.
    @Test func outOfDomainCheckFailsBeyondTheThreshold() throws {
        let comparison = Self.comparison
        #expect(!comparison.passed)
        #expect(comparison.regressions.count == 1)
        let regression = try #require(comparison.regressions.first)
        #expect(regression.suite == "general" && regression.setting == "auto")
        #expect(abs(regression.deltaPoints + 10) < 1e-9 && regression.baseScore == 0.5)
        #expect(comparison.markdown().contains("Out-of-domain check FAILED"))
        #expect(comparison.markdown().contains("| math | 20 | 10.0% | 20.0% (+10.0; +3/-1) |"))

        let lenient = SuiteComparison(reports: comparison.reports, settings: comparison.settings, thresholdPoints: 10)
        #expect(lenient.passed && lenient.markdown().contains("check passed"))
    }

    @Test func jsonHasTheDocumentedKeys() throws {
        let json = try JSONSerialization.jsonObject(with: Data(try Self.comparison.jsonText().utf8)) as! [String: Any]
        #expect(Set(json.keys) == ["model", "settings", "suites", "threshold_points", "rows", "regressions", "passed"])
        #expect(json["passed"] as? Bool == false)
        let row = (json["rows"] as! [[String: Any]])[1]
        #expect(row["delta_points"] as? Double != nil && row["gained"] as? Int == 3 && row["lost"] as? Int == 1)
    }

    /// `loco data math`'s suite.jsonl: the test problems as numeric items that score their own answers.
    @Test func generatedProblemsWriteAsASuite() throws {
        let problems = MathWordProblems.generate(count: 5, seed: 3)
        let path = FileManager.default.temporaryDirectory.path + "/\(UUID().uuidString)-suite.jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try MathWordProblems.writeSuite(problems, to: path)
        let suite = try EvaluationSuite(contentsOf: path)
        #expect(suite.items.map(\.id) == (1...5).map { "math-\($0)" })
        #expect(suite.items.map(\.number) == problems.map { Double($0.answer) })
        #expect(suite.items.map(\.kind) == Array(repeating: .numeric, count: 5))
        if case .text(let text) = suite.items[0].prompt { #expect(text == problems[0].question) } else { Issue.record("a text prompt") }
    }
}
