import CBLAS
import CKernels
import Foundation

/// Causal grouped-query attention over a ``KVCache``, as llama.cpp computes it without flash
/// attention: scores `K q`, scaled, a softmax over the positions up to the query's own, then the
/// values weighted by it. Query head `h` reads KV head `h / (heads / kvHeads)`.
///
/// ``Numerics/fast`` runs the two products in BLAS over blocks of queries; ``Numerics/llamaCpp``
/// reproduces ggml's order per query: `ggml_vec_dot_f32` scores, `ggml_soft_max` with
/// `ggml_v_expf` in 16-lane chunks, and the weighted values in llamafile `tinyBLAS` order (16 FMA
/// lanes) for a batch or `ggml_vec_dot_f32` order (64 lanes) for one token, as ggml picks them.
/// Work is split over the pool by head and query.
public enum Attention {
    /// Queries per BLAS work item: bounds the score scratch at `block x positions` floats per worker.
    static let queryBlock = 64

    /// Attention of `count` queries at positions `start ..< start + count` (their keys and values
    /// already stored) over the cache's positions `0 ..< start + count`; with a `window`, the query
    /// at position `p` sees only positions `p - window + 1 ... p` (llama.cpp's standard sliding
    /// window: a key `window` or more positions back is masked).
    /// `queries` and `output` are `count x (heads * headDimension)`.
    public static func causal(
        queries: UnsafePointer<Float>, count: Int, start: Int, heads: Int, cache: KVCache, layer: Int,
        scale: Float, window: Int? = nil, into output: UnsafeMutablePointer<Float>, workspace: AttentionWorkspace,
        numerics: Numerics = .fast, pool: ComputePool = .shared
    ) {
        precondition(heads % cache.kvHeads == 0, "query heads must be a multiple of KV heads")
        precondition(window.map { $0 > 0 } ?? true, "a sliding window holds at least one position")
        let shape = Shape(d: cache.headDimension, group: heads / cache.kvHeads, heads: heads, count: count, start: start,
                          queryStride: heads * cache.headDimension, kvStride: cache.rowWidth, scale: scale, window: window ?? Int.max)
        workspace.prepare(workers: pool.threadCount, positions: start + count, headDimension: shape.d, queryBlock: queryBlock)
        let keys = cache.keys(layer: layer), values = cache.values(layer: layer)
        let precision = cache.precision
        let items = numerics == .fast ? heads * ((count + queryBlock - 1) / queryBlock) : heads * count
        pool.forEachWorker { worker in
            let scratch = workspace.scratch(worker)
            var item = worker
            while item < items {
                switch numerics {
                case .fast:
                    blas(item, shape, queries, keys, values, precision, output, scratch)
                case .llamaCpp:
                    exact(item, shape, queries, keys, values, precision, output, scratch)
                }
                item += pool.threadCount
            }
        }
    }

    struct Shape {
        let d, group, heads, count, start, queryStride, kvStride: Int
        let scale: Float
        /// Positions a query sees, itself included (`Int.max` without a window).
        let window: Int

        /// The first position the query at `position` sees.
        func first(_ position: Int) -> Int { window > position ? 0 : position - window + 1 }
    }

    /// Keys and values of KV head `g` for positions `0..<length` as floats with their row stride:
    /// in place for an F32 cache, widened into scratch for an F16 one.
    private static func keysAndValues(
        _ g: Int, _ length: Int, _ s: Shape, _ keys: UnsafeRawPointer, _ values: UnsafeRawPointer,
        _ precision: KVCache.Precision, _ scratch: AttentionWorkspace.Scratch
    ) -> (UnsafePointer<Float>, UnsafePointer<Float>, Int) {
        switch precision {
        case .f32:
            return (keys.assumingMemoryBound(to: Float.self) + g * s.d, values.assumingMemoryBound(to: Float.self) + g * s.d, s.kvStride)
        case .f16:
            let kh = keys.assumingMemoryBound(to: UInt16.self) + g * s.d
            let vh = values.assumingMemoryBound(to: UInt16.self) + g * s.d
            for p in 0..<length {
                loco_f16_to_f32_row(kh + p * s.kvStride, scratch.keys + p * s.d, s.d)
                loco_f16_to_f32_row(vh + p * s.kvStride, scratch.values + p * s.d, s.d)
            }
            return (UnsafePointer(scratch.keys), UnsafePointer(scratch.values), s.d)
        }
    }

