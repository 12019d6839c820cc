import Foundation
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
    /// The process's peak resident set size so far, in bytes: on Linux its memory's high-water
    /// mark `VmHWM` from /proc/self/status (since the last ``reset()``, if any), else `getrusage`'s
    /// `ru_maxrss`. (Not `ru_maxrss` first: Linux carries it across `exec`, so a process started
    /// by a large one, as `loco select` starts `loco bench`, would report its parent's peak.)
    public static func residentBytes() -> Int {
        #if os(Linux)
        return residentBytesSinceReset() ?? Int(processUsage().ru_maxrss) * 1024  // kilobytes on Linux
        #else
        return Int(processUsage().ru_maxrss)  // bytes on Darwin
        #endif
    }

    /// User plus system CPU time of this process so far, every thread, in seconds.
    public static func cpuSeconds() -> Double {
        let usage = processUsage()
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// User plus system CPU time of this process's children that have ended and been waited for.
    public static func childrenCPUSeconds() -> Double {
        let usage = processUsage(children: true)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func processUsage(children: Bool = false) -> rusage {
        var usage = rusage()
        #if os(Linux)
        getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &usage)
        #endif
        return usage
    }

    /// Starts a new high-water mark at the current resident size (Linux: writes 5 to
    /// /proc/self/clear_refs), so that ``residentBytesSinceReset()`` measures one stretch of work
    /// in a process that did others before. False where that is not possible.
    @discardableResult
    public static func reset() -> Bool {
        #if os(Linux)
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
        #else
        return false
        #endif
    }

    /// The peak resident size since the last ``reset()`` (Linux's `VmHWM`), in bytes; nil where
    /// /proc is not there.
    public static func residentBytesSinceReset() -> Int? { status("VmHWM:") }

    /// The resident size now (Linux's `VmRSS`), in bytes; nil where /proc is not there.
    public static func currentResidentBytes() -> Int? { status("VmRSS:") }

    static func status(_ key: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kilobytes * 1024
    }
}

extension Duration {
    /// The duration in seconds, as a `Double` (what the SDK's timings report).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
