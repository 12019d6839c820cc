import CKernels
import Foundation

/// Element-wise activations and the softmax, in ggml's formulas (its scalar forms; its SIMD
/// forms use a polynomial exp within an ulp or two of `expf`).
public enum Activations {
    /// SiLU: `x / (1 + exp(-x))`.
    @inlinable public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))`.
    @inlinable public static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.797_884_560_802_865_355_88 * x * (1 + 0.044715 * x * x)))
    }

    /// SwiGLU of a gated feed-forward layer: `gate[i] = silu(gate[i]) * up[i]`, in place; with
    /// ``Numerics/llamaCpp`` through ggml's vectorized exp (`ggml_v_silu`), as llama.cpp computes it.
    public static func swiglu(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int, numerics: Numerics = .fast) {
        switch numerics {
        case .fast: loco_swiglu_f32(gate, up, count)
        case .llamaCpp: GGMLNumerics.swiglu(gate: gate, up: up, count: count)
        }
    }

    /// GeGLU: `gate[i] = gelu(gate[i]) * up[i]`, in place, as ggml computes it (`ggml_vec_geglu_f32`
    /// with `GGML_GELU_FP16`, its default): 0 at or below -10, `x` at or above 10, otherwise the
    /// input rounded to F16 looks up a table of `gelu` rounded to F16. The table costs 256 KB once
    /// and is faster than `tanhf`; its error (at most half an F16 ulp of the input and of the
    /// result) is what llama.cpp runs Gemma with, so both numerics use it.
    /// The inputs are rounded to F16 a chunk at a time by the vector conversion (the same
    /// round-to-nearest-even as `Float16(x)`, which on x86 is a library call per value); with a
    /// `pool`, the values are split across its workers.
    public static func geglu(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int, pool: ComputePool? = nil) {
        guard let pool, count >= 16384 else { return gegluRange(gate: gate, up: up, range: 0..<count) }
        pool.forEachRange(count) { gegluRange(gate: gate, up: up, range: $0) }
    }

    private static func gegluRange(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, range: Range<Int>) {
        let chunk = 256
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: chunk) { halves in
            geluTable.withUnsafeBufferPointer { table in
                var start = range.lowerBound
                while start < range.upperBound {
                    let n = min(chunk, range.upperBound - start)
                    loco_f32_to_f16_row(gate + start, halves.baseAddress!, n)
                    for j in 0..<n {
                        let i = start + j, x = gate[i]
                        if x <= -10 {
                            gate[i] = 0
                        } else if x >= 10 {
                            gate[i] = x * up[i]
                        } else {
                            gate[i] = table[Int(halves[j])] * up[i]
                        }
                    }
                    start += n
                }
            }
        }
    }

    /// The derivative of ``geglu(gate:up:count:)``'s GELU at `x` (of the exact tanh form: the
    /// table's steps have no useful slope).
    @inlinable public static func geluDerivative(_ x: Float) -> Float {
        let k: Float = 0.797_884_560_802_865_355_88
        let inner = k * x * (1 + 0.044715 * x * x)
        let t = tanhf(inner)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    }

    /// `ggml_table_gelu_f16` widened: entry `h` is `gelu(float(h))` rounded to F16, for every F16
    /// bit pattern `h`.
    static let geluTable: [Float] = (0..<65536).map { bits in
        Float(Float16(gelu(Float(Float16(bitPattern: UInt16(bits))))))
    }

    /// Softmax of `count` values in place: subtract the maximum, exp, divide by the sum, with a
    /// vectorized exp within 2 ulp of `expf` (CKernels' `loco_softmax_f32`). ggml's exact order is
    /// ``GGMLNumerics``' business.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        loco_softmax_f32(x, count)
    }

    public static func softmax(_ x: [Float]) -> [Float] {
        var y = x
        y.withUnsafeMutableBufferPointer { softmax($0.baseAddress!, count: $0.count) }
        return y
    }
}
