import GGUFFormat

/// Q4_0: 32 values a block, 18 bytes: `d: half`, `qs[16]` with value `j` in the low nibble of byte
/// `j` and value `j + 16` in its high nibble; `x = d * (q - 8)`.
///
/// Quantize is ggml's `quantize_row_q4_0_ref`: `max` is the value of largest magnitude (its sign
/// kept, the first on ties), `d = max / -8`, `q = min(15, (int8_t)(x * (1/d) + 8.5))`, truncating,
/// with the product rounded before the addition (no fused multiply-add, like the oracle; an FMA
/// build of ggml differs on values near the truncation boundaries). An all-zero block stores
/// `d = -0.0` (0x8000), as ggml does; gguf-py stores +0.0 when the block is all `-0.0`.
/// Dequantize is ggml's `dequantize_row_q4_0` (`(q - 8) * d` in float). Both are checked byte for
/// byte against ggml (fixtures and the live peer) and against gguf-py in the fixture script.
public enum Q4_0Format: BlockFormat {
    public static let type = GGMLType.q4_0

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 32
            let y = destination + b * 18
            let d = QuantMath.signedMax(x, count: 32).max / -8
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 0)
            for j in 0..<16 {
                let x0 = x[j] * id
                let x1 = x[j + 16] * id
                let q0 = min(15, Int8(truncatingIfNeeded: QuantMath.truncatingToInt32(x0 + 8.5)))
                let q1 = min(15, Int8(truncatingIfNeeded: QuantMath.truncatingToInt32(x1 + 8.5)))
                y.storeBytes(of: UInt8(bitPattern: q0) | UInt8(bitPattern: q1) << 4, toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 18
            let y = destination + b * 32
            let d = QuantMath.loadHalf(x, at: 0)
            for j in 0..<16 {
                let q = x.load(fromByteOffset: 2 + j, as: UInt8.self)
                y[j] = Float(Int32(q & 0x0F) - 8) * d
                y[j + 16] = Float(Int32(q >> 4) - 8) * d
            }
        }
    }
}
