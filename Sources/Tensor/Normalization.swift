import Foundation

/// Normalization layers, computed as ggml computes them so float results agree to the last bits
/// where the operation order allows.
public enum Normalization {
    /// RMSNorm of `rows` rows of `width` values: `y = x * (1 / sqrt(mean(x^2) + epsilon)) * weight`.
    /// As ggml: the squares are summed in double precision, the mean and scale are floats, and the
    /// products go left to right. `weight` nil leaves out the last product; `y` may be `x`.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>?, epsilon: Float,
        into y: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let row = x + r * width
            let out = y + r * width
            var sum = 0.0
            for i in 0..<width { sum += Double(row[i] * row[i]) }
            let mean = Float(sum / Double(width))
            let scale = 1 / (mean + epsilon).squareRoot()
            if let weight {
                for i in 0..<width { out[i] = row[i] * scale * weight[i] }
            } else {
                for i in 0..<width { out[i] = row[i] * scale }
            }
        }
    }

    /// RMSNorm over arrays: `x` holds rows of `weight.count` values.
    public static func rmsNorm(_ x: [Float], weight: [Float], epsilon: Float) -> [Float] {
        precondition(!weight.isEmpty && x.count % weight.count == 0, "x must hold whole rows")
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    rmsNorm(xp.baseAddress!, rows: x.count / weight.count, width: weight.count, weight: wp.baseAddress!,
                            epsilon: epsilon, into: yp.baseAddress!)
                }
            }
        }
        return y
    }
}
