import CKernels
import Foundation
import Inference
import Tensor
import Adapters
import LocoSupport

/// The forward and backward of a ``Model`` for training LoRA weights over it: the base stays
/// frozen in its file's (quantized) form; the function differentiated is the model in float with
/// each weight matrix dequantized (QLoRA's), and every op's backward is the exact derivative of
/// the forward it sits beside (`DecoderLayer+Training.swift`, `Tensor/Backward.swift`).
///
/// A pass packs its examples one after another (no padding: each attends only within itself),
/// computes the next-token cross-entropy at the positions an example marks as trained, and adds
/// the gradient of `lossScale` times the summed loss to a gradient vector laid out like
/// ``TrainableLoRA/parameters``. Not thread-safe; its buffers are reused from pass to pass. The
/// matrix products and attention heads run on the pool.
///
/// ```swift
/// let graph = TrainingGraph(model: model)
/// var lora = try TrainableLoRA(model: model, targets: [.query, .value], rank: 8, alpha: 16, seed: 1)
/// var gradients = [Float](repeating: 0, count: lora.parameters.count)
/// let loss = try graph.accumulateGradients([example], lora: lora, into: &gradients, lossScale: 1)
/// ```
public final class TrainingGraph: @unchecked Sendable {
    /// One training sequence: its tokens and, for each, whether predicting it (from the
    /// position before) counts in the loss. `trained[0]` is ignored: nothing predicts it.
    public struct Example: Sendable, Hashable {
        public var tokens: [Int]
        public var trained: [Bool]

        public init(tokens: [Int], trained: [Bool]) {
            self.tokens = tokens
            self.trained = trained
        }

        /// Positions whose prediction counts in the loss.
        public var trainedCount: Int { trained.indices.dropFirst().filter { trained[$0] }.count }
    }

    /// A summed loss and the number of predictions summed.
    public struct Loss: Sendable, Equatable {
        public var sum: Double
        public var tokens: Int
        public var mean: Double { tokens > 0 ? sum / Double(tokens) : 0 }

        public init(sum: Double = 0, tokens: Int = 0) {
            self.sum = sum
            self.tokens = tokens
        }
    }

    public let model: Model
    /// Keep only each block's input during the forward and recompute the block before its
    /// backward (gradient checkpointing): activation memory of one block instead of all, for
    /// about a third more arithmetic.
    public let checkpointing: Bool
    public let pool: ComputePool
    private let panel: DequantizedPanel
    private let scratch = LoRAScratch()
    private var stored: (rows: Int, probabilities: Int, layers: [LayerActivations], inputs: [FloatBuffer], gradients: BlockGradients)?

    /// Bytes of logits a pass holds at once (chunks of trained positions).
    static let logitsBudget = 256 << 20

    /// `floatCacheBytes`: quantized matrices are dequantized once and kept in F32 while their
    /// total stays under this (the rest are dequantized a panel at a time, twice per pass).
    public init(model: Model, checkpointing: Bool = false, floatCacheBytes: Int = 1 << 30, pool: ComputePool = .shared) {
        self.model = model
        panel = DequantizedPanel(cacheLimit: floatCacheBytes)
        self.checkpointing = checkpointing
        self.pool = pool
    }

    /// The loss of `examples` under `lora` (no dropout), without gradients.
    public func loss(_ examples: [Example], lora: TrainableLoRA) throws -> Loss {
        try run(examples, lora: lora, gradients: nil, lossScale: 0, dropout: .init(rate: 0, seed: 0))
    }

    /// Runs `examples` forward and backward and adds `lossScale` times the gradient of their
    /// summed loss to `gradients`. `dropout` is the LoRA dropout rate, its mask drawn from
    /// `dropoutSeed`. Returns the summed (unscaled) loss.
    @discardableResult
    public func accumulateGradients(
        _ examples: [Example], lora: TrainableLoRA, into gradients: inout [Float], lossScale: Float,
        dropout: Float = 0, dropoutSeed: UInt64 = 0
    ) throws -> Loss {
        precondition(gradients.count == lora.parameters.count, "the gradient vector is laid out like the parameters")
        return try gradients.withUnsafeMutableBufferPointer { g in
            try run(examples, lora: lora, gradients: g.baseAddress!, lossScale: lossScale,
                    dropout: .init(rate: dropout, seed: dropoutSeed))
        }
    }

