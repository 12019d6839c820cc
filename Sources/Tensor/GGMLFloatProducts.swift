/// F32 matrix products in the float order of llama.cpp's CPU backend, for the small F32 products
/// that run beside the quantized ones (a LoRA adapter's factors) when results must be
/// bit-identical with llama.cpp (``Numerics/llamaCpp``).
///
/// ggml multiplies an F32 matrix by two or more F32 input rows through llamafile's `tinyBLAS` when
/// the inner dimension is a multiple of 16 (AVX-512): each output has one 16-lane accumulator, the
/// products of inner positions `l + j` fused into lane `j` chunk after chunk, and the lanes
/// reduced as `_mm512_reduce_add_ps`. One input row (`llamafile_sgemm` declines `n < 2`), or
/// another inner dimension, goes through `ggml_vec_dot_f32` per output.
public enum GGMLFloatProducts {
    /// `c[j * m + i] = sum over l < k of a[i * k + l] * b[j * k + l]`: `a` is `m` x `k` (row-major,
    /// ggml's src0), `b` is `n` x `k` (src1), `c` is `n` x `m`.
    public static func multiply(
        _ a: UnsafePointer<Float>, rows m: Int, _ b: UnsafePointer<Float>, count n: Int, inner k: Int,
        into c: UnsafeMutablePointer<Float>
    ) {
        for j in 0..<n {
            let column = b + j * k
            for i in 0..<m {
                let row = a + i * k
                c[j * m + i] = k % 16 == 0 && n > 1 ? tinyBLASDot(k, row, column) : GGMLNumerics.dot(k, row, column)
            }
        }
    }

    /// One output of `tinyBLAS` (AVX-512, F32): 16 FMA lanes over the inner dimension, reduced.
    static func tinyBLASDot(_ k: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        var lanes = GGMLNumerics.Lanes()
        var l = 0
        while l < k {
            for j in 0..<16 { lanes[j] = GGMLNumerics.fma(x[l + j], y[l + j], lanes[j]) }
            l += 16
        }
        return GGMLNumerics.reduce(lanes)
    }
}
