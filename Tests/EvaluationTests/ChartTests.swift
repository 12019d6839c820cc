import Evaluation
import Foundation
import Testing
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The SVG scatter charts of the evaluation reports: the Pareto front, nice ticks on linear and log
/// axes, and documents that parse as XML and hold every title, label and legend name.
/// With LOCO_CHART_DEMO=DIR, `writeDemoCharts` writes four demo charts into DIR
/// (scripts/render-charts.sh DIR turns them into PNGs); LOCO_CHART_STRESS=1 adds crowded, narrow,
/// empty and all-equal charts to look at.
@Suite struct ChartTests {
    typealias P = ScatterChart.Point

    static func pairs(_ points: [P]) -> [[Double]] { points.map { [$0.x, $0.y] } }

    // MARK: Pareto front

    @Test func paretoFrontKeepsTheNonDominatedPointsInOrder() {
        let points = [P(x: 0.145, y: 0.58, label: "Q8_0"), P(x: 0.138, y: 0.60, label: "Q6_K"), P(x: 0.112, y: 0.57, label: "Q5_K_M"),
                      P(x: 0.105, y: 0.52, label: "Q4_K_M"), P(x: 0.092, y: 0.47, label: "Q4_0"), P(x: 0.094, y: 0.36, label: "Q3_K_M"),
                      P(x: 0.071, y: 0.09, label: "Q2_K")]
        let front = ScatterChart.paretoFront(points)
        #expect(front.map(\.label) == ["Q2_K", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"])
        // Lower y better, larger x better: the other corner.
        let other = ScatterChart.paretoFront(points, direction: .minimizeYMaximizeX)
        #expect(other.map(\.label) == ["Q8_0", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"])
        #expect(ScatterChart.paretoFront(points, direction: .minimizeYMinimizeX).map(\.label) == ["Q2_K"])
        #expect(ScatterChart.paretoFront(points, direction: .maximizeYMaximizeX).map(\.label) == ["Q8_0", "Q6_K"])
    }

    /// Equal x: only the better y stays; equal y: only the better x; equal points: all stay.
    @Test func paretoFrontTiesAndDuplicates() {
        let sameX = [P(x: 1, y: 0.5, label: "a"), P(x: 1, y: 0.7, label: "b"), P(x: 2, y: 0.7, label: "c"), P(x: 3, y: 0.9, label: "d")]
        #expect(ScatterChart.paretoFront(sameX).map(\.label) == ["b", "d"])
        let duplicates = [P(x: 1, y: 0.5, label: "a"), P(x: 1, y: 0.5, label: "b"), P(x: 0.5, y: 0.2, label: "c")]
        #expect(ScatterChart.paretoFront(duplicates).map(\.label) == ["c", "a", "b"])
        let allEqual = Array(repeating: P(x: 2, y: 2), count: 3)
        #expect(ScatterChart.paretoFront(allEqual).count == 3)
    }

    @Test func paretoFrontOfNoneOneAndNonFinite() {
        #expect(ScatterChart.paretoFront([]).isEmpty)
        #expect(ScatterChart.paretoFront([P(x: 3, y: 4, label: "only")]) == [P(x: 3, y: 4, label: "only")])
        let withNaN = [P(x: .nan, y: 10), P(x: 1, y: .infinity), P(x: 2, y: 1), P(x: 3, y: 2)]
        #expect(Self.pairs(ScatterChart.paretoFront(withNaN)) == [[2, 1], [3, 2]])
    }

    // MARK: Ticks

    static func scale(_ range: ClosedRange<Double>? = nil, log: Bool = false, values: [Double] = []) -> ScatterChart.Scale {
        ScatterChart.scale(ScatterChart.Axis(title: "t", log: log, range: range), values: values)
    }

    @Test func niceTicksOnFixedRanges() {
        let a = Self.scale(0.3...0.72)
        #expect(a.ticks == [0.3, 0.4, 0.5, 0.6, 0.7])
        #expect(a.labels == ["0.3", "0.4", "0.5", "0.6", "0.7"])
        let b = Self.scale(0...1)
        #expect(b.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(b.labels == ["0", "0.2", "0.4", "0.6", "0.8", "1"])
        let c = Self.scale(80...180)
        #expect(c.ticks == [80, 100, 120, 140, 160, 180])
        #expect(c.labels == ["80", "100", "120", "140", "160", "180"])
        let d = Self.scale(0...0.25)
        #expect(d.ticks == [0, 0.05, 0.1, 0.15, 0.2, 0.25])
        #expect(d.labels == ["0", "0.05", "0.1", "0.15", "0.2", "0.25"])
        let e = Self.scale(0...10)
        #expect(e.ticks == [0, 2, 4, 6, 8, 10])
    }

