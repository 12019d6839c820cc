#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the process has used of the machine's memory, for the reports of `loco bench`,
/// `loco train` and any other front end that measures a run.
public enum PeakMemory {
    /// The process's peak resident set size so far, in bytes (`getrusage`'s `ru_maxrss`: the
    /// same high-water mark Linux shows as `VmHWM` in /proc/self/status).
    public static func residentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)  // bytes on Darwin
        #endif
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (what the SDK's timings report).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
