import Tensor

/// What one block's training forward keeps for its backward, for `capacity` packed positions.
package final class LayerActivations {
    package let capacity: Int
    package let input, normed, queries, keys, values, attention, middle, normed2, gate, up, hidden: FloatBuffer
    /// Queries and keys before their per-head RMSNorm (qwen3, gemma3).
    package let rawQueries, rawKeys: FloatBuffer?
    /// The attention's and the feed-forward layer's outputs before their post-norms (gemma3).
    package let attentionProjection, feedForwardProjection: FloatBuffer?
    package let probabilities: FloatBuffer

    package init(_ c: ModelConfiguration, capacity: Int, probabilityCount: Int, queryKeyNorms: Bool, postNorms: Bool) {
        self.capacity = capacity
        let w = c.embeddingLength, f = c.feedForwardLength
        input = FloatBuffer(count: capacity * w)
        normed = FloatBuffer(count: capacity * w)
        queries = FloatBuffer(count: capacity * c.queryWidth)
        keys = FloatBuffer(count: capacity * c.keyValueWidth)
        values = FloatBuffer(count: capacity * c.keyValueWidth)
        attention = FloatBuffer(count: capacity * c.queryWidth)
        middle = FloatBuffer(count: capacity * w)
        normed2 = FloatBuffer(count: capacity * w)
        gate = FloatBuffer(count: capacity * f)
        up = FloatBuffer(count: capacity * f)
        hidden = FloatBuffer(count: capacity * f)
        rawQueries = queryKeyNorms ? FloatBuffer(count: capacity * c.queryWidth) : nil
        rawKeys = queryKeyNorms ? FloatBuffer(count: capacity * c.keyValueWidth) : nil
        attentionProjection = postNorms ? FloatBuffer(count: capacity * w) : nil
        feedForwardProjection = postNorms ? FloatBuffer(count: capacity * w) : nil
        probabilities = FloatBuffer(count: probabilityCount)
    }
}

/// The packed positions of one training step: sequences one after another, each attending
/// only within itself, with each row's RoPE angles.
package struct PackedBatch {
    /// Start row and length of each sequence.
    package let spans: [(start: Int, length: Int)]
    package let rows: Int
    /// `rows` x `rope.dimensions` cosines and sines.
    package let angles: [Float]
    /// The same of the model's local RoPE, for its sliding-window blocks (gemma3), if it has one.
    package let localAngles: [Float]?

    package init(spans: [(start: Int, length: Int)], rows: Int, angles: [Float], localAngles: [Float]? = nil) {
        self.spans = spans
        self.rows = rows
        self.angles = angles
        self.localAngles = localAngles
    }

    /// Where sequence `s`'s attention probabilities start (heads x length x length per sequence).
    func probabilityOffset(_ s: Int, heads: Int) -> Int {
        spans[..<s].reduce(0) { $0 + heads * $1.length * $1.length }
    }
}

/// What a block's training forward and backward call for each projection being adapted (the
/// `Training` target's LoRA conforms): `output += delta(input)`, and its backward adding to the
/// input's gradient and to the adapter's parameter gradients. Nothing happens for a projection
/// the adapter does not touch.
package protocol TrainableAdaptation {
    func forward(layer: Int, target: AdapterSet.Target, input: UnsafePointer<Float>, count: Int,
                 into output: UnsafeMutablePointer<Float>, pool: ComputePool)
    func backward(layer: Int, target: AdapterSet.Target, input: UnsafePointer<Float>, count: Int,
                  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
                  gradients: UnsafeMutablePointer<Float>, pool: ComputePool)
}

/// The per-pass things every block's training forward and backward use.
package struct TrainingContext {
    let model: Model
    let adaptation: any TrainableAdaptation
    let panel: DequantizedPanel
    let pool: ComputePool
    /// Gradient scratch of the block's widest vectors, reused by every block's backward.
    let gradients: BlockGradients

    package init(model: Model, adaptation: any TrainableAdaptation, panel: DequantizedPanel, pool: ComputePool,
                 gradients: BlockGradients) {
        self.model = model
        self.adaptation = adaptation
        self.panel = panel
        self.pool = pool
        self.gradients = gradients
    }
}

