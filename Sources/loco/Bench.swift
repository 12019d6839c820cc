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

    @OptionGroup var adapters: AdapterArguments

    @Flag(help: """
        With several --adapter: give each its own adapter set (the runs use the first) and measure \
        switching a live session between them.
        """)
    var switchAdapters = false

    func run() throws {
        do {
            let path = try ModelStore().resolve(model)
            let loaded = try Model(contentsOf: path)
            let pool = ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            var random = SplitMix64(seed: 1)
            let vocabulary = loaded.vocabularySize
            let prompt = (0..<promptTokens).map { _ in Int32(random.next() % UInt64(vocabulary)) }
            // Adapters: read from disk (timed), then each made into the deltas a session applies.
            var adapterSets: [AdapterSet] = []
            var adapterLoadSeconds = 0.0, adapterAttachSeconds = 0.0
            if !adapters.paths.isEmpty {
                let loadStart = ContinuousClock.now
                let files = try adapters.paths.map { try LoRAAdapter(contentsOf: $0) }
                adapterLoadSeconds = (ContinuousClock.now - loadStart).seconds
                let scales = adapters.paths.indices.map { $0 < adapters.scales.count ? adapters.scales[$0] : Float(1) }
                let attachStart = ContinuousClock.now
                if switchAdapters {
                    adapterSets = try zip(files, scales).map { try AdapterSet(model: loaded, adapters: [($0, $1)]) }
                } else {
                    adapterSets = [try AdapterSet(model: loaded, adapters: Array(zip(files, scales)))]
                }
                adapterAttachSeconds = (ContinuousClock.now - attachStart).seconds / Double(adapterSets.count)
            }
            /// The best prefill and decode seconds of one run on a fresh session with `set`.
            func measure(_ set: AdapterSet?, into best: inout (prefill: Double, decode: Double)) throws {
                let session = loaded.makeSession(contextLength: promptTokens + genTokens, pool: pool)
                session.adapters = set
                let start = ContinuousClock.now
                var logits = try session.forward(tokens: prompt, logits: .last).values
                best.prefill = min(best.prefill, (ContinuousClock.now - start).seconds)
                let decodeStart = ContinuousClock.now
                for _ in 0..<genTokens {
                    logits = try session.decode(Sampler.argmax(logits))
                }
                best.decode = min(best.decode, (ContinuousClock.now - decodeStart).seconds)
            }
            var best = (prefill: Double.infinity, decode: Double.infinity)
            var bare = (prefill: Double.infinity, decode: Double.infinity)
            for _ in 0..<max(1, repetitions) {
                try measure(adapterSets.first, into: &best)
                // With adapters, the bare model runs in turn with them, so both see the same machine.
                if !adapterSets.isEmpty { try measure(nil, into: &bare) }
            }
            let bestPrefill = best.prefill, bestDecode = best.decode
            // Switching a live session: swap the adapter set and forget the cached positions (what
            // `/adapter` in `loco chat` does), then run one decode step with the new adapter.
            var switchSeconds: Double?
            if adapterSets.count > 1 {
                let session = loaded.makeSession(contextLength: promptTokens + genTokens, pool: pool)
                var samples: [Double] = []
                for i in 0..<200 {
                    let swapStart = ContinuousClock.now
                    session.adapters = adapterSets[i % adapterSets.count]
                    session.reset()
                    samples.append((ContinuousClock.now - swapStart).seconds)
                    _ = try session.decode(prompt[i % prompt.count])
                }
                switchSeconds = samples.sorted()[samples.count / 2]
            }
            let result = BenchResult(
                model: path, threads: pool.threadCount, promptTokens: promptTokens, genTokens: genTokens,
                prefillTokensPerSecond: Double(promptTokens) / bestPrefill,
                decodeTokensPerSecond: Double(genTokens) / bestDecode,
                peakRSSBytes: PeakMemory.residentBytes(), weightBytes: loaded.file.tensors.reduce(0) { $0 + $1.byteCount },
                adapterCount: adapters.paths.count, adapterLoadSeconds: adapters.paths.isEmpty ? nil : adapterLoadSeconds,
                adapterAttachSeconds: adapters.paths.isEmpty ? nil : adapterAttachSeconds, adapterSwitchSeconds: switchSeconds,
                barePrefillTokensPerSecond: adapterSets.isEmpty ? nil : Double(promptTokens) / bare.prefill,
                bareDecodeTokensPerSecond: adapterSets.isEmpty ? nil : Double(genTokens) / bare.decode)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print("""
                    model    \(path)
                    cpu      \(result.cpu), kernels \(KernelSet.summary)
                    threads  \(result.threads)
                    prefill  \(ByteFormat.fixed(result.prefillTokensPerSecond, 1)) tokens/s (\(promptTokens) tokens)
                    decode   \(ByteFormat.fixed(result.decodeTokensPerSecond, 1)) tokens/s (\(genTokens) tokens)
                    memory   \(ByteFormat.string(result.peakRSSBytes)) peak RSS, weights \(ByteFormat.string(result.weightBytes))
                    """)
                if let barePrefill = result.barePrefillTokensPerSecond, let bareDecode = result.bareDecodeTokensPerSecond,
                   promptTokens > 0, genTokens > 0 {
                    print("bare     prefill \(ByteFormat.fixed(barePrefill, 1)), decode \(ByteFormat.fixed(bareDecode, 1)) tokens/s "
                          + "(adapters cost \(ByteFormat.fixed(100 * (1 - result.prefillTokensPerSecond / barePrefill), 1))% / "
                          + "\(ByteFormat.fixed(100 * (1 - result.decodeTokensPerSecond / bareDecode), 1))%)")
                }
                if let load = result.adapterLoadSeconds, let attach = result.adapterAttachSeconds {
                    print("adapters \(result.adapterCount): read \(ByteFormat.fixed(load * 1000, 2)) ms, "
                          + "made into deltas \(ByteFormat.fixed(attach * 1000, 3)) ms each"
                          + (result.adapterSwitchSeconds.map { ", switch \(ByteFormat.fixed($0 * 1e6, 1)) us (median)" } ?? ""))
                }
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
    var adapterCount: Int
    /// Reading the adapter files (all of them).
    var adapterLoadSeconds: Double?
    /// Making one adapter set (checking it against the model, copying the factors).
    var adapterAttachSeconds: Double?
    /// Swapping a live session's adapter set and forgetting its cache (median).
    var adapterSwitchSeconds: Double?
    /// Without the adapters, measured in turn with the runs that have them (same conditions).
    var barePrefillTokensPerSecond: Double?
    var bareDecodeTokensPerSecond: Double?
    /// The SIMD kernel set that ran (``KernelSet/running``) and the CPU's model name.
    var kernels: String = KernelSet.running.rawValue
    var cpu: String = CPUInfo.modelName
}

/// The processor's model name, for benchmark reports ("unknown" where the system does not say).
enum CPUInfo {
    static let modelName: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") || line.hasPrefix("Model") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }()
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
