import GGUFFormat

/// Q8_0: 32 values a block, 34 bytes: `d: half`, `qs: int8[32]`; `x = q * d`.
///
/// Quantize is ggml's `quantize_row_q8_0_ref` (what llama-quantize writes to files):
/// `d = amax / 127`, `q = roundf(x * (1/d))`, rounding half away from zero. ggml's CPU backend
/// quantizes activations differently (x86: `x * (127/amax)` rounded half to even), so this is the
/// weight quantizer, not the activation one. Dequantize is ggml's `dequantize_row_q8_0`
/// (`q * d`). Checked byte for byte against ggml (fixtures and the live peer) and gguf-py
/// (fixture script).
public enum Q8_0Format: BlockFormat {
    public static let type = GGMLType.q8_0

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 32
            let y = destination + b * 34
            let d = QuantMath.absMax(x, count: 32) / 127
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 0)
            for j in 0..<32 {
                y.storeBytes(of: QuantMath.roundfToInt8(x[j] * id), toByteOffset: 2 + j, as: Int8.self)
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 34
            let y = destination + b * 32
            let d = QuantMath.loadHalf(x, at: 0)
            for j in 0..<32 {
                y[j] = Float(x.load(fromByteOffset: 2 + j, as: Int8.self)) * d
            }
        }
    }
}
