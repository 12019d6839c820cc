import Tensor

/// Qwen3 dense models (`general.architecture = qwen3`): the llama block plus a per-head RMSNorm
/// of queries and keys (`attn_q_norm`, `attn_k_norm`, `key_length` values each) before RoPE,
/// which rotates NEOX pairs `(i, i + d/2)`; no biases. The head dimension comes from
/// `qwen3.attention.key_length` (Qwen3-0.6B: 128, while width / heads = 64).
enum Qwen3: ArchitectureDefinition {
    static let name = ModelConfiguration.Architecture.qwen3

    static func rotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding {
        RotaryEmbedding(style: .halves, dimensions: c.ropeDimensions, base: c.ropeFrequencyBase, frequencyScale: c.ropeFrequencyScale)
    }

    static func layer(_ index: Int, _ c: ModelConfiguration, _ weights: WeightLoader) throws -> DecoderLayer {
        try DecoderLayer(index: index, configuration: c, weights: weights, options: .init(queryKeyNorms: true))
    }
}

extension ModelConfiguration.Architecture {
    /// Qwen3 (dense): as llama plus per-head RMSNorm of Q and K before NEOX RoPE.
    public static let qwen3 = Self(registered: "qwen3")
}