    /// Bytes of working memory a pass over `rows` positions in sequences of `sequenceLength`
    /// holds besides the weights and the adapter: activations (every block's, or with
    /// `checkpointing` one block's plus each block's input), one block's gradients, the logits
    /// chunk, the residual stream and its gradient, and the dequantization panel. For planning:
    /// a model need not be loaded.
    public static func workingMemory(
        _ c: ModelConfiguration, vocabularySize: Int, rows: Int, sequenceLength: Int, checkpointing: Bool
    ) -> Int {
        let qkNorms = c.architecture == .qwen3 || c.architecture == .gemma3 ? c.queryWidth + c.keyValueWidth : 0
        let postNorms = c.architecture == .gemma3 ? 2 * c.embeddingLength : 0
        let layerRow = 5 * c.embeddingLength + 2 * c.queryWidth + 2 * c.keyValueWidth + 3 * c.feedForwardLength + qkNorms + postNorms
        let layer = 4 * (layerRow * rows + c.headCount * rows * sequenceLength)
        let gradientsRow = 2 * c.queryWidth + 2 * c.keyValueWidth + 2 * c.embeddingLength + 2 * c.feedForwardLength + c.queryWidth + c.keyValueWidth
        let blocks = checkpointing ? layer + 4 * c.blockCount * rows * c.embeddingLength : c.blockCount * layer
        let logits = min(4 * rows * vocabularySize, logitsBudget) + 4 * 4 * rows * c.embeddingLength
        let stream = 2 * 4 * rows * c.embeddingLength
        return blocks + 4 * gradientsRow * rows + logits + stream + 4 * DequantizedPanel.panelFloats
    }

    private var named: [String: FloatBuffer] = [:]

    /// The scratch buffer `name` with room for `count` floats (not cleared between passes).
    private func buffer(_ name: String, _ count: Int) -> FloatBuffer {
        if let existing = named[name], existing.count >= count { return existing }
        let made = FloatBuffer(count: count)
        named[name] = made
        return made
    }

    private func buffers(rows: Int, probabilities: Int) -> (layers: [LayerActivations], inputs: [FloatBuffer], gradients: BlockGradients) {
        if let stored, stored.rows >= rows, stored.probabilities >= probabilities {
            return (stored.layers, stored.inputs, stored.gradients)
        }
        // Room for longer batches than this one, so varying lengths do not reallocate every pass.
        let rows = rows + rows / 4, probabilities = probabilities + probabilities / 2
        let c = model.configuration
        let layerCount = checkpointing ? 1 : c.blockCount
        let first = model.layers.first
        let layers = (0..<layerCount).map { _ in
            LayerActivations(c, capacity: rows, probabilityCount: probabilities, queryKeyNorms: first?.hasQueryKeyNorms ?? false,
                             postNorms: first?.hasPostNorms ?? false)
        }
        let inputs = checkpointing ? (0..<c.blockCount).map { _ in FloatBuffer(count: rows * c.embeddingLength) } : []
        let gradients = BlockGradients(c, capacity: rows)
        stored = (rows, probabilities, layers, inputs, gradients)
        return (layers, inputs, gradients)
    }

