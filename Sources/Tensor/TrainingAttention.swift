import CBLAS
import CKernels

/// Causal grouped-query self-attention over one whole sequence, forward and backward, for
/// training: the forward keeps each head's attention probabilities for the backward (inference's
/// ``Attention`` reads a KV cache and keeps nothing). Query head `h` reads key/value head
/// `h / (heads / kvHeads)`. Heads are split over the pool.
///
/// Layout: `queries` is `length` rows of `heads * headDimension` values, `keys` and `values`
/// `length` rows of `kvHeads * headDimension`; `probabilities` holds `heads` matrices of
/// `length` x `length` (row `i` is position `i`'s distribution over positions `0...i`, or with a
/// `window` over `i - window + 1 ... i`, as inference's ``Attention`` masks a sliding window).
public struct CausalSelfAttention: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDimension: Int
    public let scale: Float
    /// Positions a query sees, itself included; nil for all before it.
    public let window: Int?

    public init(heads: Int, kvHeads: Int, headDimension: Int, scale: Float, window: Int? = nil) {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0, "query heads must be a multiple of key/value heads")
        precondition(window.map { $0 > 0 } ?? true, "a sliding window holds at least one position")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        self.scale = scale
        self.window = window
    }

    /// The first position row `i` sees.
    @inline(__always) func first(_ i: Int) -> Int {
        guard let window, window <= i else { return 0 }
        return i - window + 1
    }

    var queryWidth: Int { heads * headDimension }
    var kvWidth: Int { kvHeads * headDimension }

    /// `output` (`length` x `heads * headDimension`) = softmax(scale Q K^T, causal) V per head;
    /// fills `probabilities`.
    public func forward(
        queries q: UnsafePointer<Float>, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, length: Int,
        probabilities: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, pool: ComputePool = .shared
    ) {
        let d = headDimension, group = heads / kvHeads, qw = queryWidth, kw = kvWidth
        pool.forEachRange(heads) { part in
            for h in part {
                let g = h / group
                let p = probabilities + h * length * length
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(length), Int32(length), Int32(d), scale,
                            q + h * d, Int32(qw), k + g * d, Int32(kw), 0, p, Int32(length))
                for i in 0..<length {
                    let row = p + i * length, lo = first(i)
                    for j in 0..<lo { row[j] = 0 }
                    loco_softmax_f32(row + lo, i + 1 - lo)
                    for j in (i + 1)..<length { row[j] = 0 }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(length), Int32(d), Int32(length), 1,
                            p, Int32(length), v + g * d, Int32(kw), 0, output + h * d, Int32(qw))
            }
        }
    }

    /// From the output's gradient, writes the gradients of the queries, keys and values (after
    /// RoPE, as the forward saw them). With `P` a head's probabilities and `dO` its output
    /// gradient: `dV = P^T dO`, `dP = dO V^T`, `dS = P (dP - rowsum(dP P))`, `dQ = scale dS K`,
    /// `dK = scale dS^T Q`; key/value gradients are summed over the query heads that share them.
    public func backward(
        queries q: UnsafePointer<Float>, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, length: Int,
        probabilities: UnsafePointer<Float>, outputGradient dO: UnsafePointer<Float>,
        queryGradient dQ: UnsafeMutablePointer<Float>, keyGradient dK: UnsafeMutablePointer<Float>,
        valueGradient dV: UnsafeMutablePointer<Float>, pool: ComputePool = .shared
    ) {
        let d = headDimension, group = heads / kvHeads, qw = queryWidth, kw = kvWidth
        // Each query head's key and value gradients, summed per shared head afterwards, so heads
        // can run in parallel without sharing an output.
        let perHead = FloatBuffer(count: 2 * heads * length * d)
        let headKeys = perHead.pointer, headValues = perHead.pointer + heads * length * d
        pool.forEachRange(heads) { part in
            let scores = FloatBuffer(count: length * length)
            let ds = scores.pointer
            for h in part {
                let g = h / group
                let p = probabilities + h * length * length
                // dV_h = P^T dO_h
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(length), Int32(d), Int32(length), 1,
                            p, Int32(length), dO + h * d, Int32(qw), 0, headValues + h * length * d, Int32(d))
                // dP = dO_h V^T
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(length), Int32(length), Int32(d), 1,
                            dO + h * d, Int32(qw), v + g * d, Int32(kw), 0, ds, Int32(length))
                for i in 0..<length {
                    let pRow = p + i * length, row = ds + i * length, lo = first(i)
                    var dot: Float = 0
                    for j in lo...i { dot += row[j] * pRow[j] }
                    for j in 0..<lo { row[j] = 0 }
                    for j in lo...i { row[j] = pRow[j] * (row[j] - dot) }
                    for j in (i + 1)..<length { row[j] = 0 }
                }
                // dQ_h = scale dS K, dK_h = scale dS^T Q_h
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(length), Int32(d), Int32(length), scale,
                            ds, Int32(length), k + g * d, Int32(kw), 0, dQ + h * d, Int32(qw))
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(length), Int32(d), Int32(length), scale,
                            ds, Int32(length), q + h * d, Int32(qw), 0, headKeys + h * length * d, Int32(d))
            }
        }
        pool.forEachRange(kvHeads) { part in
            for g in part {
                for t in 0..<length {
                    let keyRow = dK + t * kw + g * d, valueRow = dV + t * kw + g * d
                    for c in 0..<d { keyRow[c] = 0; valueRow[c] = 0 }
                    for h in (g * group)..<((g + 1) * group) {
                        let kh = headKeys + (h * length + t) * d, vh = headValues + (h * length + t) * d
                        for c in 0..<d { keyRow[c] += kh[c]; valueRow[c] += vh[c] }
                    }
                }
            }
        }
    }
}