/// Scratch for one block's backward.
package final class BlockGradients {
    let queries, keys, values, attention, normed, gate, up, rawQueries, rawKeys: FloatBuffer
    /// The gradient of a sublayer's output before its post-norm.
    let projection: FloatBuffer

    package init(_ c: ModelConfiguration, capacity: Int) {
        queries = FloatBuffer(count: capacity * c.queryWidth)
        keys = FloatBuffer(count: capacity * c.keyValueWidth)
        values = FloatBuffer(count: capacity * c.keyValueWidth)
        attention = FloatBuffer(count: capacity * c.queryWidth)
        normed = FloatBuffer(count: capacity * c.embeddingLength)
        gate = FloatBuffer(count: capacity * c.feedForwardLength)
        up = FloatBuffer(count: capacity * c.feedForwardLength)
        rawQueries = FloatBuffer(count: capacity * c.queryWidth)
        rawKeys = FloatBuffer(count: capacity * c.keyValueWidth)
        projection = FloatBuffer(count: capacity * c.embeddingLength)
    }
}

extension DecoderLayer {
    /// Whether the block normalizes each query and key head (qwen3, gemma3).
    package var hasQueryKeyNorms: Bool { queryNorm != nil }
    /// Whether the block normalizes each sublayer's output before its residual add (gemma3).
    package var hasPostNorms: Bool { postAttentionNorm != nil }

    /// The RoPE this block rotates with and its angle table in `batch`.
    private func rope(_ model: Model, _ batch: PackedBatch) -> (RotaryEmbedding, [Float]) {
        if options.localRope, let local = model.localRotaryEmbedding, let angles = batch.localAngles { return (local, angles) }
        return (model.rotaryEmbedding, batch.angles)
    }

    private func selfAttention(_ c: ModelConfiguration) -> CausalSelfAttention {
        CausalSelfAttention(heads: c.headCount, kvHeads: c.kvHeadCount, headDimension: c.headDimension, scale: c.attentionScale,
                            window: options.window)
    }

