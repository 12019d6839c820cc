import Adapters
import Foundation
import Inference
import LocoSupport
import Tensor

/// Measures a model's prefill and decode speed and the process's peak memory, the way
/// `loco bench` reports them (and llama-bench measures: best of several runs).
///
/// Prefill runs ``Configuration/promptTokens`` seeded random tokens in one batched forward pass
/// on a fresh session; decode then generates ``Configuration/genTokens`` tokens greedily, one at a
/// time. Each is repeated ``Configuration/repetitions`` times and the fastest run is reported.
/// With adapters, the adapted and the bare model run in turn, so both see the same machine; the
/// report also times reading the adapter files, making them into deltas and (with
/// ``Configuration/switchAdapters``) switching a live session between them.
///
/// ```swift
/// var configuration = SpeedProbe.Configuration()
/// configuration.promptTokens = 128
/// let result = try SpeedProbe(configuration).run(modelAt: path)
/// print(result.decodeTokensPerSecond)
/// ```
public struct SpeedProbe: Sendable {
    /// What to measure.
    public struct Configuration: Sendable {
        /// Prompt tokens to prefill.
        public var promptTokens = 512
        /// Tokens to decode.
        public var genTokens = 128
        /// Runs of each measurement; the fastest is reported (at least one run is made).
        public var repetitions = 3
        /// Compute threads; nil: all cores.
        public var threads: Int?
        /// Seed of the random prompt.
        public var seed: UInt64 = 1
        /// Adapter files (GGUF LoRA or PEFT folders) with their user scales.
        public var adapters: [(path: String, scale: Float)] = []
        /// With several adapters: give each its own adapter set (the runs use the first) and
        /// measure switching a live session between them. Otherwise all go into one set.
        public var switchAdapters = false
        /// Adapter switches timed for ``BenchResult/adapterSwitchSeconds`` (the median is reported).
        public var switchSamples = 200
        /// Turns of a long conversation in one session, the resident memory read after each
        /// (0: none): each turn prefills ``chatPromptTokens`` seeded random tokens after what came
        /// before, then decodes ``chatReplyTokens`` greedily, as a chat's KV cache grows.
        public var chatTurns = 0
        public var chatPromptTokens = 24
        public var chatReplyTokens = 32

        public init() {}
    }

    public var configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Loads the model at `path` and measures it.
    public func run(modelAt path: String) throws -> BenchResult {
        let model = try Model(contentsOf: path)
        return try run(model: model, path: path)
    }