    /// Head `item % heads`, queries of block `item / heads`, through BLAS.
    private static func blas(
        _ item: Int, _ s: Shape, _ queries: UnsafePointer<Float>, _ keys: UnsafeRawPointer, _ values: UnsafeRawPointer,
        _ precision: KVCache.Precision, _ output: UnsafeMutablePointer<Float>, _ scratch: AttentionWorkspace.Scratch
    ) {
        let h = item % s.heads, block = item / s.heads
        let t0 = block * queryBlock, t1 = min(s.count, t0 + queryBlock)
        let rows = t1 - t0
        let length = s.start + t1  // positions the last query of the block sees
        if rows == 1 && precision == .f16 {
            // Decoding over an F16 cache: one pass that widens keys and values in registers,
            // reading two bytes a value where the widening below would read them and write four.
            let g = h / s.group
            loco_attention_one_f16(queries + t0 * s.queryStride + h * s.d,
                                   keys.assumingMemoryBound(to: UInt16.self) + g * s.d,
                                   values.assumingMemoryBound(to: UInt16.self) + g * s.d,
                                   s.kvStride, s.first(length - 1), length, s.d, s.scale, scratch.scores,
                                   output + t0 * s.queryStride + h * s.d)
            return
        }
        let (k, v, kvStride) = keysAndValues(h / s.group, length, s, keys, values, precision, scratch)
        // Queries and probabilities stay in F32 (ggml rounds them to F16 with an F16 cache; the
        // llama-cpp order below does), so a batch and a decode step agree to float rounding.
        let q = queries + t0 * s.queryStride + h * s.d
        let qStride = s.queryStride
        let scores = scratch.scores
        // One query (decoding) is a matrix-vector product: OpenBLAS's sgemm would pack K and V
        // for it, which took a quarter of a SmolLM2-135M decode step at 200 positions.
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(length), Int32(s.d), s.scale, k, Int32(kvStride), q, 1, 0, scores, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(length), Int32(s.d), s.scale,
                        q, Int32(qStride), k, Int32(kvStride), 0, scores, Int32(length))
        }
        for r in 0..<rows {
            let row = scores + r * length
            let visible = s.start + t0 + r + 1
            let first = s.first(visible - 1)
            Activations.softmax(row + first, count: visible - first)
            if first > 0 { row.update(repeating: 0, count: first) }
            if visible < length { (row + visible).update(repeating: 0, count: length - visible) }
        }
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(length), Int32(s.d), 1, v, Int32(kvStride), scores, 1, 0,
                        output + t0 * s.queryStride + h * s.d, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(s.d), Int32(length), 1,
                        scores, Int32(length), v, Int32(kvStride), 0, output + t0 * s.queryStride + h * s.d, Int32(s.queryStride))
        }
    }

    /// Head `item % heads`, query `item / heads`, in ggml's order.
    private static func exact(
        _ item: Int, _ s: Shape, _ queries: UnsafePointer<Float>, _ keys: UnsafeRawPointer, _ values: UnsafeRawPointer,
        _ precision: KVCache.Precision, _ output: UnsafeMutablePointer<Float>, _ scratch: AttentionWorkspace.Scratch
    ) {
        let h = item % s.heads, t = item / s.heads
        let d = s.d
        let length = s.start + t + 1
        let (k, v, kvStride) = keysAndValues(h / s.group, length, s, keys, values, precision, scratch)
        var q = queries + t * s.queryStride + h * d
        if precision == .f16 {
            roundToHalf(q, d, into: scratch.queries)
            q = UnsafePointer(scratch.queries)
        }
        // Scores and softmax: ggml_vec_dot_f32, scaled; max; ggml_v_expf in 16- or 8-lane chunks
        // (ggml's row is padded to 256 positions, the masked ones 0), each chunk reduced in float
        // and added in double; then times the float of 1/sum.
        let build = GGMLNumerics.build
        let p = scratch.scores
        // Positions before the window are masked (-inf in ggml: an exp of 0 in their lanes).
        let first = s.first(length - 1)
        var maximum = -Float.infinity
        for j in first..<length {
            p[j] = GGMLNumerics.dot(d, k + j * kvStride, q, build: build) * s.scale
            maximum = max(maximum, p[j])
        }
        var sum = 0.0
        var chunk = 0
        while chunk < length {
            var lanes = GGMLNumerics.Lanes()
            for l in 0..<min(build.lanes, length - chunk) where chunk + l >= first {
                let e = GGMLNumerics.exp(p[chunk + l] - maximum, build: build)
                p[chunk + l] = e
                lanes[l] = e
            }
            sum += Double(GGMLNumerics.chunkSum(lanes, build: build))
            chunk += build.lanes
        }
        let inverse = Float(1 / sum)
        if first > 0 { p.update(repeating: 0, count: first) }
        for j in first..<length { p[j] *= inverse }
        if precision == .f16 { roundToHalf(p, length, into: p) }
        // Weighted values: position j feeds FMA lane j % lanes of every output value; a batch runs
        // in tinyBLAS (one vector), one token in ggml_vec_dot_f32 (four vectors, added 0+2, 1+3, 0+1).
        let batched = s.count >= 2
        let lanes = batched ? build.lanes : 4 * build.lanes
        let acc = scratch.accumulators
        acc.update(repeating: 0, count: lanes * d)
        for j in first..<length {
            GGMLNumerics.fmaRow(v + j * kvStride, p[j], into: acc + (j % lanes) * d, count: d)
        }
        let out = output + t * s.queryStride + h * d
        for i in 0..<d {
            out[i] = GGMLNumerics.reduceAccumulators(acc, d: d, i: i, batched: batched, build: build)
        }
    }

    private static func roundToHalf(_ x: UnsafePointer<Float>, _ n: Int, into y: UnsafeMutablePointer<Float>) {
        ActivationFormat.f16.convert(x, columns: n, into: UnsafeMutableRawPointer(y))
    }
}