    /// The training forward of block `index` over the packed `batch`, in float (weights
    /// dequantized, see `WeightMatrix.floatMultiply`): reads `a.input`, fills the rest of `a`
    /// and writes the block's output to `output` (which may not be `a.input`).
    package func trainingForward(layer index: Int, batch: PackedBatch, a: LayerActivations, output: UnsafeMutablePointer<Float>,
                         context x: TrainingContext) {
        let c = x.model.configuration, n = batch.rows, width = c.embeddingLength, d = c.headDimension
        let pool = x.pool, panel = x.panel
        attentionNorm.withUnsafeBufferPointer { w in
            Self.rmsNorm(a.input.pointer, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: a.normed.pointer, pool: pool)
        }
        let q = a.rawQueries?.pointer ?? a.queries.pointer, k = a.rawKeys?.pointer ?? a.keys.pointer
        query.floatMultiply(a.normed.pointer, count: n, into: q, workspace: panel, pool: pool)
        key.floatMultiply(a.normed.pointer, count: n, into: k, workspace: panel, pool: pool)
        value.floatMultiply(a.normed.pointer, count: n, into: a.values.pointer, workspace: panel, pool: pool)
        adapt(index, .query, input: a.normed.pointer, rows: n, into: q, x)
        adapt(index, .key, input: a.normed.pointer, rows: n, into: k, x)
        adapt(index, .value, input: a.normed.pointer, rows: n, into: a.values.pointer, x)
        addBiases(q: q, k: k, v: a.values.pointer, rows: n, c)  // constants: nothing in the backward
        if let queryNorm, let keyNorm {
            queryNorm.withUnsafeBufferPointer { w in
                Self.rmsNorm(q, rows: n * c.headCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: a.queries.pointer, pool: pool)
            }
            keyNorm.withUnsafeBufferPointer { w in
                Self.rmsNorm(k, rows: n * c.kvHeadCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: a.keys.pointer, pool: pool)
            }
        }
        let (rope, angleTable) = rope(x.model, batch)
        angleTable.withUnsafeBufferPointer { angles in
            pool.forEachRange(n) { rows in for t in rows {
                let table = angles.baseAddress! + t * rope.dimensions
                rope.apply(a.queries.pointer + t * c.queryWidth, heads: c.headCount, headDimension: d, angles: table)
                rope.apply(a.keys.pointer + t * c.keyValueWidth, heads: c.kvHeadCount, headDimension: d, angles: table)
            } }
        }
        let attention = selfAttention(c)
        for (s, span) in batch.spans.enumerated() {
            attention.forward(queries: a.queries.pointer + span.start * c.queryWidth, keys: a.keys.pointer + span.start * c.keyValueWidth,
                              values: a.values.pointer + span.start * c.keyValueWidth, length: span.length,
                              probabilities: a.probabilities.pointer + batch.probabilityOffset(s, heads: c.headCount),
                              output: a.attention.pointer + span.start * c.queryWidth, pool: pool)
        }
        let projected = a.attentionProjection?.pointer ?? a.middle.pointer
        attentionOutput.floatMultiply(a.attention.pointer, count: n, into: projected, workspace: panel, pool: pool)
        adapt(index, .attentionOutput, input: a.attention.pointer, rows: n, into: projected, x)
        if let postAttentionNorm {
            postAttentionNorm.withUnsafeBufferPointer { w in
                Self.rmsNorm(projected, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: a.middle.pointer, pool: pool)
            }
        }
        Self.add(a.input.pointer, to: a.middle.pointer, count: n * width, pool: pool)

        feedForwardNorm.withUnsafeBufferPointer { w in
            Self.rmsNorm(a.middle.pointer, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: a.normed2.pointer, pool: pool)
        }
        gate.floatMultiply(a.normed2.pointer, count: n, into: a.gate.pointer, workspace: panel, pool: pool)
        up.floatMultiply(a.normed2.pointer, count: n, into: a.up.pointer, workspace: panel, pool: pool)
        adapt(index, .gate, input: a.normed2.pointer, rows: n, into: a.gate.pointer, x)
        adapt(index, .up, input: a.normed2.pointer, rows: n, into: a.up.pointer, x)
        let hidden = a.hidden.pointer, count = n * c.feedForwardLength
        let gatePointer = a.gate.pointer, upPointer = a.up.pointer
        let activation = options.activation
        pool.forEachRange(count) { part in
            (hidden + part.lowerBound).update(from: gatePointer + part.lowerBound, count: part.count)
            switch activation {
            case .swiglu: Activations.swiglu(gate: hidden + part.lowerBound, up: upPointer + part.lowerBound, count: part.count)
            case .geglu: Activations.gegluExact(gate: hidden + part.lowerBound, up: upPointer + part.lowerBound, count: part.count)
            }
        }
        let feedForward = a.feedForwardProjection?.pointer ?? output
        down.floatMultiply(hidden, count: n, into: feedForward, workspace: panel, pool: pool)
        adapt(index, .down, input: hidden, rows: n, into: feedForward, x)
        if let postFeedForwardNorm {
            postFeedForwardNorm.withUnsafeBufferPointer { w in
                Self.rmsNorm(feedForward, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: output, pool: pool)
            }
        }
        Self.add(a.middle.pointer, to: output, count: n * width, pool: pool)
    }

