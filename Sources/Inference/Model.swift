import GGUFFormat
import Tensor

/// A language model loaded from a GGUF file: configuration and weights, immutable and shared by
/// any number of ``Session``s (each with its own KV cache). Weights stay memory-mapped; only F16
/// and BF16 matrices are widened to F32 at load (see `WeightMatrix`).
///
/// ```swift
/// let model = try Model(contentsOf: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let session = model.makeSession()
/// let logits = try session.forward(tokens: [1, 2, 3])   // one row per position
/// let next = logits.argmax(position: 2)
/// ```
public final class Model: Sendable {
    public let configuration: ModelConfiguration
    /// Rows of the output layer: the logits of one position.
    public let vocabularySize: Int
    public let file: GGUFFile
    package let embedding: WeightMatrix
    package let layers: [DecoderLayer]
    package let outputNorm: [Float]
    package let output: WeightMatrix
    package let rotaryEmbedding: RotaryEmbedding
    /// The RoPE of sliding-window blocks when it differs (gemma3), else nil.
    package let localRotaryEmbedding: RotaryEmbedding?
    /// What each looked-up embedding row is multiplied by (gemma3: sqrt(width)), else nil.
    package let embeddingScale: Float?

    /// Maps and loads the model at `path`.
    public convenience init(contentsOf path: String) throws {
        try self.init(file: GGUFFile(contentsOf: path))
    }

    /// Loads the model in `file`; throws a ``ModelError`` naming the key or tensor that is
    /// missing, inconsistent or unsupported.
    public init(file: GGUFFile) throws {
        try KernelSet.validateEnvironment()
        let configuration: ModelConfiguration
        do {
            configuration = try ModelConfiguration(metadata: file.metadata)
        } catch var error as ModelError {
            error.path = file.path
            throw error
        }
        let architecture = configuration.architecture.definition
        let weights = WeightLoader(file: file)
        let width = configuration.embeddingLength
        guard let embeddingInfo = file.tensor(named: "token_embd.weight") else {
            throw ModelError(.missingTensor("token_embd.weight"), path: file.path)
        }
        let vocabularySize = embeddingInfo.shape.count >= 2 ? embeddingInfo.shape[1] : 0
        if let declared = file.metadata["\(configuration.architecture.rawValue).vocab_size"]?.integerValue,
           declared != Int64(vocabularySize) {
            throw ModelError(.inconsistent("\(configuration.architecture.rawValue).vocab_size \(declared) differs from token_embd.weight's \(vocabularySize) rows"), path: file.path)
        }
        embedding = try weights.matrix("token_embd.weight", columns: width, rows: vocabularySize)
        outputNorm = try weights.vector("output_norm.weight", length: width)
        output = weights.has("output.weight")
            ? try weights.matrix("output.weight", columns: width, rows: vocabularySize) : embedding
        rotaryEmbedding = try architecture.rotaryEmbedding(configuration, weights)
        localRotaryEmbedding = try architecture.localRotaryEmbedding(configuration, weights)
        embeddingScale = architecture.embeddingScale(configuration)
        layers = try (0..<configuration.blockCount).map { try architecture.layer($0, configuration, weights) }
        try weights.checkAllUsed(architecture: configuration.architecture.rawValue)
        self.configuration = configuration
        self.vocabularySize = vocabularySize
        self.file = file
    }

    /// A new session with an empty KV cache holding up to `contextLength` positions (default and
    /// maximum: the model's context length). `numerics: .llamaCpp` orders the float work as
    /// llama.cpp does, for bit-identical logits where that order is reproduced (slower).
    /// `cachePrecision` nil: the numerics' own (``KVCache/Precision/standard(for:)``: F16 for
    /// fast, as llama.cpp's default cache; F32 for llama-cpp, as its parity settings).
    public func makeSession(
        contextLength: Int? = nil, cachePrecision: KVCache.Precision? = nil, numerics: Numerics = .fast,
        pool: ComputePool = .shared
    ) -> Session {
        Session(model: self, contextLength: contextLength, cachePrecision: cachePrecision ?? .standard(for: numerics),
                numerics: numerics, pool: pool)
    }
}

/// What an architecture file says: its name, how positions are encoded and which tensors make a
/// block (and any configuration keys of its own). The registry (`Architectures.swift`) lists them.
protocol ArchitectureDefinition {
    static var name: ModelConfiguration.Architecture { get }
    /// Reads the architecture's own keys into `c` after the common ones (default none).
    static func readConfiguration(_ c: inout ModelConfiguration, metadata: GGUFMetadata) throws
    static func rotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding
    /// The RoPE of sliding-window blocks, when they have their own (default none).
    static func localRotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding?
    /// A factor on every embedding row looked up (default none).
    static func embeddingScale(_ c: ModelConfiguration) -> Float?
    static func layer(_ index: Int, _ c: ModelConfiguration, _ weights: WeightLoader) throws -> DecoderLayer
}

extension ArchitectureDefinition {
    static func readConfiguration(_ c: inout ModelConfiguration, metadata: GGUFMetadata) throws {}
    static func localRotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding? { nil }
    static func embeddingScale(_ c: ModelConfiguration) -> Float? { nil }
}
