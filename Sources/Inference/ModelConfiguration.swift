import GGUFFormat
import Tensor

/// The hyper-parameters of a decoder-only model, read from GGUF metadata under the
/// architecture's prefix (`llama.block_count`, `qwen3.attention.key_length`, ...) with llama.cpp's
/// defaults where it has them, and checked against each other.
public struct ModelConfiguration: Sendable, Equatable {
    /// An architecture this runtime runs, by its GGUF name (`general.architecture`): one of the
    /// registry's (`Architectures.swift`), each declared in its own file (`.llama`, `.qwen3`, ...).
    public struct Architecture: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        /// The architecture named `rawValue`, or nil when the registry has none of that name.
        public init?(rawValue: String) {
            guard architectureRegistry.contains(where: { $0.name.rawValue == rawValue }) else { return nil }
            self.rawValue = rawValue
        }

        /// For the declarations in the architecture files.
        init(registered name: String) { rawValue = name }

        /// Every architecture of the registry, in its order.
        public static var allCases: [Architecture] { architectureRegistry.map { $0.name } }

        public var description: String { rawValue }

        /// The architecture's file: its tensors, positions and configuration keys.
        var definition: any ArchitectureDefinition.Type { architectureRegistry.first { $0.name == self }! }
    }

    public var architecture: Architecture
    public var blockCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    /// Values per query/key head (`attention.key_length`; Qwen3's differs from width / heads).
    public var headDimension: Int
    /// Values of each head that RoPE rotates (`rope.dimension_count`, default the head dimension).
    public var ropeDimensions: Int
    public var ropeFrequencyBase: Float
    /// 1 / the linear RoPE scaling factor (1 without scaling).
    public var ropeFrequencyScale: Float
    public var rmsEpsilon: Float
    /// Positions the model was trained for; the KV cache holds at most this many.
    public var contextLength: Int
    /// Positions a query of a sliding-window layer sees: itself and the `slidingWindow - 1`
    /// before it (`attention.sliding_window`); nil when every layer sees the whole context.
    public var slidingWindow: Int?
    /// Which blocks use the sliding window (the others attend globally); all false without one.
    public var slidingWindowLayers: [Bool]
    /// The RoPE base of sliding-window layers (`rope.freq_base_swa`, llama.cpp's default 10000).
    public var localRopeFrequencyBase: Float
    /// What queries are multiplied by before the scores (1 / sqrt(head dimension) by default).
    public var attentionScale: Float
    /// `final_logit_softcapping`: logits become `cap * tanh(logit / cap)`; nil for none.
    public var finalLogitSoftcap: Float?

    /// Reads and checks the hyper-parameters in `metadata`.
    public init(metadata: GGUFMetadata) throws {
        guard case .string(let name)? = metadata[GGUFKey.architecture] else {
            throw ModelError(.missingArchitecture)
        }
        guard let architecture = Architecture(rawValue: name) else {
            throw ModelError(.unsupportedArchitecture(name))
        }
        let keys = Keys(metadata: metadata, prefix: name)
        self.architecture = architecture
        blockCount = try keys.count("block_count")
        embeddingLength = try keys.count("embedding_length")
        feedForwardLength = try keys.count("feed_forward_length")
        headCount = try keys.count("attention.head_count")
        kvHeadCount = try keys.count("attention.head_count_kv", default: headCount)
        guard embeddingLength % headCount == 0 || metadata.contains("\(name).attention.key_length") else {
            throw ModelError(.inconsistent("\(name).embedding_length \(embeddingLength) is not a multiple of \(name).attention.head_count \(headCount) and \(name).attention.key_length is missing"))
        }
        headDimension = try keys.count("attention.key_length", default: embeddingLength / headCount)
        let valueLength = try keys.count("attention.value_length", default: headDimension)
        ropeDimensions = try keys.count("rope.dimension_count", default: headDimension)
        ropeFrequencyBase = try keys.float("rope.freq_base", default: 10000)
        rmsEpsilon = try keys.float("attention.layer_norm_rms_epsilon", default: nil)
        contextLength = try keys.count("context_length")
        ropeFrequencyScale = try keys.ropeFrequencyScale()
        slidingWindow = nil
        slidingWindowLayers = Array(repeating: false, count: blockCount)
        localRopeFrequencyBase = ropeFrequencyBase
        attentionScale = 1 / Float(headDimension).squareRoot()
        finalLogitSoftcap = nil
        try architecture.definition.readConfiguration(&self, metadata: metadata)

        guard headCount % kvHeadCount == 0 else {
            throw ModelError(.inconsistent("\(name).attention.head_count \(headCount) is not a multiple of \(name).attention.head_count_kv \(kvHeadCount)"))
        }
        guard valueLength == headDimension else {
            throw ModelError(.inconsistent("\(name).attention.value_length \(valueLength) differs from \(name).attention.key_length \(headDimension)"))
        }
        guard ropeDimensions % 2 == 0, ropeDimensions <= headDimension else {
            throw ModelError(.inconsistent("\(name).rope.dimension_count \(ropeDimensions) must be even and at most the head dimension \(headDimension)"))
        }
        guard ropeFrequencyBase > 0, ropeFrequencyBase.isFinite else {
            throw ModelError(.invalidValue(key: "\(name).rope.freq_base", value: "\(ropeFrequencyBase)", expected: "a positive number"))
        }
        guard rmsEpsilon >= 0, rmsEpsilon.isFinite else {
            throw ModelError(.invalidValue(key: "\(name).attention.layer_norm_rms_epsilon", value: "\(rmsEpsilon)", expected: "a non-negative number"))
        }
    }

    /// llama.cpp's reading of Gemma 3 (`llama_model_gemma3::load_arch_hparams`): a sliding window
    /// on five of every six blocks (`attention.sliding_window_pattern`, a period or a per-block
    /// array of booleans), local RoPE base 10000 unless `rope.freq_base_swa` says otherwise, queries
    /// scaled by 1 / sqrt(head dimension) (1 / sqrt(width / heads) for the 62-block 27B).
    mutating func readGemma3(metadata: GGUFMetadata) throws {
        let name = architecture.rawValue
        let keys = Keys(metadata: metadata, prefix: name)
        if metadata.contains("\(name).attention.sliding_window") {
            let window = try keys.count("attention.sliding_window")
            slidingWindow = window
            localRopeFrequencyBase = try keys.float("rope.freq_base_swa", default: 10000)
            let patternKey = "\(name).attention.sliding_window_pattern"
            switch metadata[patternKey] {
            case .array(let array)?:
                guard array.count >= blockCount else {
                    throw ModelError(.invalidValue(key: patternKey, value: "\(array.count) entries", expected: "one per block (\(blockCount))"))
                }
                slidingWindowLayers = try array.values.prefix(blockCount).map {
                    guard case .bool(let b) = $0 else {
                        throw ModelError(.invalidValue(key: patternKey, value: "\($0)", expected: "an array of BOOL"))
                    }
                    return b
                }
            default:
                let period = try keys.count("attention.sliding_window_pattern", default: 6)
                slidingWindowLayers = (0..<blockCount).map { $0 % period < period - 1 }
            }
            guard localRopeFrequencyBase > 0, localRopeFrequencyBase.isFinite else {
                throw ModelError(.invalidValue(key: "\(name).rope.freq_base_swa", value: "\(localRopeFrequencyBase)", expected: "a positive number"))
            }
        }
        if blockCount == 62 {
            attentionScale = 1 / Float(embeddingLength / headCount).squareRoot()
        }
        if metadata.contains("\(name).final_logit_softcapping") {
            let cap = try keys.float("final_logit_softcapping", default: nil)
            if cap != 0 {
                guard cap > 0, cap.isFinite else {
                    throw ModelError(.invalidValue(key: "\(name).final_logit_softcapping", value: "\(cap)", expected: "a positive number"))
                }
                finalLogitSoftcap = cap
            }
        }
    }

    /// Values in one layer's queries (`headCount * headDimension`).
    public var queryWidth: Int { headCount * headDimension }
    /// Values in one layer's keys, and values (`kvHeadCount * headDimension`).
    public var keyValueWidth: Int { kvHeadCount * headDimension }

    /// Typed reads of `<architecture>.<key>`.
    private struct Keys {
        let metadata: GGUFMetadata
        let prefix: String

        func count(_ key: String, default fallback: Int? = nil) throws -> Int {
            let full = "\(prefix).\(key)"
            guard let value = metadata[full] else {
                if let fallback { return fallback }
                throw ModelError(.missingKey(full))
            }
            guard let integer = value.integerValue, integer > 0, integer <= Int64(Int32.max) else {
                throw ModelError(.invalidValue(key: full, value: "\(value)", expected: "a positive integer"))
            }
            return Int(integer)
        }

        func float(_ key: String, default fallback: Float?) throws -> Float {
            let full = "\(prefix).\(key)"
            guard let value = metadata[full] else {
                if let fallback { return fallback }
                throw ModelError(.missingKey(full))
            }
            guard let number = value.floatingValue else {
                throw ModelError(.invalidValue(key: full, value: "\(value)", expected: "a FLOAT32"))
            }
            return Float(number)
        }

        /// Linear scaling is a frequency scale; YaRN and LongRoPE change more than that and are
        /// refused rather than run wrongly.
        func ropeFrequencyScale() throws -> Float {
            let typeKey = "\(prefix).rope.scaling.type"
            let type: String
            switch metadata[typeKey] {
            case nil: type = metadata.contains("\(prefix).rope.scale_linear") ? "linear" : "none"
            case .string(let s)?: type = s
            case let other?: throw ModelError(.invalidValue(key: typeKey, value: "\(other)", expected: "a STRING"))
            }
            switch type {
            case "none": return 1
            case "linear":
                let factorKey = metadata.contains("\(prefix).rope.scaling.factor") ? "rope.scaling.factor" : "rope.scale_linear"
                let factor = try float(factorKey, default: 1)
                guard factor > 0, factor.isFinite else {
                    throw ModelError(.invalidValue(key: "\(prefix).\(factorKey)", value: "\(factor)", expected: "a positive number"))
                }
                return 1 / factor
            default:
                throw ModelError(.invalidValue(key: typeKey, value: "'\(type)'", expected: "'none' or 'linear' (YaRN and LongRoPE are not supported yet)"))
            }
        }
    }
}
