import GGUFFormat

/// Q5_1: 32 values a block, 24 bytes: `d: half`, `m: half`, `qh[4]` (bit `j` of the little-endian
/// 32-bit word is the fifth bit of value `j`), `qs[16]` (low nibbles as in Q4_1); `x = q * d + m`.
///
/// Quantize is ggml's `quantize_row_q5_1_ref`: `d = (max - min) / 31`, `m = min`,
/// `q = (uint8_t)((x - min) * (1/d) + 0.5)`, truncating (ggml does not clamp this one), every
/// operation rounded on its own (no fused multiply-add, like the oracle). Dequantize is ggml's
/// `dequantize_row_q5_1` (`q * d + m`, product rounded first). Checked byte for byte against ggml
/// (fixtures and the live peer) and gguf-py (fixture script).
public enum Q5_1Format: BlockFormat {
    public static let type = GGMLType.q5_1

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 32
            let y = destination + b * 24
            let (lo, hi) = QuantMath.minMax(x, count: 32)
            let d = (hi - lo) / 31
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 0)
            QuantMath.storeHalf(lo, y, at: 2)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let x0 = (x[j] - lo) * id
                let x1 = (x[j + 16] - lo) * id
                let q0 = UInt8(truncatingIfNeeded: QuantMath.truncatingToInt32(x0 + 0.5))
                let q1 = UInt8(truncatingIfNeeded: QuantMath.truncatingToInt32(x1 + 0.5))
                y.storeBytes(of: (q0 & 0x0F) | (q1 & 0x0F) << 4, toByteOffset: 8 + j, as: UInt8.self)
                qh |= UInt32((q0 & 0x10) >> 4) << j
                qh |= UInt32((q1 & 0x10) >> 4) << (j + 16)
            }
            y.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 24
            let y = destination + b * 32
            let d = QuantMath.loadHalf(x, at: 0)
            let m = QuantMath.loadHalf(x, at: 2)
            let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = x.load(fromByteOffset: 8 + j, as: UInt8.self)
                let h0 = UInt32((qh >> j) << 4 & 0x10)
                let h1 = UInt32((qh >> (j + 12)) & 0x10)
                y[j] = Float(UInt32(q & 0x0F) | h0) * d + m
                y[j + 16] = Float(UInt32(q >> 4) | h1) * d + m
            }
        }
    }
}
