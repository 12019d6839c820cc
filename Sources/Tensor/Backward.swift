import CKernels
import Foundation

// The backward of each elementwise and normalization op, beside the forward it differentiates
// (Normalization.swift, RotaryEmbedding.swift, Activations.swift). Training differentiates the
// float function the forward computes; each backward takes the forward's inputs, not its outputs,
// so nothing but the inputs has to be kept.

extension Normalization {
    /// The gradient of ``rmsNorm(_:rows:width:weight:epsilon:into:)`` with respect to its input:
    /// with `r = 1 / sqrt(mean(x^2) + epsilon)` and `y = x r w`,
    /// `dx = r (dy w) - x r^3 / width * sum(dy w x)`. Adds into `dx` when `accumulate`, else writes
    /// it. `weight` nil is a weight of ones. The weight is frozen: no gradient for it.
    public static func rmsNormBackward(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>?, epsilon: Float,
        outputGradient dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        for r in 0..<rows {
            let row = x + r * width, g = dy + r * width, out = dx + r * width
            var squares = 0.0
            for i in 0..<width { squares += Double(row[i] * row[i]) }
            let mean = Float(squares / Double(width))
            let scale = 1 / (mean + epsilon).squareRoot()
            var dot = 0.0
            if let weight {
                for i in 0..<width { dot += Double(g[i] * weight[i] * row[i]) }
            } else {
                for i in 0..<width { dot += Double(g[i] * row[i]) }
            }
            let correction = Float(dot) * scale * scale * scale / Float(width)
            for i in 0..<width {
                let value = scale * g[i] * (weight?[i] ?? 1) - row[i] * correction
                out[i] = accumulate ? out[i] + value : value
            }
        }
    }
}

extension RotaryEmbedding {
    /// The backward of ``apply(_:heads:headDimension:angles:)``: a rotation's gradient is the
    /// rotation by the opposite angle, `(g0, g1) -> (g0 cos + g1 sin, -g0 sin + g1 cos)`, in place.
    public func applyBackward(_ g: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, angles table: UnsafePointer<Float>) {
        let half = dimensions / 2
        for h in 0..<heads {
            let v = g + h * headDimension
            for i in 0..<half {
                let c = table[2 * i], s = table[2 * i + 1]
                let (a, b) = style == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                let g0 = v[a], g1 = v[b]
                v[a] = g0 * c + g1 * s
                v[b] = g1 * c - g0 * s
            }
        }
    }
}

extension Activations {
    /// The backward of ``swiglu(gate:up:count:numerics:)`` (`h = silu(g) u`): from `dh`, writes
    /// `dGate = dh u silu'(g)` with `silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g)))`, and
    /// `dUp = dh silu(g)` (vectorized exp, as the forward's). `dGate` may be `dh`.
    public static func swigluBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, outputGradient dh: UnsafePointer<Float>, count: Int,
        gateGradient dGate: UnsafeMutablePointer<Float>, upGradient dUp: UnsafeMutablePointer<Float>
    ) {
        loco_swiglu_backward_f32(gate, up, dh, dGate, dUp, count)
    }

    /// GeGLU with the exact tanh GELU, `gate[i] = gelu(gate[i]) * up[i]` in place: the float
    /// function training differentiates (inference's ``geglu(gate:up:count:)`` looks GELU up in
    /// ggml's F16 table, within an F16 ulp of this, whose steps have no slope to train on).
    public static func gegluExact(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gate[i] = gelu(gate[i]) * up[i] }
    }

    /// The backward of ``gegluExact(gate:up:count:)`` (`h = gelu(g) u`): writes
    /// `dGate = dh u gelu'(g)` and `dUp = dh gelu(g)`. `dGate` may be `dh`.
    public static func gegluBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, outputGradient dh: UnsafePointer<Float>, count: Int,
        gateGradient dGate: UnsafeMutablePointer<Float>, upGradient dUp: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<count {
            let g = gate[i], d = dh[i]
            dUp[i] = d * gelu(g)
            dGate[i] = d * up[i] * geluDerivative(g)
        }
    }
}
