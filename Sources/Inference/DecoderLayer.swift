import Tensor

/// One pre-norm decoder block of the llama family (llama, qwen3, qwen2, gemma3, bitnet): RMSNorm, attention with
/// grouped-query heads and RoPE (plus, for qwen3 and gemma3, RMSNorm of each query and key head
/// before RoPE; for gemma3's sliding-window blocks, a window and a RoPE base of their own), a
/// residual add, RMSNorm, a gated feed-forward layer (SwiGLU, or GeGLU for gemma3), a residual
/// add; gemma3 also normalizes each sublayer's output before its residual add, bitnet the attention
/// heads' output and the activation before their projections. Every projection
/// adds the session's adapter deltas on it (``AdapterSet``), if any.
package struct DecoderLayer: Sendable {
    /// The gate's activation in the feed-forward layer.
    package enum Activation: Sendable {
        /// `silu(gate) * up` (llama, qwen3).
        case swiglu
        /// `gelu_tanh(gate) * up` (gemma), through ggml's F16 GELU table as llama.cpp computes it.
        case geglu
    }

    /// What varies between the architectures' blocks.
    package struct Options: Sendable {
        var queryKeyNorms = false
        /// A bias on the query, key and value projections (qwen2).
        var queryKeyValueBiases = false
        /// RMSNorm of the attention output and of the feed-forward output before each residual
        /// add (`post_attention_norm`, `post_ffw_norm`).
        var postNorms = false
        var activation = Activation.swiglu
        /// Positions a query sees (itself included), nil for the whole context.
        var window: Int?
        /// Whether RoPE uses the model's local (sliding-window) embedding.
        var localRope = false
        /// RMSNorm of the attention heads' output before the output projection and of the
        /// activation before the down projection (`attn_sub_norm`, `ffn_sub_norm`: bitnet).
        var subNorms = false
        /// Optional per-tensor factors on the projections' outputs (`attn_q.scale`, ...,
        /// `ffn_down.scale`, one float each: bitnet). Where an adapter sits on the same weight,
        /// the order is the peer's (llama-cpp-python 0.3.36), found by adapting one projection
        /// at a time: q, k, v, the attention output and down are scaled before the adapter's
        /// delta is added (`build_lora_mm(w, x, w_s)`), gate and up after it (`build_ffn`
        /// multiplies by the scale after its `build_lora_mm`). Checked by `ReleaseAdapterParityTests`.
        var outputScales = false
    }

    /// The projections an output scale may sit on.
    package enum Projection: Sendable, CaseIterable {
        case query, key, value, attentionOutput, gate, up, down

        var tensor: String {
            switch self {
            case .query: "attn_q"
            case .key: "attn_k"
            case .value: "attn_v"
            case .attentionOutput: "attn_output"
            case .gate: "ffn_gate"
            case .up: "ffn_up"
            case .down: "ffn_down"
            }
        }
    }

    var attentionNorm: [Float]
    var query: WeightMatrix
    var key: WeightMatrix
    var value: WeightMatrix
    var attentionOutput: WeightMatrix
    /// Per-head RMSNorm weights of queries and keys (qwen3), `headDimension` values each.
    var queryNorm: [Float]?
    var keyNorm: [Float]?
    /// Biases of the query, key and value projections (qwen2).
    var queryBias: [Float]?
    var keyBias: [Float]?
    var valueBias: [Float]?
    var feedForwardNorm: [Float]
    var gate: WeightMatrix
    var up: WeightMatrix
    var down: WeightMatrix
    var postAttentionNorm: [Float]?
    var postFeedForwardNorm: [Float]?
    /// bitnet's sub-norms: `queryWidth` and `feedForwardLength` values.
    var attentionSubNorm: [Float]?
    var feedForwardSubNorm: [Float]?
    /// bitnet's per-tensor output factors, for the projections whose file has one.
    var outputScales: [Projection: Float] = [:]
    let options: Options

    /// The standard tensors of block `index`: `blk.N.attn_norm`, `attn_q`, `attn_k`, `attn_v`,
    /// `attn_output`, `ffn_norm`, `ffn_gate`, `ffn_up`, `ffn_down`, and those `options` ask for.
    init(index: Int, configuration c: ModelConfiguration, weights: WeightLoader, options: Options) throws {
        self.options = options
        let p = "blk.\(index)."
        let width = c.embeddingLength
        attentionNorm = try weights.vector(p + "attn_norm.weight", length: width)
        query = try weights.matrix(p + "attn_q.weight", columns: width, rows: c.queryWidth)
        key = try weights.matrix(p + "attn_k.weight", columns: width, rows: c.keyValueWidth)
        value = try weights.matrix(p + "attn_v.weight", columns: width, rows: c.keyValueWidth)
        attentionOutput = try weights.matrix(p + "attn_output.weight", columns: c.queryWidth, rows: width)
        if options.queryKeyValueBiases {
            queryBias = try weights.vector(p + "attn_q.bias", length: c.queryWidth)
            keyBias = try weights.vector(p + "attn_k.bias", length: c.keyValueWidth)
            valueBias = try weights.vector(p + "attn_v.bias", length: c.keyValueWidth)
        }
        if options.queryKeyNorms {
            queryNorm = try weights.vector(p + "attn_q_norm.weight", length: c.headDimension)
            keyNorm = try weights.vector(p + "attn_k_norm.weight", length: c.headDimension)
        }
        feedForwardNorm = try weights.vector(p + "ffn_norm.weight", length: width)
        gate = try weights.matrix(p + "ffn_gate.weight", columns: width, rows: c.feedForwardLength)
        up = try weights.matrix(p + "ffn_up.weight", columns: width, rows: c.feedForwardLength)
        down = try weights.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: width)
        if options.postNorms {
            postAttentionNorm = try weights.vector(p + "post_attention_norm.weight", length: width)
            postFeedForwardNorm = try weights.vector(p + "post_ffw_norm.weight", length: width)
        }
        if options.subNorms {
            attentionSubNorm = try weights.vector(p + "attn_sub_norm.weight", length: c.queryWidth)
            feedForwardSubNorm = try weights.vector(p + "ffn_sub_norm.weight", length: c.feedForwardLength)
        }
        if options.outputScales {
            for projection in Projection.allCases where weights.has(p + projection.tensor + ".scale") {
                outputScales[projection] = try weights.vector(p + projection.tensor + ".scale", length: 1)[0]
            }
        }
    }

    /// Multiplies `count` values of a projection's output by its scale, if it has one.
    private func scale(_ x: UnsafeMutablePointer<Float>, count: Int, _ projection: Projection) {
        guard let factor = outputScales[projection] else { return }
        for i in 0..<count { x[i] *= factor }
    }

    /// The RMSNorm of `n` rows of `width` in place with `weight`, if any (the post-norms and
    /// the sub-norms).
    private func normalize(_ x: UnsafeMutablePointer<Float>, rows n: Int, width: Int, _ weight: [Float]?, _ c: ModelConfiguration) {
        weight?.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(x, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: x)
        }
    }

    /// Adds the query, key and value biases, if any, to `rows` rows of each.
    func addBiases(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, rows: Int,
                   _ c: ModelConfiguration) {
        for (bias, x, width) in [(queryBias, q, c.queryWidth), (keyBias, k, c.keyValueWidth), (valueBias, v, c.keyValueWidth)] {
            guard let bias else { continue }
            for r in 0..<rows {
                let row = x + r * width
                for i in 0..<width { row[i] += bias[i] }
            }
        }
    }

    /// Runs the block on `count` positions starting at `start`: reads and updates
    /// `state.hidden`, stores this layer's keys and values in the cache.
    ///
    /// With `segments`, the rows belong to several sequences instead: segment `s` is the next
    /// `count` rows, at positions from `start` in its own cache (batched decoding: every product
    /// takes all rows at once, each sequence attends only to its own cache).
    ///
    /// With `outputRows` (the last block, when only some rows' logits are wanted), only those
    /// rows continue after attention: they are moved to the front of `state.hidden`, in order, and
    /// the feed-forward layer runs on them alone, as llama.cpp's graph selects `inp_out_ids` there.
    /// (Besides saving the work, that keeps the products' kernels, and so their float order,
    /// the ones llama.cpp runs for that many rows.)
    func forward(layer index: Int, count: Int, start: Int, model: Model, state: ForwardState, segments: [CacheSegment]? = nil,
                 outputRows: [Int]? = nil) {
        var n = count
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
        scale(q, count: n * c.queryWidth, .query)
        scale(k, count: n * c.keyValueWidth, .key)
        scale(v, count: n * c.keyValueWidth, .value)
        state.addDeltas({ $0.deltas(layer: index, .query) }, input: normed, count: n, into: q)
        state.addDeltas({ $0.deltas(layer: index, .key) }, input: normed, count: n, into: k)
        state.addDeltas({ $0.deltas(layer: index, .value) }, input: normed, count: n, into: v)
        addBiases(q: q, k: k, v: v, rows: n, c)
        if let queryNorm, let keyNorm {
            queryNorm.withUnsafeBufferPointer { w in
                Normalization.rmsNorm(q, rows: n * c.headCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: q)
            }
            keyNorm.withUnsafeBufferPointer { w in
                Normalization.rmsNorm(k, rows: n * c.kvHeadCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: k)
            }
        }
        let rope = options.localRope ? model.localRotaryEmbedding ?? model.rotaryEmbedding : model.rotaryEmbedding
        let table = options.localRope ? state.localAngles.pointer : state.angles.pointer
        for t in 0..<n {
            let angles = table + t * rope.dimensions
            rope.apply(q + t * c.queryWidth, heads: c.headCount, headDimension: d, angles: angles)
            rope.apply(k + t * c.keyValueWidth, heads: c.kvHeadCount, headDimension: d, angles: angles)
        }
        var row = 0
        for segment in segments ?? [CacheSegment(cache: state.cache, start: start, count: n)] {
            segment.cache.store(layer: index, keys: k + row * c.keyValueWidth, values: v + row * c.keyValueWidth,
                                at: segment.start, count: segment.count)
            Attention.causal(queries: q + row * c.queryWidth, count: segment.count, start: segment.start, heads: c.headCount,
                             cache: segment.cache, layer: index, scale: c.attentionScale, window: options.window,
                             into: state.attention.pointer + row * c.queryWidth,
                             workspace: state.attentionWorkspace, numerics: numerics, pool: pool)
            row += segment.count
        }
        normalize(state.attention.pointer, rows: n, width: c.queryWidth, attentionSubNorm, c)
        attentionOutput.multiply(state.attention.pointer, count: n, into: state.projection.pointer, workspace: state.matmul,
                                 numerics: numerics, pool: pool)
        scale(state.projection.pointer, count: n * width, .attentionOutput)
        state.addDeltas({ $0.deltas(layer: index, .attentionOutput) }, input: state.attention.pointer, count: n,
                        into: state.projection.pointer)
        normalize(state.projection.pointer, rows: n, width: width, postAttentionNorm, c)
        add(state.projection.pointer, to: hidden, count: n * width)
        if let outputRows {
            for (i, r) in outputRows.enumerated() where i != r {
                (hidden + i * width).update(from: hidden + r * width, count: width)
            }
            n = outputRows.count
            if n == 0 { return }
        }

        feedForwardNorm.withUnsafeBufferPointer { w in
            Normalization.rmsNorm(hidden, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: normed)
        }
        let g = state.gate.pointer, u = state.up.pointer
        WeightMatrix.multiply([.init(gate, g), .init(up, u)], input: normed, count: n, workspace: state.matmul,
                              numerics: numerics, pool: pool)
        state.addDeltas({ $0.deltas(layer: index, .gate) }, input: normed, count: n, into: g)
        state.addDeltas({ $0.deltas(layer: index, .up) }, input: normed, count: n, into: u)
        scale(g, count: n * c.feedForwardLength, .gate)
        scale(u, count: n * c.feedForwardLength, .up)
        switch options.activation {
        case .swiglu: Activations.swiglu(gate: g, up: u, count: n * c.feedForwardLength, numerics: numerics)
        case .geglu: Activations.geglu(gate: g, up: u, count: n * c.feedForwardLength, pool: pool)
        }
        normalize(g, rows: n, width: c.feedForwardLength, feedForwardSubNorm, c)
        down.multiply(g, count: n, into: state.projection.pointer, workspace: state.matmul, numerics: numerics, pool: pool)
        scale(state.projection.pointer, count: n * width, .down)
        state.addDeltas({ $0.deltas(layer: index, .down) }, input: g, count: n, into: state.projection.pointer)
        normalize(state.projection.pointer, rows: n, width: width, postFeedForwardNorm, c)
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
