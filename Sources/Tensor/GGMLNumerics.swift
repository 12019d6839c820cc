import CKernels
import Foundation
import GGUFFormat

/// The float arithmetic of llama.cpp's CPU backend (ggml-cpu built by GCC for AVX-512 or for
/// AVX2), lane by lane and in the same order, so results are bit-identical with it rather than
/// merely close.
///
/// Why it matters: on quantized weights every product quantizes its input to 8 bits, and a
/// one-ulp difference upstream sometimes moves a value across a rounding boundary (or changes a
/// block's scale); that discrete step then grows through the layers. Measured on SmolLM2-135M Q8_0
/// over 300 tokens: with attention in BLAS order, logits differ from llama.cpp's by up to 1.6 and
/// the argmax by 2.7% of positions; with these orders they are identical.
///
/// The two builds differ in vector width and in a few formulas (``Build``):
/// - `_mm512_reduce_add_ps` (GCC): halves added pairwise, 8 -> 4 -> 2 -> 1 lanes; AVX2's `hsum`:
///   high + low half, then (0 + 2) + (1 + 3).
/// - `ggml_vec_dot_f32`: four accumulators (16 or 8 lanes) with fused multiply-adds over 64- or
///   32-value steps, accumulators added 0+2, 1+3, then 0+1, reduced (AVX2 with two `hadd`s),
///   then the tail as GCC compiled it.
/// - `ggml_v_expf`: the vectorized exp (a polynomial with FMAs; `scalef` on AVX-512, an exponent
///   built in integer lanes on AVX2, with its own association of the last terms), not `expf`.
enum GGMLNumerics {
    typealias Lanes = SIMD16<Float>

    /// The ggml-cpu build whose float order is reproduced.
    enum Build: Sendable {
        /// `GGML_AVX512=ON`: 16-lane vectors.
        case avx512
        /// `GGML_AVX2=ON`, no AVX-512: 8-lane vectors.
        case avx2

        /// Lanes of one float vector.
        var lanes: Int { self == .avx512 ? 16 : 8 }
    }

    /// The build matching the kernel set this process runs (``KernelSet/running``): AVX-512's
    /// order where it runs the AVX-512 kernels, AVX2's everywhere else.
    static let build: Build = KernelSet.running == .avx512 ? .avx512 : .avx2

    /// Fused multiply-add `a * b + c` with one rounding, as the vector FMA instructions compute it.
    ///
    /// Swift has no FMA instruction without target flags (`addingProduct` calls `fmaf`, ~4 ns), so
    /// this computes in double: `a * b` is exact there, the sum is rounded once to double and once to
    /// float. The two roundings differ from one only when the double lands exactly halfway between
    /// two floats (a double-representable point, so the sum cannot have crossed it); that rare case,
    /// and results too small for the midpoint test, take the exact `addingProduct`.
    @inline(__always) static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float {
        let s = Double(a) * Double(b) + Double(c)
        if s.bitPattern & 0x1FFF_FFFF == 0x1000_0000 || abs(s) < Double(Float.leastNormalMagnitude) {
            return c.addingProduct(a, b)
        }
        return Float(s)
    }

    /// `acc[i] = fma(x[i], w, acc[i])` for `i < count`.
    @inline(__always) static func fmaRow(_ x: UnsafePointer<Float>, _ w: Float, into acc: UnsafeMutablePointer<Float>, count: Int) {
        let wide = Double(w)
        for i in 0..<count {
            let s = Double(x[i]) * wide + Double(acc[i])
            if s.bitPattern & 0x1FFF_FFFF == 0x1000_0000 || abs(s) < Double(Float.leastNormalMagnitude) {
                acc[i] = acc[i].addingProduct(x[i], w)
            } else {
                acc[i] = Float(s)
            }
        }
    }

    /// Lane-wise ``fma(_:_:_:)`` of float vectors of any width.
    @inline(__always) static func fma<V: SIMD>(_ a: V, _ b: V, _ c: V) -> V where V.Scalar == Float {
        var r = c
        for i in 0..<V.scalarCount { r[i] = fma(a[i], b[i], c[i]) }
        return r
    }

