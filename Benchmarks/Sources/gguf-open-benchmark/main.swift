// Times opening and indexing a GGUF file with GGUFFormat: what every loader pays before the first
// token. Its peer is gguf_open_peer.py (gguf-py's GGUFReader) doing the same work.
//
//   gguf-open-benchmark FILE [--iterations N] [--json]

import GGUFFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What one open saw. The sums keep the optimizer from dropping the reads and let the peer
/// check that it read the same values and bytes.
struct Seen: Equatable {
    var tensors = 0
    /// Per metadata value: an array's count, a string's UTF-8 length, else 1.
    var metadataSum = 0
    /// Sum of every tensor's first byte.
    var dataSum = 0
}

/// One open as a loader does it: map and parse, read every metadata value once, resolve every
/// tensor by name and touch its first byte.
func openAndIndex(_ path: String) throws -> Seen {
    let file = try GGUFFile(contentsOf: path)
    var seen = Seen(tensors: file.tensors.count)
    for entry in file.metadata {
        // By key, as a caller asks for it. Arrays (the 49k-entry vocabulary) stay encoded: only
        // their count is read, as a loader does until it builds the tokenizer.
        switch file.metadata[entry.key] {
        case .array(let array)?: seen.metadataSum &+= array.count
        case .string(let string)?: seen.metadataSum &+= string.utf8.count
        case _?: seen.metadataSum &+= 1
        case nil: fatalError("metadata key \(entry.key) not found by its own name")
        }
    }
    for info in file.tensors {
        let data = try file.tensorData(named: info.name)
        seen.dataSum &+= data.withUnsafeBytes { Int($0.first ?? 0) }
    }
    // `file` goes out of scope here, so the unmap is inside the timed region, as it is for the peer.
    return seen
}

/// Writes to fd 2 directly: Swift 6 rejects the C global `stderr` as shared mutable state.
func printError(_ message: String) {
    var line = "gguf-open-benchmark: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    printError("\(message)\nusage: gguf-open-benchmark FILE [--iterations N] [--json]")
    exit(2)
}

var path: String?
var iterations = 50
var json = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--json": json = true
    case "--iterations":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { fail("--iterations needs a positive number") }
        iterations = value
    case _ where argument.hasPrefix("-"): fail("unknown option \(argument)")
    case _ where path == nil: path = argument
    default: fail("one FILE only")
    }
}
guard let path else { fail("missing FILE") }

let fileBytes: Int
let seen: Seen
var samples: [Double] = []
do {
    fileBytes = try GGUFStorage(mapping: path).count
    // One untimed open first: page cache and lazy symbol binding are the same for both readers then.
    seen = try openAndIndex(path)
    let clock = ContinuousClock()  // monotonic
    for _ in 0..<iterations {
        var result = Seen()
        let elapsed = try clock.measure { result = try openAndIndex(path) }
        precondition(result == seen, "iterations disagree")
        let (seconds, attoseconds) = elapsed.components
        samples.append(Double(seconds) * 1e3 + Double(attoseconds) * 1e-15)
    }
} catch {
    printError("\(error)")
    exit(1)
}

samples.sort()
let median = samples.count % 2 == 1
    ? samples[samples.count / 2]
    : (samples[samples.count / 2 - 1] + samples[samples.count / 2]) / 2
let minimum = samples[0]

/// Milliseconds to the microsecond, which is all a wall clock on a shared machine resolves.
func ms(_ value: Double) -> String { String((value * 1000).rounded() / 1000) }

/// A JSON string literal (paths may hold quotes or backslashes).
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

if json {
    print("""
    {"reader": "LocoLLM GGUFFormat", "file": \(jsonString(path)), "file_bytes": \(fileBytes), \
    "tensors": \(seen.tensors), "metadata_sum": \(seen.metadataSum), "data_sum": \(seen.dataSum), \
    "iterations": \(iterations), \
    "median_ms": \(ms(median)), "min_ms": \(ms(minimum))}
    """)
} else {
    print("\(path): \(fileBytes) bytes, \(seen.tensors) tensors")
    print("GGUFFormat open+index, \(iterations) iterations: median \(ms(median)) ms, min \(ms(minimum)) ms")
}
