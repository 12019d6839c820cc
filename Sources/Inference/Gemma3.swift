import Foundation
import GGUFFormat
import Tensor

/// Gemma 3 text models (`general.architecture = gemma3`), as llama.cpp's `llm_build_gemma3_iswa`
/// runs them: token embeddings times sqrt(width); in each block RMSNorm, attention with per-head
/// RMSNorm of queries and keys before NEOX RoPE, RMSNorm of the attention output, residual add,
/// RMSNorm, a GeGLU feed-forward layer, RMSNorm of its output, residual add. Five of every six
/// blocks attend within a sliding window (512 positions for Gemma 3 270M) with RoPE base 10000;
/// the others attend globally with `rope.freq_base` (1e6). Gemma's RMSNorm `(1 + w)` is already in
/// the file's norm weights (the GGUF converter adds the 1). Queries are scaled by
/// 1 / sqrt(head dimension) (`ModelConfiguration.attentionScale`). The output layer is tied to
/// the embeddings.
enum Gemma3: ArchitectureDefinition {
    static let name = ModelConfiguration.Architecture.gemma3

    static func rotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding {
        RotaryEmbedding(style: .halves, dimensions: c.ropeDimensions, base: c.ropeFrequencyBase, frequencyScale: c.ropeFrequencyScale)
    }

    /// Sliding-window blocks rotate with `rope.freq_base_swa` and no frequency scaling, as
    /// llama.cpp's `get_rope_freq_base`/`get_rope_freq_scale` give them.
    static func localRotaryEmbedding(_ c: ModelConfiguration, _ weights: WeightLoader) throws -> RotaryEmbedding? {
        guard c.slidingWindow != nil else { return nil }
        return RotaryEmbedding(style: .halves, dimensions: c.ropeDimensions, base: c.localRopeFrequencyBase, frequencyScale: 1)
    }

    static func readConfiguration(_ c: inout ModelConfiguration, metadata: GGUFMetadata) throws {
        try c.readGemma3(metadata: metadata)
    }

    /// `ggml_scale(inpL, sqrtf(n_embd))` on the looked-up rows.
    static func embeddingScale(_ c: ModelConfiguration) -> Float? {
        sqrtf(Float(c.embeddingLength))
    }

    static func layer(_ index: Int, _ c: ModelConfiguration, _ weights: WeightLoader) throws -> DecoderLayer {
        let local = c.slidingWindow != nil && c.slidingWindowLayers[index]
        return try DecoderLayer(index: index, configuration: c, weights: weights, options: .init(
            queryKeyNorms: true, postNorms: true, activation: .geglu,
            window: local ? c.slidingWindow : nil, localRope: local))
    }
}

extension ModelConfiguration.Architecture {
    /// Gemma 3 (text): as qwen3 plus scaled embeddings, norms after attention and after the
    /// feed-forward layer, GeGLU, and sliding-window layers with their own RoPE base.
    public static let gemma3 = Self(registered: "gemma3")
}
