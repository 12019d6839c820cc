import Tensor

/// One pre-norm decoder block of the llama family (llama, qwen3): RMSNorm, attention with
/// grouped-query heads and RoPE (plus, for qwen3, RMSNorm of each query and key head before
/// RoPE), a residual add, RMSNorm, a SwiGLU feed-forward layer, a residual add. Every projection
/// adds the session's adapter deltas on it (``AdapterSet``), if any.
package struct DecoderLayer: Sendable {
    var attentionNorm: [Float]
    var query: WeightMatrix
    var key: WeightMatrix
    var value: WeightMatrix
    var attentionOutput: WeightMatrix
    /// Per-head RMSNorm weights of queries and keys (qwen3), `headDimension` values each.
    var queryNorm: [Float]?
    var keyNorm: [Float]?
    var feedForwardNorm: [Float]
    var gate: WeightMatrix
    var up: WeightMatrix
    var down: WeightMatrix

    /// The standard tensors of block `index`: `blk.N.attn_norm`, `attn_q`, `attn_k`, `attn_v`,
    /// `attn_output`, `ffn_norm`, `ffn_gate`, `ffn_up`, `ffn_down`.
    init(index: Int, configuration c: ModelConfiguration, weights: WeightLoader, queryKeyNorms: Bool) throws {
        let p = "blk.\(index)."
        let width = c.embeddingLength
        attentionNorm = try weights.vector(p + "attn_norm.weight", length: width)
        query = try weights.matrix(p + "attn_q.weight", columns: width, rows: c.queryWidth)
        key = try weights.matrix(p + "attn_k.weight", columns: width, rows: c.keyValueWidth)
        value = try weights.matrix(p + "attn_v.weight", columns: width, rows: c.keyValueWidth)
        attentionOutput = try weights.matrix(p + "attn_output.weight", columns: c.queryWidth, rows: width)
        if queryKeyNorms {
            queryNorm = try weights.vector(p + "attn_q_norm.weight", length: c.headDimension)
            keyNorm = try weights.vector(p + "attn_k_norm.weight", length: c.headDimension)
        }
        feedForwardNorm = try weights.vector(p + "ffn_norm.weight", length: width)
        gate = try weights.matrix(p + "ffn_gate.weight", columns: width, rows: c.feedForwardLength)
        up = try weights.matrix(p + "ffn_up.weight", columns: width, rows: c.feedForwardLength)
        down = try weights.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: width)
    }

    /// Runs the block on `count` positions starting at `start`: reads and updates
    /// `state.hidden`, stores this layer's keys and values in the cache.
    ///
    /// With `segments`, the rows belong to several sequences instead: segment `s` is the next
    /// `count` rows, at positions from `start` in its own cache (batched decoding: every product
    /// takes all rows at once, each sequence attends only to its own cache).
    func forward(layer index: Int, count n: Int, start: Int, model: Model, state: ForwardState, segments: [CacheSegment]? = nil) {
        let c = model.configuration
        let pool = state.pool, numerics = state.numerics
        let hidden = state.hidden.pointer, normed = state.normed.pointer
        let q = state.queries.pointer, k = state.keys.pointer, v = state.values.pointer
        let width = c.embeddingLength, d = c.headDimension

        attentionNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(hidden, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: normed)
        }
        WeightMatrix.multiply([.init(query, q), .init(key, k), .init(value, v)], input: normed, count: n,
                              workspace: state.matmul, numerics: numerics, pool: pool)
        if let adapters = state.adapters {
            AdapterSet.apply(adapters.deltas(layer: index, .query), input: normed, count: n, into: q, numerics: numerics)
            AdapterSet.apply(adapters.deltas(layer: index, .key), input: normed, count: n, into: k, numerics: numerics)
            AdapterSet.apply(adapters.deltas(layer: index, .value), input: normed, count: n, into: v, numerics: numerics)
        }
        if let queryNorm, let keyNorm {
            queryNorm.withUnsafeBufferPointer { w in
                Normalization.rmsNorm(q, rows: n * c.headCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: q)
            }
            keyNorm.withUnsafeBufferPointer { w in
                Normalization.rmsNorm(k, rows: n * c.kvHeadCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: k)
            }
        }
        let rope = model.rotaryEmbedding
        for t in 0..<n {
            let angles = state.angles.pointer + t * rope.dimensions
            rope.apply(q + t * c.queryWidth, heads: c.headCount, headDimension: d, angles: angles)
            rope.apply(k + t * c.keyValueWidth, heads: c.kvHeadCount, headDimension: d, angles: angles)
        }
        var row = 0
        for segment in segments ?? [CacheSegment(cache: state.cache, start: start, count: n)] {
            segment.cache.store(layer: index, keys: k + row * c.keyValueWidth, values: v + row * c.keyValueWidth,
                                at: segment.start, count: segment.count)
            Attention.causal(queries: q + row * c.queryWidth, count: segment.count, start: segment.start, heads: c.headCount,
                             cache: segment.cache, layer: index, scale: 1 / Float(d).squareRoot(),
                             into: state.attention.pointer + row * c.queryWidth,
                             workspace: state.attentionWorkspace, numerics: numerics, pool: pool)
            row += segment.count
        }
        attentionOutput.multiply(state.attention.pointer, count: n, into: state.projection.pointer, workspace: state.matmul,
                                 numerics: numerics, pool: pool)
        if let adapters = state.adapters {
            AdapterSet.apply(adapters.deltas(layer: index, .attentionOutput), input: state.attention.pointer, count: n,
                             into: state.projection.pointer, numerics: numerics)
        }
        add(state.projection.pointer, to: hidden, count: n * width)

        feedForwardNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(hidden, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: normed)
        }
        let g = state.gate.pointer, u = state.up.pointer
        WeightMatrix.multiply([.init(gate, g), .init(up, u)], input: normed, count: n, workspace: state.matmul,
                              numerics: numerics, pool: pool)
        if let adapters = state.adapters {
            AdapterSet.apply(adapters.deltas(layer: index, .gate), input: normed, count: n, into: g, numerics: numerics)
            AdapterSet.apply(adapters.deltas(layer: index, .up), input: normed, count: n, into: u, numerics: numerics)
        }
        Activations.swiglu(gate: g, up: u, count: n * c.feedForwardLength, numerics: numerics)
        down.multiply(g, count: n, into: state.projection.pointer, workspace: state.matmul, numerics: numerics, pool: pool)
        if let adapters = state.adapters {
            AdapterSet.apply(adapters.deltas(layer: index, .down), input: g, count: n, into: state.projection.pointer, numerics: numerics)
        }
        add(state.projection.pointer, to: hidden, count: n * width)
    }

    private func add(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }
}

/// Rows of a batched pass that belong to one sequence: `count` positions from `start` in `cache`.
struct CacheSegment {
    let cache: KVCache
    let start: Int
    let count: Int
}
