// Encode throughput of Tokenization on one text, in MB/s of UTF-8 input, on one core:
//   - cold: a fresh tokenizer's first call (its word cache fills as it goes),
//   - warm: later calls on the same tokenizer (words come from the cache),
//   - no cache: a tokenizer without the word cache (every word merged, as llama.cpp does),
//   - pre-tokenizer alone: splitting into words, no merges.
// The best of --iterations runs each. Prints the token count, which must equal llama.cpp's.
//
//     swift build -c release --product tokenize-benchmark
//     .build/release/tokenize-benchmark MODEL TEXTFILE [--iterations N] [--json]
import Foundation
import GGUFFormat
import Tokenization

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: tokenize-benchmark MODEL TEXTFILE [--iterations N] [--json]\n".utf8))
    exit(2)
}
let iterations = arguments.firstIndex(of: "--iterations").flatMap { Int(arguments[$0 + 1]) } ?? 3
let json = arguments.contains("--json")
let text = try Data(contentsOf: URL(fileURLWithPath: arguments[1]))
let megabytes = Double(text.count) / 1e6

func seconds(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let file = try GGUFFile(contentsOf: arguments[0])
var tokens = 0
var loadSeconds = Double.infinity
var cold = Double.infinity, warm = Double.infinity, uncached = Double.infinity, preTokenizer = Double.infinity
for _ in 0..<iterations {
    var tokenizer: Tokenizer!
    loadSeconds = min(loadSeconds, seconds { tokenizer = try! Tokenizer(gguf: file) })
    let withoutCache = try Tokenizer(gguf: file, wordCacheCapacity: 0)
    text.withUnsafeBytes { utf8 in
        cold = min(cold, seconds { tokens = tokenizer.encode(utf8: utf8, addSpecial: false, parseSpecial: false).count })
        warm = min(warm, seconds { _ = tokenizer.encode(utf8: utf8, addSpecial: false, parseSpecial: false) })
        uncached = min(uncached, seconds { _ = withoutCache.encode(utf8: utf8, addSpecial: false, parseSpecial: false) })
        preTokenizer = min(preTokenizer, seconds { _ = tokenizer.wordCount(utf8: utf8) })
    }
}

if json {
    let result: [String: Any] = [
        "bytes": text.count, "tokens": tokens, "load_ms": loadSeconds * 1e3,
        "cold_mb_per_s": megabytes / cold, "warm_mb_per_s": megabytes / warm,
        "no_cache_mb_per_s": megabytes / uncached, "pre_tokenizer_mb_per_s": megabytes / preTokenizer,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
} else {
    print(String(format: "%d bytes -> %d tokens; load %.1f ms", text.count, tokens, loadSeconds * 1e3))
    print(String(format: "encode: cold %.1f MB/s, warm %.1f MB/s, no cache %.1f MB/s; pre-tokenizer alone %.1f MB/s",
                 megabytes / cold, megabytes / warm, megabytes / uncached, megabytes / preTokenizer))
}