    @Test func niceTicksOnLogRanges() {
        let a = Self.scale(1e-4...2, log: true)
        #expect(a.ticks == [1e-4, 1e-3, 0.01, 0.1, 1])
        #expect(a.labels == ["1e-4", "0.001", "0.01", "0.1", "1"])
        // Under two decades: 2 and 5 multiples too.
        let b = Self.scale(0.01...1, log: true)
        #expect(b.ticks == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1])
        #expect(b.labels == ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"])
        // Twenty decades: every few powers only.
        let c = Self.scale(1e-10...1e10, log: true)
        #expect((3...8).contains(c.ticks.count) && c.ticks.first! >= 1e-10 && c.ticks.last! <= 1e10)
        // Less than one decade: still at least three ticks.
        #expect(Self.scale(40...60, log: true).ticks.count >= 3)
    }

    /// From the data: padded, widened to round ticks, 4 to 8 of them, never below 0 for data ≥ 0.
    @Test func automaticRanges() {
        for values in [[0.071, 0.145], [0.03, 0.6], [2.63, 8.5], [40, 200], [5, 5], [0, 0], [-3, 12], [1234, 98_000]] {
            let scale = Self.scale(values: values)
            #expect(scale.lower <= values.min()! && scale.upper >= values.max()!, "\(values): \(scale)")
            #expect((4...8).contains(scale.ticks.count), "\(values): \(scale.ticks)")
            #expect(scale.ticks.first == scale.lower && scale.ticks.last == scale.upper)
            if values.min()! >= 0 { #expect(scale.lower >= 0) }
        }
        let sizes = Self.scale(values: [0.071, 0.145])
        #expect(sizes.labels == ["0.06", "0.08", "0.1", "0.12", "0.14", "0.16"])
        let kld = Self.scale(log: true, values: [0.0012, 0.78])
        #expect(kld.lower <= 0.0012 && kld.upper >= 0.78 && kld.lower > 1e-4 && kld.upper <= 2)
        #expect(kld.ticks == [0.001, 0.01, 0.1, 1])
    }

    @Test func compactLabels() {
        #expect(ScatterChart.compact(1.5) == "1.5")
        #expect(ScatterChart.compact(0.05) == "0.05")
        #expect(ScatterChart.compact(0.1 + 0.2) == "0.3")
        #expect(ScatterChart.compact(120) == "120")
        #expect(ScatterChart.compact(-0.0) == "0")
        #expect(ScatterChart.compact(0.00025) == "2.5e-4")
        #expect(ScatterChart.compact(3_000_000) == "3e6")
        #expect(ScatterChart.compact(.nan) == "")
    }

    // MARK: SVG

    /// Well-formedness through XMLParser, collecting every text node and the root's attributes.
    final class Collector: NSObject, XMLParserDelegate {
        var texts: [String] = []
        var current = ""
        var rootAttributes: [String: String]?
        var elements: [String] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if rootAttributes == nil { rootAttributes = attributes }
            elements.append(name)
            current = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if !current.isEmpty { texts.append(current) }
            current = ""
        }
    }

    static func parse(_ svg: String) throws -> Collector {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = Collector()
        parser.delegate = collector
        let ok = parser.parse()
        #expect(ok, "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
        try #require(ok)
        return collector
    }