    /// Measures `model` (`path` is what the result names).
    public func run(model: Model, path: String) throws -> BenchResult {
        let c = configuration
        let pool = ComputePool(threads: c.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        var random = SplitMix64(seed: c.seed)
        let vocabulary = model.vocabularySize
        let prompt = (0..<c.promptTokens).map { _ in Int32(random.next() % UInt64(vocabulary)) }
        // Adapters: read from disk (timed), then each made into the deltas a session applies.
        var adapterSets: [AdapterSet] = []
        var adapterLoadSeconds = 0.0, adapterAttachSeconds = 0.0
        if !c.adapters.isEmpty {
            let loadStart = ContinuousClock.now
            let files = try c.adapters.map { try LoRAAdapter(contentsOf: $0.path) }
            adapterLoadSeconds = (ContinuousClock.now - loadStart).seconds
            let scales = c.adapters.map(\.scale)
            let attachStart = ContinuousClock.now
            if c.switchAdapters {
                adapterSets = try zip(files, scales).map { try AdapterSet(model: model, adapters: [($0, $1)]) }
            } else {
                adapterSets = [try AdapterSet(model: model, adapters: Array(zip(files, scales)))]
            }
            adapterAttachSeconds = (ContinuousClock.now - attachStart).seconds / Double(adapterSets.count)
        }
        /// The best prefill and decode seconds of one run on a fresh session with `set`.
        func measure(_ set: AdapterSet?, into best: inout (prefill: Double, decode: Double)) throws {
            let session = model.makeSession(contextLength: c.promptTokens + c.genTokens, pool: pool)
            session.adapters = set
            let start = ContinuousClock.now
            var logits = try session.forward(tokens: prompt, logits: .last).values
            best.prefill = min(best.prefill, (ContinuousClock.now - start).seconds)
            let decodeStart = ContinuousClock.now
            for _ in 0..<c.genTokens {
                logits = try session.decode(Sampler.argmax(logits))
            }
            best.decode = min(best.decode, (ContinuousClock.now - decodeStart).seconds)
        }
        var best = (prefill: Double.infinity, decode: Double.infinity)
        var bare = (prefill: Double.infinity, decode: Double.infinity)
        for _ in 0..<max(1, c.repetitions) {
            try measure(adapterSets.first, into: &best)
            // With adapters, the bare model runs in turn with them, so both see the same machine.
            if !adapterSets.isEmpty { try measure(nil, into: &bare) }
        }
        // Switching a live session: swap the adapter set and forget the cached positions (what
        // `/adapter` in `loco chat` does), then run one decode step with the new adapter.
        var switchSeconds: Double?
        if adapterSets.count > 1 && !prompt.isEmpty {
            let session = model.makeSession(contextLength: c.promptTokens + c.genTokens, pool: pool)
            var samples: [Double] = []
            for i in 0..<max(1, c.switchSamples) {
                let swapStart = ContinuousClock.now
                session.adapters = adapterSets[i % adapterSets.count]
                session.reset()
                samples.append((ContinuousClock.now - swapStart).seconds)
                _ = try session.decode(prompt[i % prompt.count])
            }
            switchSeconds = samples.sorted()[samples.count / 2]
        }
        // A long conversation: one session, turn after turn, resident memory after each.
        var rssByTurn: [Int]?, chatCacheBytes: Int?
        if c.chatTurns > 0 {
            let positions = c.chatTurns * (c.chatPromptTokens + c.chatReplyTokens)
            let session = model.makeSession(contextLength: min(model.configuration.contextLength, positions), pool: pool)
            var turns: [Int] = []
            var chatRandom = SplitMix64(seed: c.seed &+ 1)
            turnLoop: for _ in 0..<c.chatTurns {
                guard session.position + c.chatPromptTokens + c.chatReplyTokens <= session.contextLength else { break turnLoop }
                let turn = (0..<c.chatPromptTokens).map { _ in Int32(chatRandom.next() % UInt64(vocabulary)) }
                var logits = try session.forward(tokens: turn, logits: .last).values
                for _ in 0..<c.chatReplyTokens { logits = try session.decode(Sampler.argmax(logits)) }
                if let rss = PeakMemory.currentResidentBytes() { turns.append(rss) }
            }
            rssByTurn = turns.isEmpty ? nil : turns
            chatCacheBytes = session.cacheBytes
        }
        var result = BenchResult(
            model: path, threads: pool.threadCount, promptTokens: c.promptTokens, genTokens: c.genTokens,
            prefillTokensPerSecond: Double(c.promptTokens) / best.prefill,
            decodeTokensPerSecond: Double(c.genTokens) / best.decode,
            peakRSSBytes: PeakMemory.residentBytes(), weightBytes: model.file.tensors.reduce(0) { $0 + $1.byteCount },
            adapterCount: c.adapters.count, adapterLoadSeconds: c.adapters.isEmpty ? nil : adapterLoadSeconds,
            adapterAttachSeconds: c.adapters.isEmpty ? nil : adapterAttachSeconds, adapterSwitchSeconds: switchSeconds,
            barePrefillTokensPerSecond: adapterSets.isEmpty ? nil : Double(c.promptTokens) / bare.prefill,
            bareDecodeTokensPerSecond: adapterSets.isEmpty ? nil : Double(c.genTokens) / bare.decode)
        result.chatRSSByTurnBytes = rssByTurn
        result.chatKVCacheBytes = chatCacheBytes
        return result
    }
}

/// What ``SpeedProbe`` measured. Its JSON (`loco bench --json`) uses the snake-case keys of
/// ``CodingKeys``, which scripts such as Benchmarks/inference_peer_bench.py read; the optional
/// figures are left out when there were no adapters.
public struct BenchResult: Sendable, Equatable, Codable {
    /// The model file.
    public var model: String
    public var threads: Int
    public var promptTokens: Int
    public var genTokens: Int
    /// Prompt tokens over the fastest prefill.
    public var prefillTokensPerSecond: Double
    /// Decoded tokens over the fastest decode.
    public var decodeTokensPerSecond: Double
    /// The process's peak resident set size at the end of the runs.
    public var peakRSSBytes: Int
    /// The bytes of the model's tensors.
    public var weightBytes: Int
    public var adapterCount: Int
    /// Reading the adapter files (all of them).
    public var adapterLoadSeconds: Double?
    /// Making one adapter set (checking it against the model, copying the factors).
    public var adapterAttachSeconds: Double?
    /// Swapping a live session's adapter set and forgetting its cache (median).
    public var adapterSwitchSeconds: Double?
    /// Without the adapters, measured in turn with the runs that have them (same conditions).
    public var barePrefillTokensPerSecond: Double?
    public var bareDecodeTokensPerSecond: Double?
    /// With ``SpeedProbe/Configuration/chatTurns``: the resident memory after each turn of the long
    /// conversation, and the bytes its KV cache held at the end (F16 keys and values at the
    /// cache's capacity, which doubles as the conversation grows).
    public var chatRSSByTurnBytes: [Int]?
    public var chatKVCacheBytes: Int?
    /// Resident memory after the last turn minus after the first (nil without a conversation).
    public var chatRSSDriftBytes: Int? {
        guard let turns = chatRSSByTurnBytes, let first = turns.first, let last = turns.last else { return nil }
        return last - first
    }
    /// The SIMD kernel set that ran (``KernelSet/running``).
    public var kernels: String
    /// The CPU's model name (``CPUInfo/modelName``).
    public var cpu: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case model, threads
        case promptTokens = "prompt_tokens"
        case genTokens = "gen_tokens"
        case prefillTokensPerSecond = "prefill_tokens_per_second"
        case decodeTokensPerSecond = "decode_tokens_per_second"
        case peakRSSBytes = "peak_rss_bytes"
        case weightBytes = "weight_bytes"
        case adapterCount = "adapter_count"
        case adapterLoadSeconds = "adapter_load_seconds"
        case adapterAttachSeconds = "adapter_attach_seconds"
        case adapterSwitchSeconds = "adapter_switch_seconds"
        case barePrefillTokensPerSecond = "bare_prefill_tokens_per_second"
        case bareDecodeTokensPerSecond = "bare_decode_tokens_per_second"
        case chatRSSByTurnBytes = "chat_rss_by_turn_bytes"
        case chatKVCacheBytes = "chat_kv_cache_bytes"
        case kernels, cpu
    }