    /// `_mm512_reduce_add_ps` as GCC 12 expands it.
    @inline(__always) static func reduce(_ v: Lanes) -> Float {
        let t3 = v.highHalf + v.lowHalf
        let t6 = t3.highHalf + t3.lowHalf
        return (t6[0] + t6[2]) + (t6[1] + t6[3])
    }

    /// `ggml_vec_dot_f32(n, x, y)` of `build`.
    @inline(__always) static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, build: Build = build) -> Float {
        build == .avx512 ? dot16(n, x, y) : dot8(n, x, y)
    }

    /// `ggml_vec_dot_f32` of the AVX-512 build.
    static func dot16(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        vecDot(n, x, y, as: Lanes.self, reduce: reduce)
    }

    /// `ggml_vec_dot_f32` of the AVX2 build: its reduction ends with two `hadd`s.
    static func dot8(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        vecDot(n, x, y, as: SIMD8<Float>.self, reduce: haddReduce)
    }

    /// `ggml_vec_dot_f32` with vectors `V` (16 lanes on AVX-512, 8 on AVX2): four accumulators
    /// with fused multiply-adds over steps of four vectors, added 0+2, 1+3, then 0+1 and reduced
    /// by `reduce`; then the tail as GCC vectorized it: products of a vector's width and then of
    /// half of it added one by one, the last few contracted to FMAs.
    @inline(__always) static func vecDot<V: SIMD>(
        _ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, as _: V.Type, reduce: (V) -> Float
    ) -> Float where V.Scalar == Float {
        let w = V.scalarCount
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        let steps = n / (4 * w)
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        for step in 0..<steps {
            let i = step * 4 * w
            if step == 0 {
                // fma(x, y, 0) is the rounded product.
                s0 = load(x) * load(y)
                s1 = load(x + w) * load(y + w)
                s2 = load(x + 2 * w) * load(y + 2 * w)
                s3 = load(x + 3 * w) * load(y + 3 * w)
                continue
            }
            s0 = fma(load(x + i), load(y + i), s0)
            s1 = fma(load(x + i + w), load(y + i + w), s1)
            s2 = fma(load(x + i + 2 * w), load(y + i + 2 * w), s2)
            s3 = fma(load(x + i + 3 * w), load(y + i + 3 * w), s3)
        }
        var sum = reduce((s0 + s2) + (s1 + s3))
        var i = steps * 4 * w
        while n - i >= w {
            for j in i..<(i + w) { sum += x[j] * y[j] }
            i += w
        }
        if n - i >= w / 2 {
            for j in i..<(i + w / 2) { sum += x[j] * y[j] }
            i += w / 2
        }
        for j in i..<n { sum = fma(x[j], y[j], sum) }
        return sum
    }

    /// AVX2's horizontal sum (`hsum` in llamafile's sgemm, the softmax chunk sums): high half
    /// plus low half, then lanes (0 + 2) + (1 + 3).
    @inline(__always) static func hsum(_ v: SIMD8<Float>) -> Float {
        let t = v.highHalf + v.lowHalf
        return (t[0] + t[2]) + (t[1] + t[3])
    }

    /// The end of `GGML_F32x8_REDUCE`: low half plus high half, then two `hadd`s:
    /// (0 + 1) + (2 + 3).
    @inline(__always) static func haddReduce(_ v: SIMD8<Float>) -> Float {
        let t = v.lowHalf + v.highHalf
        return (t[0] + t[1]) + (t[2] + t[3])
    }

    /// One lane of `ggml_v_expf` of `build`.
    @inline(__always) static func exp(_ x: Float, build: Build = build) -> Float {
        build == .avx512 ? exp16(x) : exp8(x)
    }

    /// One lane of `ggml_v_expf` (AVX2): the same reduction and polynomial as AVX-512's, with
    /// the last terms associated as `k + k * j` (j without its constant 1), and `2^n` built in the
    /// exponent field; where `|n| > 126` it scales in two steps, and gives 0 or infinity where
    /// `|n| > 192`.
    static func exp8(_ x: Float) -> Float {
        let r: Float = 0x1.8p23
        let z = fma(x, 0x1.715476p+0, r)
        let n = z - r
        let b = fma(-n, 0x1.7f7d1cp-20, fma(-n, 0x1.62e4p-1, x))
        let e = z.bitPattern &<< 23
        let k = Float(bitPattern: e &+ Float(1).bitPattern)
        let u = b * b
        let j = fma(fma(fma(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
                    0x1.ffffecp-1 * b)
        // Comparisons are ordered: false for NaN, which then takes the first form.
        guard abs(n) > 126 else { return fma(k, j, k) }
        let g: UInt32 = n <= 0 ? 0x8200_0000 : 0
        let s1 = Float(bitPattern: g &+ 0x7F00_0000)
        if abs(n) > 192 { return s1 * s1 }
        let s2 = Float(bitPattern: e &- g)
        return fma(s2, j, s2) * s1
    }

    /// One lane of `ggml_v_expf` (AVX-512): `2^n * p(b)` with `n = round(x / ln 2)`, 0 or infinity
    /// where `|n| > 192`.
    static func exp16(_ x: Float) -> Float {
        let r: Float = 0x1.8p23
        let z = fma(x, 0x1.715476p+0, r)
        let n = z - r
        guard !n.isNaN else { return .nan }
        if abs(n) > 192 { return n <= 0 ? 0 : .infinity }
        let b = fma(-n, 0x1.7f7d1cp-20, fma(-n, 0x1.62e4p-1, x))
        let u = b * b
        let j = fma(fma(fma(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u,
                    fma(0x1.ffffecp-1, b, 1))
        // _mm512_scalef_ps(j, n): j * 2^n rounded once (n is integral here).
        return Float(sign: .plus, exponent: Int(n), significand: j)
    }

    /// One lane of `ggml_v_silu`: `x / (1 + exp(0 - x))` with ``exp(_:build:)``.
    @inline(__always) static func silu(_ x: Float, build: Build = build) -> Float { x / (1 + exp(0 - x, build: build)) }

    /// `ggml_vec_swiglu_f32`: `silu(gate) * up` in whole vectors of `build`, the rest (fewer than
    /// a vector) with `expf` as ggml's scalar `ggml_silu_f32`.
    static func swiglu(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int, build: Build = build) {
        let vectorized = count - count % build.lanes
        for i in 0..<vectorized { gate[i] = silu(gate[i], build: build) * up[i] }
        for i in vectorized..<count { gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i] }
    }

    /// The sum of the `ggml_vec_soft_max_f32` exponentials in one vector of `build` (the lanes
    /// past `count` are zero): `_mm512_reduce_add_ps` or AVX2's `hsum`.
    @inline(__always) static func chunkSum(_ lanes: Lanes, build: Build) -> Float {
        build == .avx512 ? reduce(lanes) : hsum(lanes.lowHalf)
    }

    /// Reduces `count` FMA accumulator rows (each `d` floats, position `j` fed row `j % count`)
    /// into output value `i`, as ggml's kernel of that width finishes: `tinyBLAS` (one vector,
    /// `hsum` or `_mm512_reduce_add_ps`) or `ggml_vec_dot_f32` (four vectors, `GGML_F32_VEC_REDUCE`).
    @inline(__always) static func reduceAccumulators(_ acc: UnsafePointer<Float>, d: Int, i: Int, batched: Bool, build: Build) -> Float {
        switch (build, batched) {
        case (.avx512, true):
            var l = Lanes()
            for j in 0..<16 { l[j] = acc[j * d + i] }
            return reduce(l)
        case (.avx512, false):
            var l = Lanes()
            for j in 0..<16 { l[j] = (acc[j * d + i] + acc[(j + 32) * d + i]) + (acc[(j + 16) * d + i] + acc[(j + 48) * d + i]) }
            return reduce(l)
        case (.avx2, true):
            var l = SIMD8<Float>()
            for j in 0..<8 { l[j] = acc[j * d + i] }
            return hsum(l)
        case (.avx2, false):
            var l = SIMD8<Float>()
            for j in 0..<8 { l[j] = (acc[j * d + i] + acc[(j + 16) * d + i]) + (acc[(j + 8) * d + i] + acc[(j + 24) * d + i]) }
            return haddReduce(l)
        }
    }

    /// The dot product ggml's CPU backend (x86, AVX2 and AVX-512) would compute for one row of a
    /// `type` matrix of `rows` rows with input row `index` of a product of `count` input rows,
    /// where its float order differs from the row kernels' AVX2 variants; nil where those already
    /// are ggml's order.
    ///
    /// - Q4_0 with a multiple of 8 rows: repacked (`q4_0_8x8`), block by block with one FMA each.
    /// - Q4_K with a multiple of 8 rows: repacked (`q4_K_8x8`): `gemm` for the input rows in whole
    ///   groups of 4, `gemv` for the rest (and one token).
    /// - Q3_K, Q5_K, Q6_K: `vec_dot` below 8 input rows, the tiled GEMM (`ggml-cpu/tiled`) from 8.
    ///   (Q5_K and Q3_K in portable C only, several times slower than the row kernels.)
    /// - Q2_K with a multiple of 8 rows in the AVX-512 order (where ggml repacks it, `q2_K_8x8`):
    ///   as Q4_K, `gemm` per 128 values. Portable C only.
    /// - Not reproduced: TQ1_0/TQ2_0; with a row count that is not a multiple of 8, Q4_K's and
    ///   Q2_K's `vec_dot` and tiled GEMM; Q2_K in the AVX2 order.
    static func kernel(type: GGMLType, rows: Int, count: Int, index: Int) -> WeightMatrix.Storage.Dot? {
        switch type {
        case .q4_0 where rows % 8 == 0: dotQ4_0Repacked
        case .q4_K where rows % 8 == 0: index < count - count % 4 ? loco_ggml_gemm_dot_q4_K_q8_K : loco_ggml_gemv_dot_q4_K_q8_K
        case .q2_K where rows % 8 == 0 && build == .avx512:
            index < count - count % 4 ? loco_ggml_gemm_dot_q2_K_q8_K : loco_ggml_gemv_dot_q2_K_q8_K
        case .q3_K: count >= tiledMinimumCount ? loco_ggml_tiled_dot_q3_K_q8_K : loco_ggml_vec_dot_q3_K_q8_K
        case .q5_K: count >= tiledMinimumCount ? loco_ggml_tiled_dot_q5_K_q8_K : loco_ggml_vec_dot_q5_K_q8_K
        case .q6_K: count >= tiledMinimumCount ? loco_ggml_tiled_dot_q6_K_q8_K : loco_ggml_vec_dot_q6_K_q8_K
        case .tq1_0: loco_ggml_vec_dot_tq1_0_q8_K
        case .tq2_0: loco_ggml_vec_dot_tq2_0_q8_K
        default: nil
        }
    }

    /// Input rows from which ggml's K-quant products go through its tiled GEMM.
    static let tiledMinimumCount = 8

    /// The dot product of a Q4_0 row with Q8_0 activations as ggml's repacked Q4_0 kernels
    /// (`gemv`/`gemm_q4_0_8x8_q8_0`) compute it: each block's integer sum, then
    /// `acc = fma(sum, d_w * d_a, acc)` block after block in one lane.
    static let dotQ4_0Repacked: @convention(c) (Int, UnsafeRawPointer?, UnsafeRawPointer?) -> Float = { n, w, a in
        guard let w, let a else { return 0 }
        var acc: Float = 0
        for b in 0..<(n / 32) {
            let wb = w + b * 18, ab = a + b * 34
            // Values (-8...7) times activations (|a| <= 127) fit 16 bits.
            let q = wb.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            let low = SIMD16<Int16>(truncatingIfNeeded: q & 15) &- 8, high = SIMD16<Int16>(truncatingIfNeeded: q &>> 4) &- 8
            let a0 = SIMD16<Int16>(truncatingIfNeeded: ab.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self))
            let a1 = SIMD16<Int16>(truncatingIfNeeded: ab.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self))
            let sum = (SIMD16<Int32>(truncatingIfNeeded: low &* a0) &+ SIMD16<Int32>(truncatingIfNeeded: high &* a1)).wrappedSum()
            let scale = loco_f16_to_f32_scalar(wb.loadUnaligned(as: UInt16.self)) * loco_f16_to_f32_scalar(ab.loadUnaligned(as: UInt16.self))
            acc = fma(Float(sum), scale, acc)
        }
        return acc
    }
}
