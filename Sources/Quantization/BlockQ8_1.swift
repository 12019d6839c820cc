import GGUFFormat

/// Q8_1: 32 values a block, 36 bytes: `d: half`, `s: half`, `qs: int8[32]`; `x = q * d`, and
/// `s = d * sum(q)` for the dot products of the `_1` weight formats (their minimum times `s`).
///
/// The block is ggml's current `block_q8_1` (two halves, 36 bytes); gguf-py's `GGML_QUANT_SIZES`
/// still lists the old 40-byte layout with two floats.
///
/// Quantize is ggml's `quantize_row_q8_1_ref`: as Q8_0 (`d = amax / 127`, `q = roundf(x * (1/d))`)
/// plus `s = half(Float(sum) * d)` with the float `d`, not its half. ggml has no dequantizer for
/// Q8_1 (and gguf-py none either), so dequantize is `q * d` with the half `d`, as for Q8_0: checked
/// only by that definition. Quantize is checked byte for byte against ggml (fixtures and the live
/// peer).
public enum Q8_1Format: BlockFormat {
    public static let type = GGMLType.q8_1
    static let blockBytes = GGMLType.q8_1.blockBytes

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 32
            let y = destination + b * blockBytes
            let d = QuantMath.absMax(x, count: 32) / 127
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 0)
            var sum: Int32 = 0
            for j in 0..<32 {
                let q = QuantMath.roundfToInt8(x[j] * id)
                y.storeBytes(of: q, toByteOffset: 4 + j, as: Int8.self)
                sum += Int32(q)
            }
            QuantMath.storeHalf(Float(sum) * d, y, at: 2)
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * blockBytes
            let y = destination + b * 32
            let d = QuantMath.loadHalf(x, at: 0)
            for j in 0..<32 {
                y[j] = Float(x.load(fromByteOffset: 4 + j, as: Int8.self)) * d
            }
        }
    }
}
