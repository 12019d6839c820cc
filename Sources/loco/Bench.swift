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

    @Option(help: "Then hold a conversation of this many turns in one session (24 prompt and 32 generated tokens each) and report the resident memory after each (0: none).")
    var chatTurns = 0

    @Flag(help: """
        With several --adapter: give each its own adapter set (the runs use the first) and measure \
        switching a live session between them.
        """)
    var switchAdapters = false

    func validate() throws {
        try adapters.refuseAuto("bench")
    }

    func run() throws {
        do {
            var configuration = SpeedProbe.Configuration()
            configuration.promptTokens = promptTokens
            configuration.genTokens = genTokens
            configuration.repetitions = repetitions
            configuration.threads = threads
            configuration.adapters = adapters.specs.map { (path: $0.0, scale: $0.1) }
            configuration.switchAdapters = switchAdapters
            configuration.chatTurns = chatTurns
            let path = try ModelStore().resolve(model)
            let result = try SpeedProbe(configuration).run(modelAt: path)
            if json {
                print(try result.jsonText())
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
                if let turns = result.chatRSSByTurnBytes, let drift = result.chatRSSDriftBytes {
                    print("chat     \(turns.count) turns: resident \(ByteFormat.string(turns[0])) after the first, "
                          + "\(ByteFormat.string(turns[turns.count - 1])) after the last (drift \(ByteFormat.string(drift)); "
                          + "KV cache \(ByteFormat.string(result.chatKVCacheBytes ?? 0)) at the end)")
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