    @Test func svgParsesAndHoldsEveryText() throws {
        for (name, chart) in Self.demoCharts() {
            let svg = chart.svg()
            let document = try Self.parse(svg)
            let texts = Set(document.texts)
            #expect(document.elements.first == "svg", "\(name)")
            #expect(document.rootAttributes?["viewBox"] == "0 0 720 480")
            #expect(document.rootAttributes?["font-family"] == "sans-serif")
            #expect(document.elements.contains("title") && document.elements.contains("rect"))
            #expect(texts.contains(chart.title))
            #expect(texts.contains(chart.xAxis.caption) && texts.contains(chart.yAxis.caption), "\(name)")
            for series in chart.series {
                if chart.series.count > 1 { #expect(texts.contains(series.name), "\(name): legend \(series.name)") }
                for point in series.points {
                    guard let label = point.label else { continue }
                    if chart.yAxis.log && point.y <= 0 { continue }
                    #expect(texts.contains(label), "\(name): label \(label)")
                }
            }
            if let front = chart.paretoFront { #expect(texts.contains(front.name)) }
            #expect(!svg.contains("nan") && !svg.contains("inf"))
        }
    }

    @Test func textIsEscaped() throws {
        let chart = ScatterChart(
            title: "A & B <\"quoted\"> 'single'", xAxis: .init(title: "x <size>", unit: "G&B"), yAxis: .init(title: "y"),
            series: [.init(name: "base & <more>", points: [P(x: 1, y: 2, label: "Q4<K>&\"M\"")]),
                     .init(name: "control\u{1}char", points: [P(x: 2, y: 3)])])
        let svg = chart.svg()
        #expect(svg.contains("A &amp; B &lt;&quot;quoted&quot;&gt; &apos;single&apos;"))
        #expect(!svg.contains("<size>") && !svg.contains("\u{1}"))
        let texts = Set(try Self.parse(svg).texts)
        #expect(texts.contains("A & B <\"quoted\"> 'single'"))
        #expect(texts.contains("x <size> (G&B)"))
        #expect(texts.contains("base & <more>") && texts.contains("Q4<K>&\"M\"") && texts.contains("controlchar"))
    }

    @Test func nonFiniteAndNonPositiveOnLogAreLeftOutWithANote() throws {
        let chart = ScatterChart(
            title: "KLD", xAxis: .init(title: "Bits per weight"), yAxis: .init(title: "KLD", log: true),
            series: [.init(name: "s", points: [P(x: 8.5, y: 0.001, label: "Q8_0"), P(x: 16, y: 0, label: "F16"), P(x: 32, y: 0, label: "F32"),
                                              P(x: .nan, y: 0.1, label: "bad"), P(x: 3, y: .infinity, label: "worse"),
                                              P(x: 2.6, y: 0.8, label: "Q2_K")], connect: true)])
        let svg = chart.svg()
        let texts = Set(try Self.parse(svg).texts)
        #expect(texts.contains("Q8_0") && texts.contains("Q2_K"))
        #expect(!texts.contains("F16") && !texts.contains("bad") && !texts.contains("worse"))
        #expect(texts.contains("2 points at 0 not shown (log scale); 2 points without a finite value not shown"))
        for word in ["nan", "NaN", "inf"] { #expect(!svg.contains(word)) }
        // A single series without a front gets no legend.
        #expect(!texts.contains("s"))
    }

    /// No points at all, one point, or all points equal: still axes with ticks, nothing invalid.
    @Test func degenerateChartsStillRender() throws {
        let empty = ScatterChart(title: "empty", xAxis: .init(title: "x"), yAxis: .init(title: "y", log: true), series: [])
        let one = ScatterChart(title: "one", xAxis: .init(title: "x"), yAxis: .init(title: "y"),
                               series: [.init(name: "s", points: [P(x: 0.1, y: 0.1, label: "only")], connect: true)], paretoFront: .init())
        let same = ScatterChart(title: "same", xAxis: .init(title: "x", log: true), yAxis: .init(title: "y"),
                                series: [.init(name: "a", points: Array(repeating: P(x: 5, y: 5, label: "p"), count: 3)),
                                         .init(name: "b", points: [P(x: 5, y: 5, label: "q")])])
        for chart in [empty, one, same] {
            let svg = chart.svg(width: 10, height: 10)
            let texts = try Self.parse(svg).texts
            #expect(texts.contains(chart.title) && texts.count > 6, "\(chart.title): \(texts)")
            #expect(texts.contains("No points to show") == (chart.title == "empty"))
            for word in ["nan", "inf"] { #expect(!svg.contains(word)) }
        }
    }

    @Test func outputIsDeterministic() {
        for (_, chart) in Self.demoCharts() {
            #expect(chart.svg() == chart.svg())
            #expect(chart.svg(width: 900, height: 600) == chart.svg(width: 900, height: 600))
        }
        #expect(Self.demoCharts()[0].1.svg().contains("viewBox=\"0 0 720 480\""))
    }

    /// Coordinates are written with at most two decimals.
    @Test func numbersHaveFewDecimals() {
        let svg = Self.demoCharts()[0].1.svg()
        let pattern = try! NSRegularExpression(pattern: "[0-9]+\\.[0-9]{3,}")
        #expect(pattern.firstMatch(in: svg, range: NSRange(svg.startIndex..., in: svg)) == nil)
    }

    // MARK: Demo

    /// A made-up quantization sweep of SmolLM2-135M: type, bits per weight, file size (GB), base
    /// and adapter score, base tokens/s, KLD against F16.
    static let sweep: [(type: String, bpw: Double, gb: Double, base: Double, adapter: Double, tokens: Double, kld: Double)] = [
        ("Q8_0", 8.50, 0.145, 0.215, 0.585, 118, 0.0012),
        ("Q6_K", 6.56, 0.138, 0.212, 0.600, 74, 0.0049),
        ("Q5_K_M", 5.69, 0.112, 0.205, 0.570, 81, 0.011),
        ("Q4_K_M", 4.89, 0.105, 0.183, 0.520, 96, 0.032),
        ("Q4_0", 4.55, 0.092, 0.150, 0.470, 185, 0.071),
        ("Q3_K_M", 3.91, 0.094, 0.118, 0.360, 88, 0.16),
        ("Q2_K", 2.63, 0.071, 0.030, 0.090, 102, 0.78),
    ]

    static func demoCharts() -> [(String, ScatterChart)] {
        let subtitle = "SmolLM2-135M-Instruct, math suite (made-up demo data)"
        let base = sweep.map { P(x: $0.gb, y: $0.base, label: $0.type) }
        let adapter = sweep.map { P(x: $0.gb, y: $0.adapter, label: $0.type) }
        let scoreSize = ScatterChart(
            title: "Score vs file size", subtitle: subtitle, xAxis: .init(title: "File size", unit: "GB"),
            yAxis: .init(title: "Score", unit: "exact match"),
            series: [.init(name: "base", points: base), .init(name: "+ math adapter", points: adapter)],
            paretoFront: .init(direction: .maximizeYMinimizeX))
        let scoreBits = ScatterChart(
            title: "Score vs bits per weight", subtitle: subtitle, xAxis: .init(title: "Bits per weight", unit: "bpw"),
            yAxis: .init(title: "Score", unit: "exact match"),
            series: [.init(name: "base", points: sweep.map { P(x: $0.bpw, y: $0.base, label: $0.type) }, connect: true),
                     .init(name: "+ math adapter", points: sweep.map { P(x: $0.bpw, y: $0.adapter, label: $0.type) }, connect: true)])
        let speed = ScatterChart(
            title: "Decode speed vs file size", subtitle: "SmolLM2-135M-Instruct, 2 threads (made-up demo data)",
            xAxis: .init(title: "File size", unit: "GB"), yAxis: .init(title: "Decode speed", unit: "tokens/s"),
            series: [.init(name: "base", points: sweep.map { P(x: $0.gb, y: $0.tokens, label: $0.type) }),
                     .init(name: "+ math adapter", points: sweep.map { P(x: $0.gb, y: ($0.tokens * 0.86).rounded(), label: $0.type) })],
            paretoFront: .init(direction: .maximizeYMinimizeX, series: ["base"]))
        let kld = ScatterChart(
            title: "KL divergence vs bits per weight", subtitle: "SmolLM2-135M-Instruct against F16 (made-up demo data)",
            xAxis: .init(title: "Bits per weight", unit: "bpw"), yAxis: .init(title: "Mean KL divergence", unit: "nats, log scale", log: true),
            series: [.init(name: "base", points: sweep.map { P(x: $0.bpw, y: $0.kld, label: $0.type) } + [P(x: 16, y: 0, label: "F16")],
                           connect: true)])
        var charts = [("score-vs-size", scoreSize), ("score-vs-bpw", scoreBits), ("speed-vs-size", speed), ("kld-vs-bpw", kld)]
        if ProcessInfo.processInfo.environment["LOCO_CHART_STRESS"] != nil {
            let types = ["IQ1_S", "IQ2_XXS", "IQ2_XS", "Q2_K_S", "Q2_K", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ4_XS", "Q4_0", "Q4_1",
                         "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0"]
            let crowded = types.enumerated().map { P(x: 0.07 + Double($0.offset) * 0.004, y: 0.3 + 0.01 * Double($0.offset % 5), label: $0.element) }
            let crowded2 = types.enumerated().map { P(x: 0.07 + Double($0.offset) * 0.004, y: 0.32 + 0.012 * Double($0.offset % 4), label: $0.element) }
            charts.append(("stress", ScatterChart(title: "Crowded", xAxis: .init(title: "File size", unit: "GB"), yAxis: .init(title: "Score"),
                                                  series: [.init(name: "base", points: crowded), .init(name: "+ adapter", points: crowded2)],
                                                  paretoFront: .init())))
            charts.append(("stress-small", ScatterChart(title: "Score vs file size, a long title for a narrow chart", subtitle: subtitle,
                                                        xAxis: scoreSize.xAxis, yAxis: scoreSize.yAxis, series: scoreSize.series,
                                                        paretoFront: scoreSize.paretoFront)))
            charts.append(("stress-empty", ScatterChart(title: "empty", xAxis: .init(title: "x"), yAxis: .init(title: "y", log: true), series: [])))
            charts.append(("stress-same", ScatterChart(title: "same", xAxis: .init(title: "x", log: true), yAxis: .init(title: "y"),
                                series: [.init(name: "a", points: Array(repeating: P(x: 5, y: 5, label: "p"), count: 3)),
                                         .init(name: "b", points: [P(x: 5, y: 5, label: "q"), P(x: .nan, y: 1)])])))
        }
        return charts
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["LOCO_CHART_DEMO"] != nil))
    func writeDemoCharts() throws {
        let folder = URL(fileURLWithPath: ProcessInfo.processInfo.environment["LOCO_CHART_DEMO"]!, isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, chart) in Self.demoCharts() {
            try Data((name == "stress-small" ? chart.svg(width: 480, height: 320) : chart.svg()).utf8).write(to: folder.appendingPathComponent("\(name).svg"))
        }
    }
}