    public init(
        model: String, threads: Int, promptTokens: Int, genTokens: Int, prefillTokensPerSecond: Double,
        decodeTokensPerSecond: Double, peakRSSBytes: Int, weightBytes: Int, adapterCount: Int = 0,
        adapterLoadSeconds: Double? = nil, adapterAttachSeconds: Double? = nil, adapterSwitchSeconds: Double? = nil,
        barePrefillTokensPerSecond: Double? = nil, bareDecodeTokensPerSecond: Double? = nil,
        kernels: String = KernelSet.running.rawValue, cpu: String = CPUInfo.modelName
    ) {
        self.model = model
        self.threads = threads
        self.promptTokens = promptTokens
        self.genTokens = genTokens
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond
        self.peakRSSBytes = peakRSSBytes
        self.weightBytes = weightBytes
        self.adapterCount = adapterCount
        self.adapterLoadSeconds = adapterLoadSeconds
        self.adapterAttachSeconds = adapterAttachSeconds
        self.adapterSwitchSeconds = adapterSwitchSeconds
        self.barePrefillTokensPerSecond = barePrefillTokensPerSecond
        self.bareDecodeTokensPerSecond = bareDecodeTokensPerSecond
        self.kernels = kernels
        self.cpu = cpu
    }

    /// The JSON `loco bench --json` prints: indented, keys sorted, slashes unescaped.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// The processor's model name, for benchmark reports ("unknown" where the system does not say).
public enum CPUInfo {
    /// The first `model name` (x86) or `Model` (ARM) line of /proc/cpuinfo.
    public static let modelName: String = modelName(cpuinfo: try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))

    /// The model name in the text of /proc/cpuinfo, or "unknown".
    public static func modelName(cpuinfo text: String?) -> String {
        guard let text else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") || line.hasPrefix("Model") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }
}
