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

    /// GeGLU: `gate[i] = gelu(gate[i]) * up[i]`, in place.
    public static func geglu(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gate[i] = gelu(gate[i]) * up[i] }
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