    /// The backward of ``trainingForward(layer:batch:a:output:context:)``: from the gradient of
    /// the block's output, adds the LoRA gradients of this block to `gradients` and writes the
    /// gradient of its input to `inputGradient` (which may be `outputGradient`).
    package func trainingBackward(layer index: Int, batch: PackedBatch, a: LayerActivations, outputGradient dOut: UnsafePointer<Float>,
                          inputGradient dIn: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                          context x: TrainingContext) {
        let c = x.model.configuration, n = batch.rows, width = c.embeddingLength, d = c.headDimension
        let pool = x.pool, panel = x.panel, g = x.gradients
        let f = c.feedForwardLength

        // Feed-forward: out = middle + post(down(act(gate(n2), up(n2)))), n2 = norm(middle), post
        // the post-norm where there is one.
        let dGate = g.gate.pointer, dUp = g.up.pointer
        var dFeedForward = dOut
        if let postFeedForwardNorm, let projected = a.feedForwardProjection {
            postFeedForwardNorm.withUnsafeBufferPointer { w in
                Self.rmsNormBackward(projected.pointer, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                     outputGradient: dOut, into: g.projection.pointer, accumulate: false, pool: pool)
            }
            dFeedForward = UnsafePointer(g.projection.pointer)
        }
        down.floatMultiplyTransposed(dFeedForward, count: n, into: dGate, accumulate: false, workspace: panel, pool: pool)
        adaptBackward(index, .down, input: a.hidden.pointer, rows: n, outputGradient: dFeedForward, inputGradient: dGate, gradients, x)
        let gatePointer = a.gate.pointer, upPointer = a.up.pointer
        let activation = options.activation
        pool.forEachRange(n * f) { part in
            let i = part.lowerBound
            switch activation {
            case .swiglu:
                Activations.swigluBackward(gate: gatePointer + i, up: upPointer + i, outputGradient: dGate + i, count: part.count,
                                           gateGradient: dGate + i, upGradient: dUp + i)
            case .geglu:
                Activations.gegluBackward(gate: gatePointer + i, up: upPointer + i, outputGradient: dGate + i, count: part.count,
                                          gateGradient: dGate + i, upGradient: dUp + i)
            }
        }
        let dNormed = g.normed.pointer
        gate.floatMultiplyTransposed(dGate, count: n, into: dNormed, accumulate: false, workspace: panel, pool: pool)
        up.floatMultiplyTransposed(dUp, count: n, into: dNormed, accumulate: true, workspace: panel, pool: pool)
        adaptBackward(index, .gate, input: a.normed2.pointer, rows: n, outputGradient: dGate, inputGradient: dNormed, gradients, x)
        adaptBackward(index, .up, input: a.normed2.pointer, rows: n, outputGradient: dUp, inputGradient: dNormed, gradients, x)
        // dMiddle = dOut + norm'(dNormed), kept in dIn.
        if UnsafePointer(dIn) != dOut { dIn.update(from: dOut, count: n * width) }
        feedForwardNorm.withUnsafeBufferPointer { w in
            Self.rmsNormBackward(a.middle.pointer, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                          outputGradient: dNormed, into: dIn, accumulate: true, pool: pool)
        }

        // Attention: middle = input + post(o(attention(q, k, v))).
        let dAttention = g.attention.pointer
        var dProjected = UnsafePointer(dIn)
        if let postAttentionNorm, let projected = a.attentionProjection {
            postAttentionNorm.withUnsafeBufferPointer { w in
                Self.rmsNormBackward(projected.pointer, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                     outputGradient: dIn, into: g.projection.pointer, accumulate: false, pool: pool)
            }
            dProjected = UnsafePointer(g.projection.pointer)
        }
        attentionOutput.floatMultiplyTransposed(dProjected, count: n, into: dAttention, accumulate: false, workspace: panel, pool: pool)
        adaptBackward(index, .attentionOutput, input: a.attention.pointer, rows: n, outputGradient: dProjected, inputGradient: dAttention,
                      gradients, x)
        let dq = g.queries.pointer, dk = g.keys.pointer, dv = g.values.pointer
        let attention = selfAttention(c)
        for (s, span) in batch.spans.enumerated() {
            let qOffset = span.start * c.queryWidth, kOffset = span.start * c.keyValueWidth
            attention.backward(queries: a.queries.pointer + qOffset, keys: a.keys.pointer + kOffset, values: a.values.pointer + kOffset,
                               length: span.length, probabilities: a.probabilities.pointer + batch.probabilityOffset(s, heads: c.headCount),
                               outputGradient: dAttention + qOffset, queryGradient: dq + qOffset, keyGradient: dk + kOffset,
                               valueGradient: dv + kOffset, pool: pool)
        }
        let (rope, angleTable) = rope(x.model, batch)
        angleTable.withUnsafeBufferPointer { angles in
            pool.forEachRange(n) { rows in for t in rows {
                let table = angles.baseAddress! + t * rope.dimensions
                rope.applyBackward(dq + t * c.queryWidth, heads: c.headCount, headDimension: d, angles: table)
                rope.applyBackward(dk + t * c.keyValueWidth, heads: c.kvHeadCount, headDimension: d, angles: table)
            } }
        }
        var dRawQ = dq, dRawK = dk
        if let queryNorm, let keyNorm, let rawQ = a.rawQueries, let rawK = a.rawKeys {
            dRawQ = g.rawQueries.pointer
            dRawK = g.rawKeys.pointer
            queryNorm.withUnsafeBufferPointer { w in
                Self.rmsNormBackward(rawQ.pointer, rows: n * c.headCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                              outputGradient: dq, into: dRawQ, accumulate: false, pool: pool)
            }
            keyNorm.withUnsafeBufferPointer { w in
                Self.rmsNormBackward(rawK.pointer, rows: n * c.kvHeadCount, width: d, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                              outputGradient: dk, into: dRawK, accumulate: false, pool: pool)
            }
        }
        query.floatMultiplyTransposed(dRawQ, count: n, into: dNormed, accumulate: false, workspace: panel, pool: pool)
        key.floatMultiplyTransposed(dRawK, count: n, into: dNormed, accumulate: true, workspace: panel, pool: pool)
        value.floatMultiplyTransposed(dv, count: n, into: dNormed, accumulate: true, workspace: panel, pool: pool)
        adaptBackward(index, .query, input: a.normed.pointer, rows: n, outputGradient: dRawQ, inputGradient: dNormed, gradients, x)
        adaptBackward(index, .key, input: a.normed.pointer, rows: n, outputGradient: dRawK, inputGradient: dNormed, gradients, x)
        adaptBackward(index, .value, input: a.normed.pointer, rows: n, outputGradient: dv, inputGradient: dNormed, gradients, x)
        attentionNorm.withUnsafeBufferPointer { w in
            Self.rmsNormBackward(a.input.pointer, rows: n, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                          outputGradient: dNormed, into: dIn, accumulate: true, pool: pool)
        }
    }