    private func run(_ examples: [Example], lora: TrainableLoRA, gradients: UnsafeMutablePointer<Float>?, lossScale: Float,
                     dropout: TrainableLoRA.Dropout) throws -> Loss {
        let c = model.configuration, width = c.embeddingLength, vocabulary = model.vocabularySize
        // The backward pass has no sub-norms or output scales yet (bitnet): training without them
        // would compute wrong gradients.
        guard c.architecture != .bitnet else { throw TrainingError.unsupportedArchitecture(c.architecture.rawValue) }
        // Check and pack.
        var spans: [(start: Int, length: Int)] = []
        var tokens: [Int] = []
        var targets: [(row: Int, token: Int)] = []
        for (e, example) in examples.enumerated() {
            guard !example.tokens.isEmpty else { throw TrainingError.invalidExample(index: e, reason: "it has no tokens") }
            guard example.trained.count == example.tokens.count else {
                throw TrainingError.invalidExample(index: e, reason: "\(example.tokens.count) tokens but \(example.trained.count) loss flags")
            }
            guard example.tokens.count <= c.contextLength else {
                throw TrainingError.invalidExample(index: e, reason: "\(example.tokens.count) tokens exceed the context length \(c.contextLength)")
            }
            if let bad = example.tokens.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw TrainingError.invalidExample(index: e, reason: "token \(bad) is outside the vocabulary of \(vocabulary)")
            }
            let start = tokens.count
            spans.append((start, example.tokens.count))
            tokens += example.tokens
            for i in 1..<max(1, example.tokens.count) where example.trained[i] { targets.append((start + i - 1, example.tokens[i])) }
        }
        let n = tokens.count
        guard n > 0 else { return Loss() }
        func angles(_ rope: RotaryEmbedding) -> [Float] {
            var table = [Float](repeating: 0, count: n * rope.dimensions)
            table.withUnsafeMutableBufferPointer { table in
                for span in spans {
                    for i in 0..<span.length { rope.angles(position: i, into: table.baseAddress! + (span.start + i) * rope.dimensions) }
                }
            }
            return table
        }
        let batch = PackedBatch(spans: spans, rows: n, angles: angles(model.rotaryEmbedding),
                                localAngles: model.localRotaryEmbedding.map(angles))
        let probabilityCount = spans.reduce(0) { $0 + c.headCount * $1.length * $1.length }
        let forwardOnly = gradients == nil
        let (layers, inputs, blockGradients) = buffers(rows: n, probabilities: probabilityCount)
        let context = TrainingContext(model: model, adaptation: LoRAPass(lora: lora, dropout: dropout, scratch: scratch),
                                      panel: panel, pool: pool, gradients: blockGradients)
        let recompute = checkpointing || forwardOnly

        // Forward: embeddings, then every block; the residual stream ends in `hidden`.
        let hidden = buffer("hidden", n * width)
        for (t, token) in tokens.enumerated() { model.embedding.row(token, into: hidden.pointer + t * width) }
        model.scaleEmbeddings(hidden.pointer, rows: n)
        for (index, layer) in model.layers.enumerated() {
            let a = recompute ? layers[0] : layers[index]
            a.input.pointer.update(from: hidden.pointer, count: n * width)
            if checkpointing && !forwardOnly { inputs[index].pointer.update(from: hidden.pointer, count: n * width) }
            layer.trainingForward(layer: index, batch: batch, a: a, output: hidden.pointer, context: context)
        }

