import Tensor

/// Qwen2 and Qwen2.5 dense models (`general.architecture = qwen2`): the llama block with a bias
/// on the query, key and value projections (`attn_q.bias`, `attn_k.bias`, `attn_v.bias`, added
/// after any adapter's delta, as llama.cpp adds them after `build_lora_mm`), and RoPE on NEOX
/// pairs `(i, i + d/2)`. Output tied to the embeddings when `output.weight` is absent.
enum Qwen2: ArchitectureDefinition {
    static let name = ModelConfiguration.Architecture.qwen2

    static func rotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding {
        RotaryEmbedding(style: .halves, dimensions: c.ropeDimensions, base: c.ropeFrequencyBase, frequencyScale: c.ropeFrequencyScale)
    }

    static func layer(_ index: Int, _ c: ModelConfiguration, _ weights: WeightLoader) throws -> DecoderLayer {
        try DecoderLayer(index: index, configuration: c, weights: weights, options: .init(queryKeyValueBiases: true))
    }
}

extension ModelConfiguration.Architecture {
    /// Qwen2 and Qwen2.5 (dense): as llama with biases on Q, K and V and NEOX RoPE.
    public static let qwen2 = Self(registered: "qwen2")
}