/// Per-worker scratch for ``Attention``, grown on demand. Not thread-safe: a session owns one.
public final class AttentionWorkspace: @unchecked Sendable {
    struct Scratch {
        let scores: UnsafeMutablePointer<Float>
        let queries: UnsafeMutablePointer<Float>
        let keys: UnsafeMutablePointer<Float>
        let values: UnsafeMutablePointer<Float>
        let accumulators: UnsafeMutablePointer<Float>
    }

    private var buffers: [FloatBuffer] = []
    private var scratches: [Scratch] = []
    private var positions = 0
    private var headDimension = 0
    private var queryBlock = 0

    public init() {}

    func prepare(workers: Int, positions: Int, headDimension: Int, queryBlock: Int) {
        guard workers > scratches.count || positions > self.positions || headDimension != self.headDimension
                || queryBlock != self.queryBlock else { return }
        let capacity = max(positions, 2 * self.positions, 256)
        buffers = []
        scratches = []
        for _ in 0..<workers {
            let scores = FloatBuffer(count: queryBlock * (capacity + 16))
            let queries = FloatBuffer(count: queryBlock * headDimension)
            let keys = FloatBuffer(count: capacity * headDimension)
            let values = FloatBuffer(count: capacity * headDimension)
            let accumulators = FloatBuffer(count: 64 * headDimension)
            buffers += [scores, queries, keys, values, accumulators]
            scratches.append(Scratch(scores: scores.pointer, queries: queries.pointer, keys: keys.pointer,
                                     values: values.pointer, accumulators: accumulators.pointer))
        }
        self.positions = capacity
        self.headDimension = headDimension
        self.queryBlock = queryBlock
    }

    func scratch(_ worker: Int) -> Scratch { scratches[worker] }
}
