import GGUFFormat

/// TQ2_0 (ternary, 2 bits a value): 256 values a block, 66 bytes: `qs[64]`, `d: half`. Within each
/// 32-byte half of `qs`, byte `m` holds values `m`, `m + 32`, `m + 64`, `m + 96` of that half's
/// 128 in bit pairs 0-1, 2-3, 4-5, 6-7, each stored as `q + 1` in {0, 1, 2}; `x = (q - 1) * d`.
///
/// Quantize is ggml's `quantize_row_tq2_0_ref`: `d = amax` over the 256 values,
/// `q = lroundf(x * (1/d)) + 1`, rounding half away from zero. Dequantize is ggml's
/// `dequantize_row_tq2_0` (`Float(q - 1) * d`). Checked byte for byte against ggml (fixtures and
/// the live peer) and gguf-py (fixture script).
public enum TQ2_0Format: BlockFormat {
    public static let type = GGMLType.tq2_0

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 256
            let y = destination + b * 66
            let d = QuantMath.absMax(x, count: 256)
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 64)
            for half in 0..<2 {
                let xh = x + 128 * half
                for m in 0..<32 {
                    var q: UInt8 = 0
                    for n in 0..<4 {
                        let t = Int32(truncatingIfNeeded: QuantMath.lround(xh[m + 32 * n] * id)) &+ 1
                        q &+= UInt8(truncatingIfNeeded: (t & 3) << (2 * n))
                    }
                    y.storeBytes(of: q, toByteOffset: 32 * half + m, as: UInt8.self)
                }
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 66
            var y = destination + b * 256
            let d = QuantMath.loadHalf(x, at: 64)
            for half in 0..<2 {
                for l in 0..<4 {
                    for m in 0..<32 {
                        let q = (x.load(fromByteOffset: 32 * half + m, as: UInt8.self) >> (2 * l)) & 3
                        y[m] = Float(Int32(q) - 1) * d
                    }
                    y += 32
                }
            }
        }
    }
}
