import Foundation

/// A scatter chart written as a standalone SVG document: axes with ticks and titles, series with
/// their own colour and marker, point labels placed to avoid each other, an optional Pareto front.
///
/// The SVG needs no script, font or plugin; the same chart always gives the same bytes.
public struct ScatterChart: Sendable {
    /// One axis: its title and unit ("File size", "GB"), linear or logarithmic, and its range
    /// (nil: from the data, padded and widened to round ticks).
    public struct Axis: Sendable, Equatable {
        public var title: String
        public var unit: String?
        public var log: Bool
        public var range: ClosedRange<Double>?

        public init(title: String, unit: String? = nil, log: Bool = false, range: ClosedRange<Double>? = nil) {
            self.title = title
            self.unit = unit
            self.log = log
            self.range = range
        }

        /// "Title (unit)".
        public var caption: String { unit.map { "\(title) (\($0))" } ?? title }
    }

    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var label: String?

        public init(x: Double, y: Double, label: String? = nil) {
            self.x = x
            self.y = y
            self.label = label
        }
    }

    /// Points drawn with one colour and marker; `connect` draws a line through them in order of x.
    public struct Series: Sendable, Equatable {
        public var name: String
        public var points: [Point]
        public var connect: Bool

        public init(name: String, points: [Point], connect: Bool = false) {
            self.name = name
            self.points = points
            self.connect = connect
        }
    }

    /// Which way is better on each axis.
    public enum Direction: Sendable, Equatable {
        case maximizeYMinimizeX, maximizeYMaximizeX, minimizeYMinimizeX, minimizeYMaximizeX

        var xSign: Double { self == .maximizeYMaximizeX || self == .minimizeYMaximizeX ? -1 : 1 }
        var ySign: Double { self == .maximizeYMinimizeX || self == .maximizeYMaximizeX ? 1 : -1 }
    }

    /// The front of non-dominated points, drawn as a dashed staircase in each series' colour.
    public struct ParetoFront: Sendable, Equatable {
        public var direction: Direction
        /// The series that get a front (nil: every series, each its own).
        public var series: [String]?
        /// Its legend entry.
        public var name: String

        public init(direction: Direction = .maximizeYMinimizeX, series: [String]? = nil, name: String = "Pareto front") {
            self.direction = direction
            self.series = series
            self.name = name
        }
    }

    public var title: String
    /// A second, smaller line under the title (model, suite, date).
    public var subtitle: String?
    public var xAxis: Axis
    public var yAxis: Axis
    public var series: [Series]
    public var paretoFront: ParetoFront?
    /// A footnote; notes about points left out are added after it.
    public var note: String?

    public init(title: String, subtitle: String? = nil, xAxis: Axis, yAxis: Axis, series: [Series],
                paretoFront: ParetoFront? = nil, note: String? = nil) {
        self.title = title
        self.subtitle = subtitle
        self.xAxis = xAxis
        self.yAxis = yAxis
        self.series = series
        self.paretoFront = paretoFront
        self.note = note
    }

    /// Okabe and Ito's colour-blind-safe palette, darkest first (yellow last: weak on white).
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    // MARK: Pareto front

    /// The points no other point beats: none other is at least as good on both axes and better on
    /// one. Non-finite points are ignored; equal points are all kept (neither beats the other).
    /// Sorted along the front: from the best x to the worst, ties in input order.
    public static func paretoFront(_ points: [Point], direction: Direction = .maximizeYMinimizeX) -> [Point] {
        // In (x', y') = (sx·x, sy·y) smaller x' and larger y' are better.
        let finite = points.enumerated().filter { $0.element.x.isFinite && $0.element.y.isFinite }
        let sx = direction.xSign, sy = direction.ySign
        let kept = finite.filter { candidate in
            let cx = sx * candidate.element.x, cy = sy * candidate.element.y
            return !finite.contains { other in
                let ox = sx * other.element.x, oy = sy * other.element.y
                return ox <= cx && oy >= cy && (ox < cx || oy > cy)
            }
        }
        return kept.sorted { a, b in
            let ax = sx * a.element.x, bx = sx * b.element.x
            return ax != bx ? ax < bx : a.offset < b.offset
        }.map(\.element)
    }

    // MARK: Scales and ticks

    /// An axis laid out: its drawn range and ticks with their labels.
    public struct Scale: Sendable, Equatable {
        public var lower: Double
        public var upper: Double
        public var log: Bool
        public var ticks: [Double]
        public var labels: [String]

        /// Where `value` falls, from 0 (lower) to 1 (upper).
        public func fraction(_ value: Double) -> Double {
            if log { return (log10(value) - log10(lower)) / (log10(upper) - log10(lower)) }
            return (value - lower) / (upper - lower)
        }

        public func contains(_ value: Double) -> Bool {
            let slack = log ? 0 : (upper - lower) * 1e-9
            return value >= lower - slack && value <= upper + slack && (!log || value > 0)
        }
    }

    /// The axis' scale for these values: its own range if set, else the values' range padded by 5%
    /// and widened to the first and last tick (linear), or to 1, 2 or 5 × 10^k (log).
    public static func scale(_ axis: Axis, values: [Double]) -> Scale {
        let usable = values.filter { $0.isFinite && (!axis.log || $0 > 0) }
        if axis.log {
            var lower: Double, upper: Double
            if let range = axis.range, range.lowerBound > 0, range.upperBound.isFinite, range.upperBound > range.lowerBound {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else {
                let a = log10(usable.min() ?? 0.1), b = log10(usable.max() ?? 10)
                let pad = b > a ? (b - a) * 0.05 : 0.5
                lower = roundLog(pow(10, a - pad), up: false)
                upper = roundLog(pow(10, b + pad), up: true)
            }
            let ticks = logTicks(lower, upper)
            return Scale(lower: lower, upper: upper, log: true, ticks: ticks.values, labels: ticks.values.map { compact($0, decimals: ticks.decimals) })
        }
        if let range = axis.range, range.lowerBound.isFinite, range.upperBound.isFinite, range.upperBound > range.lowerBound {
            let ticks = linearTicks(range.lowerBound, range.upperBound, widen: false)
            return Scale(lower: range.lowerBound, upper: range.upperBound, log: false, ticks: ticks.values,
                         labels: ticks.values.map { compact($0, decimals: ticks.decimals) })
        }
        var lower = usable.min() ?? 0, upper = usable.max() ?? 1
        let pad = upper > lower ? (upper - lower) * 0.05 : (lower == 0 ? 1 : abs(lower) * 0.1)
        let nonNegative = lower >= 0
        lower -= pad
        upper += pad
        if nonNegative && lower < 0 { lower = 0 }
        let ticks = linearTicks(lower, upper, widen: true)
        return Scale(lower: ticks.values.first ?? lower, upper: ticks.values.last ?? upper, log: false, ticks: ticks.values,
                     labels: ticks.values.map { compact($0, decimals: ticks.decimals) })
    }

    /// Ticks every m × 10^k (m: 1, 2, 2.5, 5), 4 to 8 of them. Inside [lower, upper]; with
    /// `widen`, the first and last tick enclose it instead (least empty space wins).
    static func linearTicks(_ lower: Double, _ upper: Double, widen: Bool) -> (values: [Double], decimals: Int) {
        let span = upper - lower
        guard span > 0, span.isFinite else { return ([lower], 6) }
        let k0 = Int(floor(log10(span)))
        var best: (penalty: Double, first: Int, last: Int, m: Double, e: Int)?
        for e in (k0 - 2)...(k0 + 1) {
            for m in [1.0, 2, 2.5, 5] {
                let step = value(1, m, e)
                let lo = lower / step, hi = upper / step
                let first = widen ? Int(floor(lo + 1e-9 * max(1, abs(lo)))) : Int(ceil(lo - 1e-9 * max(1, abs(lo))))
                let last = widen ? Int(ceil(hi - 1e-9 * max(1, abs(hi)))) : Int(floor(hi + 1e-9 * max(1, abs(hi))))
                let count = last - first + 1
                var penalty = (4...8).contains(count) ? 0 : 100 + Double(abs(count - 6))
                if widen {
                    penalty += 10 * (1 - span / (Double(last - first) * step))
                    penalty += 0.3 * Double(abs(count - 6)) + (m == 2.5 ? 0.3 : 0)
                } else {
                    penalty += Double(abs(count - 6)) + (count > 6 ? 0.1 : 0) + (m == 2.5 ? 0.5 : 0)
                }
                if best == nil || penalty < best!.penalty - 1e-12 { best = (penalty, first, last, m, e) }
            }
        }
        guard let best, best.last >= best.first else { return ([lower, upper], 6) }
        let decimals = max(0, -best.e + (best.m == 2.5 ? 1 : 0))
        return ((best.first...best.last).map { value($0, best.m, best.e) }, decimals)
    }

    /// Log ticks: powers of ten (every other one or fewer past 8), with 2 and 5 × 10^k added when
    /// fewer than 4 powers fall in range; linear ticks when that still gives fewer than 3.
    static func logTicks(_ lower: Double, _ upper: Double) -> (values: [Double], decimals: Int?) {
        let a = log10(lower), b = log10(upper)
        let first = Int(ceil(a - 1e-9)), last = Int(floor(b + 1e-9))
        var values: [Double] = []
        if last - first + 1 > 8 {
            let every = (last - first + 8) / 8
            values = stride(from: first, through: last, by: 1).filter { $0 % every == 0 }.map { value(1, 1, $0) }
        } else if last - first + 1 >= 4 {
            values = (first...max(first, last)).map { value(1, 1, $0) }
        } else {
            for e in Int(floor(a))...Int(floor(b)) {
                for m in [1.0, 2, 5] {
                    let v = value(1, m, e)
                    if v >= lower * (1 - 1e-9) && v <= upper * (1 + 1e-9) { values.append(v) }
                }
            }
        }
        if values.count >= 3 { return (values, nil) }
        let linear = linearTicks(lower, upper, widen: false)
        return (linear.values.filter { $0 > 0 }, linear.decimals)
    }

    /// i × m × 10^e, exact for tick values (one rounding at most).
    static func value(_ i: Int, _ m: Double, _ e: Int) -> Double {
        var power = 1.0
        for _ in 0..<abs(e) { power *= 10 }
        return e < 0 ? Double(i) * m / power : Double(i) * m * power
    }

    /// The nearest 1, 2 or 5 × 10^k at or below (`up`: at or above) `v` > 0.
    static func roundLog(_ v: Double, up: Bool) -> Double {
        let e = Int(floor(log10(v)))
        let candidates = ((e - 1)...(e + 1)).flatMap { k in [1.0, 2, 5].map { value(1, $0, k) } }
        return up ? (candidates.first { $0 >= v * (1 - 1e-12) } ?? v) : (candidates.last { $0 <= v * (1 + 1e-12) } ?? v)
    }

    /// A tick label without noise: "0.05", "0.1", "1.5", "120", "1e-4" (nil decimals: as many as
    /// the value needs). Below 0.001 and from 10^6 on, in e-notation.
    public static func compact(_ v: Double, decimals: Int? = nil) -> String {
        guard v.isFinite else { return "" }
        if v == 0 { return "0" }
        let magnitude = abs(v)
        if magnitude < 1e-3 || magnitude >= 1e6 {
            var e = Int(floor(log10(magnitude)))
            var mantissa = (v / value(1, 1, e) * 100).rounded() / 100
            if abs(mantissa) >= 10 { mantissa /= 10; e += 1 }
            return trimmed(String(format: "%.2f", mantissa)) + "e\(e)"
        }
        let places = decimals ?? min(12, max(0, -Int(floor(log10(magnitude))) + 3))
        return trimmed(String(format: "%.\(places)f", v))
    }

    /// Trailing zeros and a trailing point dropped; "-0" is "0".
    static func trimmed(_ text: String) -> String {
        var text = text
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    // MARK: SVG

    /// The chart as an SVG document of `width` × `height` pixels.
    public func svg(width: Int = 720, height: Int = 480) -> String {
        var layout = Layout(chart: self, width: Double(width), height: Double(height))
        return layout.render()
    }
}

/// One rendering: the plot area, the scales, and the boxes labels must avoid.
private struct Layout {
    typealias Point = ScatterChart.Point
    struct Box {
        var x0, y0, x1, y1: Double
        func overlap(_ o: Box) -> Double { max(0, min(x1, o.x1) - max(x0, o.x0)) * max(0, min(y1, o.y1) - max(y0, o.y0)) }
    }
    /// A point kept, in pixels.
    struct Mark { var px: Double; var py: Double; var label: String?; var series: Int }

    let chart: ScatterChart
    let width, height: Double
    let labelSize = 11.0, tickSize = 12.0, axisTitleSize = 13.0, titleSize = 17.0
    var out = ""

    init(chart: ScatterChart, width: Double, height: Double) {
        self.chart = chart
        self.width = max(width, 200)
        self.height = max(height, 150)
    }

    /// DejaVu-Sans-like advance widths, a little generous, so estimated boxes hold the text.
    static func textWidth(_ text: String, size: Double) -> Double {
        var em = 0.0
        for c in text.unicodeScalars {
            switch c {
            case "i", "j", "l", "I", "'", "|", "!", ".", ",", ":", ";": em += 0.32
            case " ", "f", "t", "r", "(", ")", "[", "]", "-": em += 0.4
            case "m", "w", "M", "W", "%": em += 0.95
            case "A"..."Z": em += 0.72
            case "0"..."9", "+", "_", "=", "<", ">": em += 0.64
            default: em += 0.6
            }
        }
        return em * size
    }

    static func number(_ v: Double) -> String {
        ScatterChart.trimmed(String(format: "%.2f", v))
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t", "\n", "\r": result += " "
            default:
                // Not allowed in XML 1.0: other controls, surrogates (cannot occur), U+FFFE/U+FFFF.
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    mutating func line(_ text: String) {
        out += text
        out += "\n"
    }

    mutating func text(_ content: String, x: Double, y: Double, size: Double, anchor: String = "start", fill: String = "#222222",
                       extra: String = "") {
        let anchorAttribute = anchor == "start" ? "" : " text-anchor=\"\(anchor)\""
        line("<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\"\(anchorAttribute) fill=\"\(fill)\"\(extra)>\(Self.escape(content))</text>")
    }

    static func marker(_ series: Int, x: Double, y: Double, color: String, size: Double = 4.5) -> String {
        let cx = number(x), cy = number(y)
        let style = "fill=\"\(color)\" stroke=\"#ffffff\" stroke-width=\"1\""
        func polygon(_ corners: [(Double, Double)]) -> String {
            "<polygon points=\"\(corners.map { "\(number(x + $0.0)),\(number(y + $0.1))" }.joined(separator: " "))\" \(style)/>"
        }
        let s = size
        switch series % 6 {
        case 0: return "<circle cx=\"\(cx)\" cy=\"\(cy)\" r=\"\(number(s))\" \(style)/>"
        case 1: return "<rect x=\"\(number(x - s * 0.9))\" y=\"\(number(y - s * 0.9))\" width=\"\(number(s * 1.8))\" height=\"\(number(s * 1.8))\" \(style)/>"
        case 2: return polygon([(0, -s * 1.15), (s * 1.1, s * 0.8), (-s * 1.1, s * 0.8)])
        case 3: return polygon([(0, -s * 1.25), (s * 1.1, 0), (0, s * 1.25), (-s * 1.1, 0)])
        case 4: return polygon([(0, s * 1.15), (s * 1.1, -s * 0.8), (-s * 1.1, -s * 0.8)])
        default:
            let a = s * 0.45, b = s * 1.15
            return polygon([(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)])
        }
    }

    func color(_ series: Int) -> String { ScatterChart.palette[series % ScatterChart.palette.count] }

    /// Legend entries: each series (marker, and a line if connected), then the Pareto front.
    var legendEntries: [(name: String, series: Int?, connect: Bool)] {
        var entries: [(name: String, series: Int?, connect: Bool)] = []
        if chart.series.count > 1 || chart.paretoFront != nil {
            for (index, series) in chart.series.enumerated() { entries.append((series.name, index, series.connect)) }
        }
        if let front = chart.paretoFront { entries.append((front.name, nil, false)) }
        return entries
    }

    /// Entry widths, packed into rows no wider than the chart.
    func legendRows() -> [[(entry: Int, width: Double)]] {
        var rows: [[(entry: Int, width: Double)]] = []
        var row: [(entry: Int, width: Double)] = [], used = 0.0
        for (index, entry) in legendEntries.enumerated() {
            let entryWidth = 30 + Self.textWidth(entry.name, size: 12) + 22
            if !row.isEmpty && used + entryWidth > width - 40 {
                rows.append(row)
                row = []
                used = 0
            }
            row.append((index, entryWidth))
            used += entryWidth
        }
        if !row.isEmpty { rows.append(row) }
        return rows
    }

    mutating func render() -> String {
        // Data: finite points only; on a log axis only positive ones (counted for the footnote).
        var nonFinite = 0, atZero = 0, belowZero = 0, outside = 0
        var kept: [[Point]] = []
        for series in chart.series {
            var points: [Point] = []
            for point in series.points {
                guard point.x.isFinite && point.y.isFinite else { nonFinite += 1; continue }
                let logBad = (chart.xAxis.log && point.x <= 0) || (chart.yAxis.log && point.y <= 0)
                if logBad {
                    let zero = (chart.xAxis.log && point.x == 0) || (chart.yAxis.log && point.y == 0)
                    if zero { atZero += 1 } else { belowZero += 1 }
                    continue
                }
                points.append(point)
            }
            kept.append(points)
        }
        let xScale = ScatterChart.scale(chart.xAxis, values: kept.flatMap { $0.map(\.x) })
        let yScale = ScatterChart.scale(chart.yAxis, values: kept.flatMap { $0.map(\.y) })
        for index in kept.indices {
            let before = kept[index].count
            kept[index] = kept[index].filter { xScale.contains($0.x) && yScale.contains($0.y) }
            outside += before - kept[index].count
        }
        var notes: [String] = []
        if let note = chart.note, !note.isEmpty { notes.append(note) }
        func plural(_ n: Int) -> String { n == 1 ? "1 point" : "\(n) points" }
        if atZero > 0 { notes.append("\(plural(atZero)) at 0 not shown (log scale)") }
        if belowZero > 0 { notes.append("\(plural(belowZero)) below 0 not shown (log scale)") }
        if nonFinite > 0 { notes.append("\(plural(nonFinite)) without a finite value not shown") }
        if outside > 0 { notes.append("\(plural(outside)) outside the axis range not shown") }
        let footnote = notes.joined(separator: "; ")

        // Frame: title and legend on top, y tick labels and title left, x ticks, title, footnote below.
        let rows = legendRows()
        var top = 30.0 + (chart.subtitle == nil ? 0 : 18) + 14
        let legendTop = top
        top += Double(rows.count) * 20 + (rows.isEmpty ? 0 : 6)
        let yLabelWidth = yScale.labels.map { Self.textWidth($0, size: tickSize) }.max() ?? 0
        let left = 14 + axisTitleSize + 10 + yLabelWidth + 8
        let right = 24.0
        let bottom = 8 + tickSize + 10 + axisTitleSize + 10 + (footnote.isEmpty ? 0 : 18)
        let plot = Box(x0: left.rounded(), y0: top.rounded(), x1: (width - right).rounded(), y1: (height - bottom).rounded())
        func px(_ v: Double) -> Double { plot.x0 + xScale.fraction(v) * (plot.x1 - plot.x0) }
        func py(_ v: Double) -> Double { plot.y1 - yScale.fraction(v) * (plot.y1 - plot.y0) }

        let w = Self.number(width), h = Self.number(height)
        line("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        line("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" font-family=\"sans-serif\" role=\"img\">")
        line("<title>\(Self.escape(chart.title))</title>")
        if let subtitle = chart.subtitle { line("<desc>\(Self.escape(subtitle))</desc>") }
        line("<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>")
        // A title too wide for the chart is set smaller (down to 11px), never cut.
        func fitted(_ text: String, _ size: Double, bold: Bool = false) -> Double {
            let needed = Self.textWidth(text, size: size) * (bold ? 1.1 : 1)
            return needed <= width - 40 ? size : max(11, (size * (width - 40) / needed * 10).rounded(.down) / 10)
        }
        text(chart.title, x: width / 2, y: 30, size: fitted(chart.title, titleSize, bold: true), anchor: "middle", fill: "#111111",
             extra: " font-weight=\"bold\"")
        if let subtitle = chart.subtitle {
            text(subtitle, x: width / 2, y: 48, size: fitted(subtitle, 12), anchor: "middle", fill: "#555555")
        }

        // Grid, ticks and their labels, the axes.
        line("<g stroke=\"#e3e3e3\" stroke-width=\"1\">")
        for tick in xScale.ticks {
            let x = Self.number(px(tick))
            line("<line x1=\"\(x)\" y1=\"\(Self.number(plot.y0))\" x2=\"\(x)\" y2=\"\(Self.number(plot.y1))\"/>")
        }
        for tick in yScale.ticks {
            let y = Self.number(py(tick))
            line("<line x1=\"\(Self.number(plot.x0))\" y1=\"\(y)\" x2=\"\(Self.number(plot.x1))\" y2=\"\(y)\"/>")
        }
        line("</g>")
        line("<g stroke=\"#444444\" stroke-width=\"1\">")
        for tick in xScale.ticks {
            let x = Self.number(px(tick))
            line("<line x1=\"\(x)\" y1=\"\(Self.number(plot.y1))\" x2=\"\(x)\" y2=\"\(Self.number(plot.y1 + 5))\"/>")
        }
        for tick in yScale.ticks {
            let y = Self.number(py(tick))
            line("<line x1=\"\(Self.number(plot.x0 - 5))\" y1=\"\(y)\" x2=\"\(Self.number(plot.x0))\" y2=\"\(y)\"/>")
        }
        line("<line x1=\"\(Self.number(plot.x0))\" y1=\"\(Self.number(plot.y1))\" x2=\"\(Self.number(plot.x1))\" y2=\"\(Self.number(plot.y1))\"/>")
        line("<line x1=\"\(Self.number(plot.x0))\" y1=\"\(Self.number(plot.y0))\" x2=\"\(Self.number(plot.x0))\" y2=\"\(Self.number(plot.y1))\"/>")
        line("</g>")
        for (tick, label) in zip(xScale.ticks, xScale.labels) {
            text(label, x: px(tick), y: plot.y1 + 8 + tickSize, size: tickSize, anchor: "middle", fill: "#333333")
        }
        for (tick, label) in zip(yScale.ticks, yScale.labels) {
            text(label, x: plot.x0 - 8, y: py(tick) + tickSize * 0.35, size: tickSize, anchor: "end", fill: "#333333")
        }
        text(chart.xAxis.caption, x: (plot.x0 + plot.x1) / 2, y: plot.y1 + 8 + tickSize + 10 + axisTitleSize, size: axisTitleSize,
             anchor: "middle")
        let yTitleX = 14 + axisTitleSize * 0.8, yTitleY = (plot.y0 + plot.y1) / 2
        text(chart.yAxis.caption, x: yTitleX, y: yTitleY, size: axisTitleSize, anchor: "middle",
             extra: " transform=\"rotate(-90 \(Self.number(yTitleX)) \(Self.number(yTitleY)))\"")
        if !footnote.isEmpty { text(footnote, x: 14, y: height - 10, size: 11, fill: "#555555") }

        // Lines: connected series, then Pareto fronts; kept as obstacles for the labels.
        var segments: [(Double, Double, Double, Double)] = []
        for (index, series) in chart.series.enumerated() where series.connect && kept[index].count > 1 {
            let sorted = kept[index].enumerated().sorted { $0.element.x != $1.element.x ? $0.element.x < $1.element.x : $0.offset < $1.offset }
            let pixels = sorted.map { (px($0.element.x), py($0.element.y)) }
            line("<polyline points=\"\(pixels.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(index))\" stroke-width=\"1.6\" stroke-linejoin=\"round\"/>")
            for pair in zip(pixels, pixels.dropFirst()) { segments.append((pair.0.0, pair.0.1, pair.1.0, pair.1.1)) }
        }
        if let front = chart.paretoFront {
            for (index, series) in chart.series.enumerated() where front.series?.contains(series.name) ?? true {
                let points = ScatterChart.paretoFront(kept[index], direction: front.direction)
                guard let first = points.first else { continue }
                var pixels = [(px(first.x), py(first.y))]
                for (previous, next) in zip(points, points.dropFirst()) {
                    pixels.append((px(next.x), py(previous.y)))
                    pixels.append((px(next.x), py(next.y)))
                }
                for pair in zip(pixels, pixels.dropFirst()) { segments.append((pair.0.0, pair.0.1, pair.1.0, pair.1.1)) }
                guard pixels.count > 1 else { continue }
                line("<polyline points=\"\(pixels.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(index))\" stroke-width=\"1.6\" stroke-dasharray=\"6 4\" stroke-opacity=\"0.85\"/>")
            }
        }

        // Markers.
        var marks: [Mark] = []
        for (index, points) in kept.enumerated() {
            for point in points { marks.append(Mark(px: px(point.x), py: py(point.y), label: point.label, series: index)) }
        }
        for mark in marks { line(Self.marker(mark.series, x: mark.px, y: mark.py, color: color(mark.series))) }
        if marks.isEmpty {
            text("No points to show", x: (plot.x0 + plot.x1) / 2, y: (plot.y0 + plot.y1) / 2, size: 13, anchor: "middle", fill: "#777777")
        }

        // Labels: each tries spots right, left, above and below its marker, nearest first, and takes
        // the one overlapping the fewest labels, markers and lines; always inside the plot area.
        var placed: [Box] = []
        let markerBoxes = marks.map { Box(x0: $0.px - 5.5, y0: $0.py - 5.5, x1: $0.px + 5.5, y1: $0.py + 5.5) }
        var labelLines: [String] = []
        for (markIndex, mark) in marks.enumerated() {
            guard let label = mark.label, !label.isEmpty else { continue }
            let textWidth = Self.textWidth(label, size: labelSize)
            var candidates: [(x: Double, baseline: Double, anchor: String, box: Box, order: Double, shift: Double)] = []
            func add(_ x: Double, _ baseline: Double, _ anchor: String, shift: Double) {
                let x0 = anchor == "start" ? x : anchor == "end" ? x - textWidth : x - textWidth / 2
                let box = Box(x0: x0 - 1, y0: baseline - labelSize * 0.8, x1: x0 + textWidth + 1, y1: baseline + labelSize * 0.25)
                candidates.append((x, baseline, anchor, box, Double(candidates.count), shift))
            }
            for shift in [0.0, -8, 8, -15, 15, -22, 22, -30, 30] {
                add(mark.px + 8, mark.py + labelSize * 0.35 + shift, "start", shift: shift)
                add(mark.px - 8, mark.py + labelSize * 0.35 + shift, "end", shift: shift)
                if shift == 0 {
                    add(mark.px, mark.py - 9, "middle", shift: 0)
                    add(mark.px, mark.py + 9 + labelSize * 0.8, "middle", shift: 0)
                }
            }
            var best: (cost: Double, index: Int)?
            for (index, candidate) in candidates.enumerated() {
                let box = candidate.box
                guard box.x0 >= plot.x0 + 2, box.x1 <= plot.x1 - 2, box.y0 >= plot.y0 + 1, box.y1 <= plot.y1 - 2 else { continue }
                var cost = candidate.order * 2
                for other in placed { cost += box.overlap(other) * 8 }
                for (otherIndex, other) in markerBoxes.enumerated() where otherIndex != markIndex { cost += box.overlap(other) * 6 }
                for segment in segments where Self.intersects(segment, box) { cost += 60 }
                if best == nil || cost < best!.cost { best = (cost, index) }
            }
            let chosen = best.map { candidates[$0.index] } ?? candidates[0]
            placed.append(chosen.box)
            if abs(chosen.shift) > 12 {
                let endX = chosen.anchor == "start" ? chosen.box.x0 : chosen.box.x1
                let endY = (chosen.box.y0 + chosen.box.y1) / 2
                let startX = mark.px + (chosen.anchor == "start" ? 5 : -5)
                line("<line x1=\"\(Self.number(startX))\" y1=\"\(Self.number(mark.py))\" x2=\"\(Self.number(endX))\" y2=\"\(Self.number(endY))\" stroke=\"#999999\" stroke-width=\"0.8\"/>")
            }
            let anchorAttribute = chosen.anchor == "start" ? "" : " text-anchor=\"\(chosen.anchor)\""
            labelLines.append("<text x=\"\(Self.number(chosen.x))\" y=\"\(Self.number(chosen.baseline))\" font-size=\"\(Self.number(labelSize))\"\(anchorAttribute) fill=\"#222222\" stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\">\(Self.escape(label))</text>")
        }
        for labelLine in labelLines { line(labelLine) }

        // Legend rows, centred under the title.
        let entries = legendEntries
        for (rowIndex, row) in rows.enumerated() {
            var x = (width - row.reduce(0) { $0 + $1.width }) / 2
            let y = legendTop + Double(rowIndex) * 20 + 10
            for (entryIndex, entryWidth) in row {
                let entry = entries[entryIndex]
                if let series = entry.series {
                    if entry.connect {
                        line("<line x1=\"\(Self.number(x))\" y1=\"\(Self.number(y))\" x2=\"\(Self.number(x + 24))\" y2=\"\(Self.number(y))\" stroke=\"\(color(series))\" stroke-width=\"1.6\"/>")
                    }
                    line(Self.marker(series, x: x + 12, y: y, color: color(series)))
                } else {
                    line("<line x1=\"\(Self.number(x))\" y1=\"\(Self.number(y))\" x2=\"\(Self.number(x + 24))\" y2=\"\(Self.number(y))\" stroke=\"#555555\" stroke-width=\"1.6\" stroke-dasharray=\"6 4\"/>")
                }
                text(entry.name, x: x + 30, y: y + 4.5, size: 12, fill: "#222222")
                x += entryWidth
            }
        }
        line("</svg>")
        return out
    }

    /// Whether a segment crosses a box (Liang–Barsky clipping).
    static func intersects(_ s: (Double, Double, Double, Double), _ box: Box) -> Bool {
        let dx = s.2 - s.0, dy = s.3 - s.1
        var t0 = 0.0, t1 = 1.0
        for (p, q) in [(-dx, s.0 - box.x0), (dx, box.x1 - s.0), (-dy, s.1 - box.y0), (dy, box.y1 - s.1)] {
            if p == 0 {
                if q < 0 { return false }
            } else {
                let t = q / p
                if p < 0 { t0 = max(t0, t) } else { t1 = min(t1, t) }
                if t0 > t1 { return false }
            }
        }
        return true
    }
}
