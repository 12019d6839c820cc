/// F32 matrix products in the float order of llama.cpp's CPU backend, for the small F32 products
/// that run beside the quantized ones (a LoRA adapter's factors) when results must be
/// bit-identical with llama.cpp (``Numerics/llamaCpp``).
///
/// ggml multiplies an F32 matrix by two or more F32 input rows through llamafile's `tinyBLAS` when
/// the inner dimension is a multiple of the vector width (16 on AVX-512, 8 on AVX2) and the rows a
/// multiple of 4: each output has one accumulator vector, the products of inner positions `l + j`
/// fused into lane `j` chunk after chunk, and the lanes reduced as `_mm512_reduce_add_ps` or
/// AVX2's `hsum`. One input row (`llamafile_sgemm` declines `n < 2`), or another shape, goes
/// through `ggml_vec_dot_f32` per output.
public enum GGMLFloatProducts {
    /// `c[j * m + i] = sum over l < k of a[i * k + l] * b[j * k + l]`: `a` is `m` x `k` (row-major,
    /// ggml's src0), `b` is `n` x `k` (src1), `c` is `n` x `m`.
    public static func multiply(
        _ a: UnsafePointer<Float>, rows m: Int, _ b: UnsafePointer<Float>, count n: Int, inner k: Int,
        into c: UnsafeMutablePointer<Float>
    ) {
        let build = GGMLNumerics.build
        let tiny = k % build.lanes == 0 && m % 4 == 0 && n > 1
        for j in 0..<n {
            let column = b + j * k
            for i in 0..<m {
                let row = a + i * k
                c[j * m + i] = tiny ? tinyBLASDot(k, row, column, build: build) : GGMLNumerics.dot(k, row, column, build: build)
            }
        }
    }

    /// One output of `tinyBLAS` (F32): one vector of FMA lanes over the inner dimension, reduced.
    static func tinyBLASDot(_ k: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, build: GGMLNumerics.Build) -> Float {
        var lanes = GGMLNumerics.Lanes()
        var l = 0
        let width = build.lanes
        while l < k {
            for j in 0..<width { lanes[j] = GGMLNumerics.fma(x[l + j], y[l + j], lanes[j]) }
            l += width
        }
        return build == .avx512 ? GGMLNumerics.reduce(lanes) : GGMLNumerics.hsum(lanes.lowHalf)
    }
}
