import GGUFFormat

/// Q5_0: 32 values a block, 22 bytes: `d: half`, `qh[4]` (bit `j` of the little-endian 32-bit word
/// is the fifth bit of value `j`), `qs[16]` (low nibbles: value `j` in byte `j`'s low half, value
/// `j + 16` in its high half); `x = d * (q - 16)`.
///
/// Quantize is ggml's `quantize_row_q5_0_ref`: `max` is the value of largest magnitude (sign
/// kept, first on ties), `d = max / -16`, `q = min(31, (int8_t)(x * (1/d) + 16.5))`, truncating,
/// product rounded before the addition (no fused multiply-add, like the oracle). An all-zero block
/// stores `d = -0.0`, as ggml does (gguf-py stores +0.0 for a block of `-0.0`). Dequantize is
/// ggml's `dequantize_row_q5_0` (`(q - 16) * d`). Checked byte for byte against ggml (fixtures and
/// the live peer) and gguf-py (fixture script).
public enum Q5_0Format: BlockFormat {
    public static let type = GGMLType.q5_0

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 32
            let y = destination + b * 22
            let d = QuantMath.signedMax(x, count: 32).max / -16
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 0)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let x0 = x[j] * id
                let x1 = x[j + 16] * id
                let q0 = UInt8(bitPattern: min(31, Int8(truncatingIfNeeded: QuantMath.truncatingToInt32(x0 + 16.5))))
                let q1 = UInt8(bitPattern: min(31, Int8(truncatingIfNeeded: QuantMath.truncatingToInt32(x1 + 16.5))))
                y.storeBytes(of: (q0 & 0x0F) | (q1 & 0x0F) << 4, toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32((q0 & 0x10) >> 4) << j
                qh |= UInt32((q1 & 0x10) >> 4) << (j + 16)
            }
            y.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 22
            let y = destination + b * 32
            let d = QuantMath.loadHalf(x, at: 0)
            let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = x.load(fromByteOffset: 6 + j, as: UInt8.self)
                let h0 = Int32((qh >> j) << 4 & 0x10)
                let h1 = Int32((qh >> (j + 12)) & 0x10)
                y[j] = Float((Int32(q & 0x0F) | h0) - 16) * d
                y[j + 16] = Float((Int32(q >> 4) | h1) - 16) * d
            }
        }
    }
}
