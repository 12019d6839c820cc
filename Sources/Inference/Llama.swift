import Tensor

/// Llama 2 / 3.x and SmolLM2 (`general.architecture = llama`): RMSNorm, RoPE on interleaved
/// pairs (the GGUF converter permuted Q and K for it), grouped-query attention, SwiGLU; the
/// output layer is tied to the embeddings when `output.weight` is absent. Llama 3's
/// `rope_freqs.weight`, when present, divides the RoPE angles per pair.
enum Llama: ArchitectureDefinition {
    static let name = ModelConfiguration.Architecture.llama

    static func rotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding {
        let factors = weights.has("rope_freqs.weight")
            ? try weights.vector("rope_freqs.weight", length: c.ropeDimensions / 2) : nil
        return RotaryEmbedding(style: .interleaved, dimensions: c.ropeDimensions, base: c.ropeFrequencyBase,
                               frequencyScale: c.ropeFrequencyScale, frequencyFactors: factors)
    }

    static func layer(_ index: Int, _ c: ModelConfiguration, _ weights: WeightLoader) throws -> DecoderLayer {
        try DecoderLayer(index: index, configuration: c, weights: weights, options: .init())
    }
}

extension ModelConfiguration.Architecture {
    /// Llama 2/3.x, SmolLM2: RMSNorm, interleaved RoPE, GQA, SwiGLU.
    public static let llama = Self(registered: "llama")
}