        // The output layer at the trained positions only, and the cross-entropy.
        let m = targets.count
        guard m > 0 else { return Loss() }
        let finalNormed = buffer("finalNormed", m * width)
        var gatheredRows = [Float](repeating: 0, count: m * width)
        for (r, target) in targets.enumerated() {
            for i in 0..<width { gatheredRows[r * width + i] = hidden.pointer[target.row * width + i] }
        }
        gatheredRows.withUnsafeBufferPointer { rows in
            model.outputNorm.withUnsafeBufferPointer { w in
                Normalization.rmsNorm(rows.baseAddress!, rows: m, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                      into: finalNormed.pointer)
            }
        }
        // Logits in chunks of rows, so a large vocabulary (Qwen3: 151,936) never needs all of
        // them at once; each chunk's loss gradient goes straight back through the output layer.
        let chunk = max(1, min(m, Self.logitsBudget / (vocabulary * 4)))
        let logits = buffer("logits", chunk * vocabulary)
        // A soft-capped model's capped logits, kept for the cap's derivative.
        let cap = model.configuration.finalLogitSoftcap
        let capped = cap == nil || forwardOnly ? nil : buffer("capped", chunk * vocabulary)
        let dFinal = forwardOnly ? nil : buffer("dFinal", m * width)
        var rowLoss = [Double](repeating: 0, count: m)
        var first = 0
        while first < m {
            let rows = min(chunk, m - first)
            model.output.floatMultiply(finalNormed.pointer + first * width, count: rows, into: logits.pointer, workspace: panel, pool: pool)
            model.capLogits(logits.pointer, count: rows * vocabulary)
            capped?.pointer.update(from: logits.pointer, count: rows * vocabulary)
            rowLoss.withUnsafeMutableBufferPointer { losses in
                let lossPointer = losses.baseAddress! + first
                pool.forEachRange(rows) { part in
                    for r in part {
                        lossPointer[r] = Self.crossEntropy(logits.pointer + r * vocabulary, count: vocabulary, target: targets[first + r].token,
                                                           gradientScale: forwardOnly ? nil : lossScale)
                    }
                }
            }
            if let cap, let capped {
                // d(cap tanh(l / cap))/dl = 1 - tanh^2 = 1 - (capped / cap)^2.
                let inverse = 1 / cap, logitsPointer = logits.pointer, cappedPointer = capped.pointer
                pool.forEachRange(rows * vocabulary) { part in
                    for i in part {
                        let t = cappedPointer[i] * inverse
                        logitsPointer[i] *= 1 - t * t
                    }
                }
            }
            if let dFinal {
                model.output.floatMultiplyTransposed(logits.pointer, count: rows, into: dFinal.pointer + first * width, accumulate: false,
                                                     workspace: panel, pool: pool)
            }
            first += rows
        }
        let loss = Loss(sum: rowLoss.reduce(0, +), tokens: m)
        guard let gradients, let dFinal else { return loss }

        // Backward: final norm, scatter to the trained rows, blocks in reverse.
        let dRows = buffer("dRows", m * width)
        gatheredRows.withUnsafeBufferPointer { rows in
            model.outputNorm.withUnsafeBufferPointer { w in
                Normalization.rmsNormBackward(rows.baseAddress!, rows: m, width: width, weight: w.baseAddress!, epsilon: c.rmsEpsilon,
                                              outputGradient: dFinal.pointer, into: dRows.pointer, accumulate: false)
            }
        }
        let dHidden = buffer("dHidden", n * width)
        dHidden.pointer.update(repeating: 0, count: n * width)
        for (r, target) in targets.enumerated() {
            for i in 0..<width { dHidden.pointer[target.row * width + i] += dRows.pointer[r * width + i] }
        }
        for index in model.layers.indices.reversed() {
            let layer = model.layers[index]
            let a: LayerActivations
            if checkpointing {
                a = layers[0]
                a.input.pointer.update(from: inputs[index].pointer, count: n * width)
                layer.trainingForward(layer: index, batch: batch, a: a, output: hidden.pointer, context: context)
            } else {
                a = layers[index]
            }
            layer.trainingBackward(layer: index, batch: batch, a: a, outputGradient: dHidden.pointer, inputGradient: dHidden.pointer,
                                   gradients: gradients, context: context)
        }
        return loss
    }

    /// `-log softmax(row)[target]`; with `gradientScale`, replaces `row` by the loss's gradient
    /// times the scale, `scale (softmax(row) - onehot(target))` (vectorized exp, within 2 ulp).
    private static func crossEntropy(_ row: UnsafeMutablePointer<Float>, count: Int, target: Int, gradientScale: Float?) -> Double {
        let logit = row[target]
        let logSumExp = loco_log_softmax_f32(row, count)
        if let gradientScale {
            for i in 0..<count { row[i] *= gradientScale }
            row[target] -= gradientScale
        }
        return Double(logSumExp) - Double(logit)
    }
}
