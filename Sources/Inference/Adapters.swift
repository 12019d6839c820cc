import CBLAS
import CKernels
import Tensor

/// Low-rank deltas on a model's linear layers, applied unmerged: for a projection with weights
/// `W`, `y = W x + sum over deltas: scale * B (A x)`. That is LoRA at run time (the `Adapters` target
/// turns adapter files into an `AdapterSet`); several adapters combine by listing their deltas.
///
/// An adapter set is immutable and shared: a ``Session`` holds a reference to one
/// (``Session/adapters``), so switching adapters is a pointer swap. The base model is never copied
/// or changed, and many sessions with different adapters share one ``Model``.
///
/// The deltas are F32 and their products run in BLAS in F32 (`A x`, then `B` times that), as
/// llama.cpp runs an F32 LoRA's `ggml_mul_mat`s: the input is not quantized for them.
public final class AdapterSet: Sendable {
    /// The linear layers a delta can apply to, by their GGUF tensor names.
    public enum Target: String, Sendable, CaseIterable {
        case query = "attn_q", key = "attn_k", value = "attn_v", attentionOutput = "attn_output"
        case gate = "ffn_gate", up = "ffn_up", down = "ffn_down"
        /// The output (logits) layer, `output.weight` (or the tied `token_embd.weight`).
        case output = "output"
        /// The token embedding, `token_embd.weight`, as a lookup: token `v`'s row gains
        /// `scale * B A[:, v]` (A is `rank` x vocabulary, B width x `rank`, llama.cpp's layout).
        case tokenEmbedding = "token_embd"
    }

    /// One low-rank delta `scale * B A` of an `outputs` x `inputs` weight matrix.
    public struct Delta: Sendable {
        /// `rank` x `inputs`, row-major (PEFT's `lora_A.weight`; GGUF's `lora_a` has this memory layout).
        public let a: [Float]
        /// `outputs` x `rank`, row-major (PEFT's `lora_B.weight`; GGUF's `lora_b`).
        public let b: [Float]
        public let rank: Int
        public let inputs: Int
        public let outputs: Int
        /// The factor the product is multiplied by (for LoRA: user scale * alpha / rank).
        public let scale: Float
        /// B transposed (`rank` x `outputs`): one position's `B t` as `rank` contiguous axpys.
        let bTransposed: [Float]

        public init(a: [Float], b: [Float], rank: Int, inputs: Int, outputs: Int, scale: Float) throws {
            guard rank > 0, inputs > 0, outputs > 0, a.count == rank * inputs, b.count == outputs * rank else {
                throw ModelError(.adapterFactors(rank: rank, inputs: inputs, outputs: outputs, aCount: a.count, bCount: b.count))
            }
            self.a = a
            self.b = b
            self.rank = rank
            self.inputs = inputs
            self.outputs = outputs
            self.scale = scale
            var transposed = [Float](repeating: 0, count: b.count)
            for o in 0..<outputs {
                for r in 0..<rank { transposed[r * outputs + o] = b[o * rank + r] }
            }
            bTransposed = transposed
        }
    }

    /// A delta and where it applies: block `layer` (nil for the output layer) and `target`.
    public struct Placement: Sendable {
        public let layer: Int?
        public let target: Target
        public let delta: Delta

        public init(layer: Int?, target: Target, delta: Delta) {
            self.layer = layer
            self.target = target
            self.delta = delta
        }
    }

    /// The model the deltas were checked against.
    public let model: Model
    /// Deltas per block, per target.
    let layers: [[Target: [Delta]]]
    let output: [Delta]
    let embedding: [Delta]
    /// Every placement, in the order given.
    public let placements: [Placement]

    /// Deltas for `model`, each checked against the matrix it applies to: the block exists, the
    /// delta's inputs equal the matrix's columns and its outputs the matrix's rows.
    public init(model: Model, placements: [Placement]) throws {
        var layers = [[Target: [Delta]]](repeating: [:], count: model.layers.count)
        var output: [Delta] = []
        var embedding: [Delta] = []
        for placement in placements {
            let delta = placement.delta
            let matrix: WeightMatrix
            if placement.target == .tokenEmbedding {
                let table = model.embedding
                guard delta.inputs == table.rows, delta.outputs == table.columns else {
                    throw ModelError(.adapterShape(tensor: table.name, expected: [table.rows, table.columns],
                                                   actual: [delta.inputs, delta.outputs]))
                }
                embedding.append(delta)
                continue
            }
            if placement.target == .output {
                matrix = model.output
            } else {
                guard let index = placement.layer, index >= 0, index < model.layers.count, placement.target != .output else {
                    throw ModelError(.adapterTarget(tensor: "blk.\(placement.layer ?? -1).\(placement.target.rawValue).weight"))
                }
                matrix = model.layers[index].matrix(placement.target)
            }
            guard delta.inputs == matrix.columns, delta.outputs == matrix.rows else {
                throw ModelError(.adapterShape(tensor: matrix.name, expected: [matrix.columns, matrix.rows],
                                               actual: [delta.inputs, delta.outputs]))
            }
            if placement.target == .output {
                output.append(delta)
            } else {
                layers[placement.layer!][placement.target, default: []].append(delta)
            }
        }
        self.model = model
        self.layers = layers
        self.output = output
        self.embedding = embedding
        self.placements = placements
    }

