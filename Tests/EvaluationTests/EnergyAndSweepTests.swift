import Evaluation
import Foundation
import Testing

/// The energy meter on a made-up powercap tree (measured, and across a counter wrap) and
/// without one (estimated from CPU time), and the sweep report's labels and charts.
@Suite struct EnergyAndSweepTests {
    static func powercap(_ microjoules: UInt64, range: UInt64 = 1_000_000_000) throws -> String {
        let root = FileManager.default.temporaryDirectory.path + "/powercap-\(UUID().uuidString)"
        for name in ["intel-rapl:0", "intel-rapl:0:0"] {  // a package and a sub-zone, which is not counted
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            try "\(microjoules)\n".write(toFile: "\(root)/\(name)/energy_uj", atomically: true, encoding: .utf8)
            try "\(range)\n".write(toFile: "\(root)/\(name)/max_energy_range_uj", atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func raplCountersAreMeasuredAndWrapsCounted() throws {
        let root = try Self.powercap(999_000_000)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let meter = EnergyMeter(powercap: root)
        #expect(meter.counters == ["\(root)/intel-rapl:0/energy_uj"])
        let mark = meter.start()
        try "2500000\n".write(toFile: "\(root)/intel-rapl:0/energy_uj", atomically: true, encoding: .utf8)  // wrapped past 1e9
        let reading = meter.stop(mark)
        #expect(reading.method == .measured && reading.wattsPerCore == nil)
        #expect(abs(reading.joules - 3.5) < 1e-9)  // 1 J to the wrap, 2.5 J after it
        #expect(reading.perToken(7).contains("measured, RAPL"))
    }

    @Test func withoutRAPLEnergyIsEstimatedFromCPUTime() {
        let meter = EnergyMeter(wattsPerCore: 10, powercap: "/nonexistent")
        #expect(meter.counters.isEmpty)
        let mark = meter.start()
        var x = 0.0
        for i in 0..<3_000_000 { x += sin(Double(i)) }
        let reading = meter.stop(mark)
        #expect(x.isFinite)
        #expect(reading.method == .estimated && reading.wattsPerCore == 10)
        #expect(reading.cpuSeconds > 0 && abs(reading.joules - 10 * reading.cpuSeconds) < 1e-9)
        #expect(reading.perToken(10).contains("estimated at 10.0 W per busy core"))
    }

    static let report: SweepReport = {
        func variant(_ type: String, source: Bool, bytes: Int, bpw: Double, base: Double, adapter: Double, kld: Double) -> SweepVariant {
            var v = SweepVariant(type: type, isSource: source, requantizedFrom: source ? nil : "Q4_1", path: "/m/\(type).gguf",
                                 fileBytes: bytes, bitsPerWeight: bpw)
            v.scores = [.init(suite: "math", total: 100, base: base, adapter: adapter)]
            v.tensorTypes = [.init(type: type == "Q4_K_M" ? "Q5_0" : type, tensors: 166, share: 0.6), .init(type: "Q8_0", tensors: 15, share: 0.4)]
            v.perplexity = 20
            v.meanKLD = kld
            v.decodeTokensPerSecond = 100
            v.energy = EnergyMeter.Reading(joules: 3, method: .estimated, wattsPerCore: 7.5, cpuSeconds: 0.4)
            v.joulesPerToken = 0.01
            return v
        }
        return SweepReport(source: "/m/Smol.Q4_1.gguf", sourceType: "Q4_1", cpu: "cpu", kernels: "avx2", threads: 2, adapter: "/a.gguf",
                           suites: ["math"], context: 128, maxTokens: 64,
                           variants: [variant("Q4_1", source: true, bytes: 98_000_000, bpw: 5.7, base: 0.04, adapter: 0.55, kld: 0),
                                      variant("Q8_0", source: false, bytes: 145_000_000, bpw: 8.5, base: 0.04, adapter: 0.56, kld: 0.006),
                                      variant("Q4_K_M", source: false, bytes: 105_000_000, bpw: 6.1, base: 0.03, adapter: 0.46, kld: 0.1)])
    }()

    /// A requantized sweep says so, names the energy estimate, and charts every figure.
    @Test func reportLabelsRequantizationAndEnergy() throws {
        let text = Self.report.markdown()
        #expect(Self.report.requantized)
        #expect(text.contains("requantization of the Q4_1 source"))
        #expect(text.contains("**estimated**") && text.contains("7.5 W per busy core"))
        #expect(text.contains("| Q4_1 (source) | 0.098 | 5.70 | 4.0% | 55.0% |"))
        #expect(text.contains("| Q4_K_M | Q5_0 x166 (60%), Q8_0 x15 (40%) |"))
        let charts = Self.report.charts()
        #expect(charts.map(\.name) == ["score-vs-size-math", "score-vs-bpw-math", "speed-vs-size", "kld-vs-bpw"])
        let svg = charts[0].chart.svg()
        #expect(svg.contains("Q4_K_M") && svg.contains("+ adapter") && svg.contains("requantized from Q4_1"))
        #expect(charts[3].chart.svg().contains("1 point at 0 not shown"))
        let json = try JSONSerialization.jsonObject(with: Data(try Self.report.jsonText().utf8)) as! [String: Any]
        let first = (json["variants"] as! [[String: Any]])[0]
        #expect(first["is_source"] as? Bool == true && first["joules_per_token"] as? Double == 0.01)
        #expect((first["energy"] as! [String: Any])["method"] as? String == "estimated")
    }
}
