import GGUFFormat

/// Q4_1: 32 values a block, 20 bytes: `d: half`, `m: half`, `qs[16]` (value `j` in the low nibble
/// of byte `j`, value `j + 16` in its high nibble); `x = q * d + m`.
///
/// Quantize is ggml's `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`,
/// `q = min(15, (int8_t)((x - min) * (1/d) + 0.5))`, truncating, every operation rounded on its
/// own (no fused multiply-add, like the oracle). Dequantize is ggml's `dequantize_row_q4_1`:
/// `q * d + m`, product rounded before the sum (gguf-py's `(d * qs) + m` is the same). Checked byte
/// for byte against ggml (fixtures and the live peer) and gguf-py (fixture script).
public enum Q4_1Format: BlockFormat {
    public static let type = GGMLType.q4_1

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 32
            let y = destination + b * 20
            let (lo, hi) = QuantMath.minMax(x, count: 32)
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 0)
            QuantMath.storeHalf(lo, y, at: 2)
            for j in 0..<16 {
                let x0 = (x[j] - lo) * id
                let x1 = (x[j + 16] - lo) * id
                let q0 = min(15, Int8(truncatingIfNeeded: QuantMath.truncatingToInt32(x0 + 0.5)))
                let q1 = min(15, Int8(truncatingIfNeeded: QuantMath.truncatingToInt32(x1 + 0.5)))
                y.storeBytes(of: UInt8(bitPattern: q0) | UInt8(bitPattern: q1) << 4, toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 20
            let y = destination + b * 32
            let d = QuantMath.loadHalf(x, at: 0)
            let m = QuantMath.loadHalf(x, at: 2)
            for j in 0..<16 {
                let q = x.load(fromByteOffset: 4 + j, as: UInt8.self)
                y[j] = Float(q & 0x0F) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
        }
    }
}
