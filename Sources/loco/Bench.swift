import ArgumentParser
import Foundation
import LocoLLM

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prefill and decode speed and peak memory on a model.",
        discussion: """
            Prefill runs --prompt-tokens seeded random tokens in one batched forward pass; decode \
            then generates --gen-tokens tokens greedily, one at a time. Each is repeated \
            --repetitions times on a fresh session and the best run is reported (the usual \
            practice of llama-bench, less sensitive to other load on the machine).
            """
    )

    @Option(help: "The GGUF model, or a name in the model store. Default: the default model.")
    var model: String?

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Prompt tokens to prefill.")
    var promptTokens = 512

    @Option(help: "Tokens to decode.")
    var genTokens = 128

    @Option(help: "Runs of each measurement; the fastest is reported.")
    var repetitions = 3

    @Flag(help: "Print JSON: prefill_tokens_per_second, decode_tokens_per_second, peak_rss_bytes, ...")
    var json = false

    func run() throws {
        do {
            let path = try ModelStore().resolve(model)
            let loaded = try Model(contentsOf: path)
            let pool = ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            var random = SplitMix64(seed: 1)
            let vocabulary = loaded.vocabularySize
            let prompt = (0..<promptTokens).map { _ in Int32(random.next() % UInt64(vocabulary)) }
            var bestPrefill = Double.infinity
            var bestDecode = Double.infinity
            for _ in 0..<max(1, repetitions) {
                let session = loaded.makeSession(contextLength: promptTokens + genTokens, pool: pool)
                let start = ContinuousClock.now
                var logits = try session.forward(tokens: prompt, logits: .last).values
                bestPrefill = min(bestPrefill, (ContinuousClock.now - start).seconds)
                let decodeStart = ContinuousClock.now
                for _ in 0..<genTokens {
                    logits = try session.decode(Sampler.argmax(logits))
                }
                bestDecode = min(bestDecode, (ContinuousClock.now - decodeStart).seconds)
            }
            let result = BenchResult(
                model: path, threads: pool.threadCount, promptTokens: promptTokens, genTokens: genTokens,
                prefillTokensPerSecond: Double(promptTokens) / bestPrefill,
                decodeTokensPerSecond: Double(genTokens) / bestDecode,
                peakRSSBytes: PeakMemory.residentBytes(), weightBytes: loaded.file.tensors.reduce(0) { $0 + $1.byteCount })
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print("""
                    model    \(path)
                    threads  \(result.threads)
                    prefill  \(ByteFormat.fixed(result.prefillTokensPerSecond, 1)) tokens/s (\(promptTokens) tokens)
                    decode   \(ByteFormat.fixed(result.decodeTokensPerSecond, 1)) tokens/s (\(genTokens) tokens)
                    memory   \(ByteFormat.string(result.peakRSSBytes)) peak RSS, weights \(ByteFormat.string(result.weightBytes))
                    """)
            }
        } catch {
            throw fail(error)
        }
    }
}

struct BenchResult: Codable {
    var model: String
    var threads: Int
    var promptTokens: Int
    var genTokens: Int
    var prefillTokensPerSecond: Double
    var decodeTokensPerSecond: Double
    var peakRSSBytes: Int
    var weightBytes: Int
}

enum PeakMemory {
    /// The process's peak resident set size so far.
    static func residentBytes() -> Int {
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
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
