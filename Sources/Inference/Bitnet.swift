import Tensor

/// BitNet b1.58 (`general.architecture = bitnet`), as llama.cpp's `llama_model_bitnet` runs it:
/// the llama block on NEOX RoPE with an RMSNorm of the attention heads' output before the output
/// projection (`attn_sub_norm`) and of the SwiGLU activation before the down projection
/// (`ffn_sub_norm`), optional per-tensor factors on the projections (`attn_q.scale`, ...), and the
/// output layer tied to the embeddings. Its ternary weights come as TQ1_0 or TQ2_0 (or any type a
/// converter chose); the block does not care.
enum Bitnet: ArchitectureDefinition {
    static let name = ModelConfiguration.Architecture.bitnet

    static func rotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding {
        RotaryEmbedding(style: .halves, dimensions: c.ropeDimensions, base: c.ropeFrequencyBase, frequencyScale: c.ropeFrequencyScale)
    }

    static func layer(_ index: Int, _ c: ModelConfiguration, _ weights: WeightLoader) throws -> DecoderLayer {
        try DecoderLayer(index: index, configuration: c, weights: weights, options: .init(subNorms: true, outputScales: true))
    }
}

extension ModelConfiguration.Architecture {
    /// BitNet b1.58: as llama with NEOX RoPE, RMSNorms before the attention output and down
    /// projections, and optional per-tensor factors on the projections.
    public static let bitnet = Self(registered: "bitnet")
}
