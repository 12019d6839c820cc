import Foundation

/// Rotary position embedding (RoPE) as ggml's `rope_ext` computes it without YaRN: for pair `i`
/// of the first `dimensions` values of a head, angle `position * base^(-2i/dimensions)` (divided
/// by `frequencyFactors[i]` when given, times `frequencyScale`), rotating
/// `(x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)`. Values past `dimensions` pass through.
///
/// The angles are built as ggml builds them (the float `theta` multiplied by `theta_scale` pair
/// after pair, `cosf`/`sinf` of the float), and the rotation is contracted to fused multiply-adds
/// as GCC compiles ggml's rotation (`fma(x0, cos, -(x1*sin))`, `fma(x0, sin, x1*cos)`), so results match it to
/// the bit.
public struct RotaryEmbedding: Sendable, Equatable {
    /// Which values form a pair.
    public enum Style: Sendable, Equatable {
        /// Adjacent values `(2i, 2i + 1)`: ggml's normal mode (llama; the converter permuted Q and K).
        case interleaved
        /// Values `(i, i + dimensions/2)`: ggml's NEOX mode (qwen2, qwen3, gemma).
        case halves
    }

    public let style: Style
    /// Values of each head that are rotated (`rope.dimension_count`), even.
    public let dimensions: Int
    public let base: Float
    /// Multiplies every angle (1 / linear scaling factor).
    public let frequencyScale: Float
    /// Per-pair divisors of the angle (Llama 3's `rope_freqs.weight`), `dimensions / 2` of them.
    public let frequencyFactors: [Float]?

    public init(style: Style, dimensions: Int, base: Float, frequencyScale: Float = 1, frequencyFactors: [Float]? = nil) {
        precondition(dimensions > 0 && dimensions % 2 == 0, "RoPE dimensions must be even and positive")
        precondition(frequencyFactors.map { $0.count >= dimensions / 2 } ?? true, "one frequency factor per pair")
        self.style = style
        self.dimensions = dimensions
        self.base = base
        self.frequencyScale = frequencyScale
        self.frequencyFactors = frequencyFactors
    }

    /// The cosines and sines for `position`: `dimensions` floats, `(cos, sin)` for each pair.
    public func angles(position: Int, into table: UnsafeMutablePointer<Float>) {
        let thetaScale = powf(base, -2 / Float(dimensions))
        var theta = Float(position)
        for i in 0..<(dimensions / 2) {
            let factor = frequencyFactors?[i] ?? 1
            let angle = frequencyScale * (theta / factor)
            table[2 * i] = cosf(angle)
            table[2 * i + 1] = sinf(angle)
            theta *= thetaScale
        }
    }

    /// Rotates `heads` consecutive heads of `headDimension` values in place, with the angles
    /// `table` (from ``angles(position:into:)``) of their position.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, angles table: UnsafePointer<Float>) {
        let half = dimensions / 2
        for h in 0..<heads {
            let v = x + h * headDimension
            switch style {
            case .interleaved:
                for i in 0..<half {
                    let c = table[2 * i], s = table[2 * i + 1]
                    let x0 = v[2 * i], x1 = v[2 * i + 1]
                    v[2 * i] = GGMLNumerics.fma(x0, c, -(x1 * s))
                    v[2 * i + 1] = GGMLNumerics.fma(x0, s, x1 * c)
                }
            case .halves:
                for i in 0..<half {
                    let c = table[2 * i], s = table[2 * i + 1]
                    let x0 = v[i], x1 = v[i + half]
                    v[i] = GGMLNumerics.fma(x0, c, -(x1 * s))
                    v[i + half] = GGMLNumerics.fma(x0, s, x1 * c)
                }
            }
        }
    }

    /// Rotates `x` (`heads` heads of `headDimension` values) for `position`, as a new array.
    public func applied(to x: [Float], heads: Int, headDimension: Int, position: Int) -> [Float] {
        precondition(x.count == heads * headDimension && dimensions <= headDimension)
        var table = [Float](repeating: 0, count: dimensions)
        angles(position: position, into: &table)
        var y = x
        y.withUnsafeMutableBufferPointer { apply($0.baseAddress!, heads: heads, headDimension: headDimension, angles: table) }
        return y
    }
}