    /// The deltas on `target` of block `layer` (empty when none).
    func deltas(layer: Int, _ target: Target) -> [Delta] { layers[layer][target] ?? [] }

    /// `output[t] += scale * B (A input[t])` for every delta, for `count` rows: `input` is
    /// `count` x `inputs`, `output` `count` x `outputs`, row-major.
    ///
    /// With ``Numerics/llamaCpp`` the products follow llama.cpp's graph and float order: `A x`
    /// then `B` times that, both as ggml multiplies F32 matrices (``GGMLFloatProducts``), then
    /// times the scale, then added (`ggml_mul_mat`, `ggml_scale`, `ggml_add`).
    static func apply(_ deltas: [Delta], input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>,
                      numerics: Numerics = .fast) {
        if numerics == .llamaCpp {
            for delta in deltas {
                var t = [Float](repeating: 0, count: count * delta.rank)
                var u = [Float](repeating: 0, count: count * delta.outputs)
                delta.a.withUnsafeBufferPointer { a in
                    GGMLFloatProducts.multiply(a.baseAddress!, rows: delta.rank, input, count: count, inner: delta.inputs, into: &t)
                }
                delta.b.withUnsafeBufferPointer { b in
                    GGMLFloatProducts.multiply(b.baseAddress!, rows: delta.outputs, t, count: count, inner: delta.rank, into: &u)
                }
                for i in 0..<(count * delta.outputs) { output[i] = output[i] + u[i] * delta.scale }
            }
            return
        }
        for delta in deltas {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: count * delta.rank) { scratch in
                let t = scratch.baseAddress!
                if count == 1 {
                    // One position (decode): two small matrix-vector products, where a BLAS call
                    // would cost more than its arithmetic.
                    delta.a.withUnsafeBufferPointer { a in loco_matvec_f32(a.baseAddress!, delta.rank, delta.inputs, input, t, 1, 0) }
                    delta.bTransposed.withUnsafeBufferPointer { bt in
                        loco_matvec_t_f32(bt.baseAddress!, delta.rank, delta.outputs, t, output, delta.scale)
                    }
                    return
                }
                delta.a.withUnsafeBufferPointer { a in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(delta.rank), Int32(delta.inputs), 1,
                                input, Int32(delta.inputs), a.baseAddress!, Int32(delta.inputs), 0, t, Int32(delta.rank))
                }
                delta.b.withUnsafeBufferPointer { b in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(delta.outputs), Int32(delta.rank),
                                delta.scale, t, Int32(delta.rank), b.baseAddress!, Int32(delta.rank), 1, output, Int32(delta.outputs))
                }
            }
        }
    }
}

extension AdapterSet {
    /// Adds the token-embedding deltas to the looked-up rows: `rows[t] += scale * B A[:, tokens[t]]`,
    /// in llama.cpp's graph order with ``Numerics/llamaCpp`` (`get_rows` of A's columns,
    /// `ggml_mul_mat` with B, `ggml_scale`, `ggml_add`).
    func addEmbeddingDeltas(tokens: [Int], into rows: UnsafeMutablePointer<Float>, numerics: Numerics) {
        let n = tokens.count
        for delta in embedding {
            var gathered = [Float](repeating: 0, count: n * delta.rank)
            for (t, token) in tokens.enumerated() {
                for r in 0..<delta.rank { gathered[t * delta.rank + r] = delta.a[r * delta.inputs + token] }
            }
            var u = [Float](repeating: 0, count: n * delta.outputs)
            delta.b.withUnsafeBufferPointer { b in
                if numerics == .llamaCpp {
                    GGMLFloatProducts.multiply(b.baseAddress!, rows: delta.outputs, gathered, count: n, inner: delta.rank, into: &u)
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(delta.outputs), Int32(delta.rank), 1,
                                gathered, Int32(delta.rank), b.baseAddress!, Int32(delta.rank), 0, &u, Int32(delta.outputs))
                }
            }
            for i in 0..<(n * delta.outputs) { rows[i] = rows[i] + u[i] * delta.scale }
        }
    }
}

extension DecoderLayer {
    /// The weight matrix of `target` (not `.output`).
    package func matrix(_ target: AdapterSet.Target) -> WeightMatrix {
        switch target {
        case .query: query
        case .key: key
        case .value: value
        case .attentionOutput: attentionOutput
        case .gate: gate
        case .up: up
        case .down: down
        case .output, .tokenEmbedding: preconditionFailure("\(target) is not a block's")
        }
    }
}
