import Foundation
import LocoSupport

/// Energy a stretch of work used: measured from the CPU package's RAPL counters
/// (`/sys/class/powercap/intel-rapl:N/energy_uj`) where they can be read, otherwise estimated as
/// the process's CPU-seconds times a stated figure of watts per busy core. Every figure says
/// which it is.
public struct EnergyMeter: Sendable {
    /// How a figure was obtained.
    public enum Method: String, Sendable, Codable {
        /// RAPL package counters: the whole package, so other work on the machine counts too.
        case measured
        /// CPU-seconds of this process x ``EnergyMeter/wattsPerCore``.
        case estimated
    }

    /// What one stretch used.
    public struct Reading: Sendable, Codable, Equatable {
        public var joules: Double
        public var method: Method
        /// The figure behind an estimate (nil when measured).
        public var wattsPerCore: Double?
        public var cpuSeconds: Double

        public init(joules: Double, method: Method, wattsPerCore: Double?, cpuSeconds: Double) {
            self.joules = joules
            self.method = method
            self.wattsPerCore = wattsPerCore
            self.cpuSeconds = cpuSeconds
        }

        enum CodingKeys: String, CodingKey {
            case joules, method
            case wattsPerCore = "watts_per_core"
            case cpuSeconds = "cpu_seconds"
        }

        /// "0.12 J/token (measured, RAPL)" or "0.12 J/token (estimated at 7.5 W per busy core)".
        public func perToken(_ tokens: Int) -> String {
            let value = tokens > 0 ? joules / Double(tokens) : 0
            let how = method == .measured ? "measured, RAPL" : String(format: "estimated at %.1f W per busy core", wattsPerCore ?? 0)
            return String(format: value < 0.1 ? "%.4f" : "%.3f", value) + " J/token (\(how))"
        }
    }

    /// The watts one fully busy core of a student laptop draws, for estimates. 7.5 W: a 15-28 W
    /// mobile processor's package power over its 2-4 performance cores under load.
    public static let defaultWattsPerCore = 7.5

    public var wattsPerCore: Double
    /// The RAPL package counters found (empty: estimates only).
    public let counters: [String]

    public init(wattsPerCore: Double = EnergyMeter.defaultWattsPerCore, powercap: String = "/sys/class/powercap") {
        self.wattsPerCore = wattsPerCore
        let names = (try? FileManager.default.contentsOfDirectory(atPath: powercap)) ?? []
        counters = names.filter { $0.hasPrefix("intel-rapl:") && !$0.dropFirst("intel-rapl:".count).contains(":") }.sorted()
            .map { "\(powercap)/\($0)/energy_uj" }
            .filter { Self.read($0) != nil }
    }

    /// Counter values and CPU time at the start of a stretch.
    public struct Mark: Sendable {
        let microjoules: [UInt64]
        let cpuSeconds: Double
    }

    /// CPU time counted: this process's and its ended children's (a probe run in a child process).
    static func cpuSeconds() -> Double { PeakMemory.cpuSeconds() + PeakMemory.childrenCPUSeconds() }

    public func start() -> Mark {
        Mark(microjoules: counters.compactMap(Self.read), cpuSeconds: Self.cpuSeconds())
    }

    /// What was used since `mark` (CPU time: this process's and its children's that ended since).
    public func stop(_ mark: Mark) -> Reading {
        let cpu = Self.cpuSeconds() - mark.cpuSeconds
        let now = counters.compactMap(Self.read)
        if !counters.isEmpty, now.count == mark.microjoules.count {
            // A counter wraps at max_energy_range_uj; a wrapped one reads lower than before.
            var total = 0.0
            for (index, (before, after)) in zip(mark.microjoules, now).enumerated() {
                if after >= before {
                    total += Double(after - before)
                } else {
                    let range = Self.read(counters[index].replacingOccurrences(of: "energy_uj", with: "max_energy_range_uj")) ?? 0
                    total += Double(range - before + after)
                }
            }
            return Reading(joules: total / 1e6, method: .measured, wattsPerCore: nil, cpuSeconds: cpu)
        }
        return Reading(joules: cpu * wattsPerCore, method: .estimated, wattsPerCore: wattsPerCore, cpuSeconds: cpu)
    }

    static func read(_ path: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