    // Row-parallel forms of the elementwise ops.

    static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>, epsilon: Float,
                        into y: UnsafeMutablePointer<Float>, pool: ComputePool) {
        pool.forEachRange(rows) { part in
            Normalization.rmsNorm(x + part.lowerBound * width, rows: part.count, width: width, weight: weight, epsilon: epsilon,
                                  into: y + part.lowerBound * width)
        }
    }

    static func rmsNormBackward(_ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>, epsilon: Float,
                                outputGradient dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                                pool: ComputePool) {
        pool.forEachRange(rows) { part in
            let offset = part.lowerBound * width
            Normalization.rmsNormBackward(x + offset, rows: part.count, width: width, weight: weight, epsilon: epsilon,
                                          outputGradient: dy + offset, into: dx + offset, accumulate: accumulate)
        }
    }

    static func add(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int, pool: ComputePool) {
        pool.forEachRange(count) { part in for i in part { y[i] += x[i] } }
    }

    private func adapt(_ layer: Int, _ target: AdapterSet.Target, input: UnsafePointer<Float>, rows: Int,
                       into output: UnsafeMutablePointer<Float>, _ x: TrainingContext) {
        x.adaptation.forward(layer: layer, target: target, input: input, count: rows, into: output, pool: x.pool)
    }

    private func adaptBackward(_ layer: Int, _ target: AdapterSet.Target, input: UnsafePointer<Float>, rows: Int,
                               outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
                               _ gradients: UnsafeMutablePointer<Float>, _ x: TrainingContext) {
        x.adaptation.backward(layer: layer, target: target, input: input, count: rows, outputGradient: outputGradient,
                              inputGradient: inputGradient, gradients: gradients, pool: x.pool)
    }
}
