import GGUFFormat

/// Q8_K: 256 values a block, 292 bytes: `d: float32`, `qs: int8[256]`, `bsums: int16[16]` with
/// `bsums[j]` the sum of `qs[16j ..< 16j + 16]`; `x = d * q`. The activation format the K-quant and
/// TQ dot products use; never stored in files.
///
/// Quantize is ggml's `quantize_row_q8_K_ref` (which its CPU backend also runs on activations):
/// `max` is the value of largest magnitude with its sign (first on ties), `iscale = -127 / max`,
/// `q = min(127, nearest_int(iscale * x))` (round half to even), `d = 1 / iscale`. An all-zero
/// block stores `d = 0` and zero quants; ggml leaves its `bsums` unwritten, here they are zero
/// (what ggml gives on zeroed memory). When `|max| < 127 / FLT_MAX` the scale overflows to infinity
/// and the quants follow `nearest_int`'s bit trick, as in ggml. Dequantize is ggml's
/// `dequantize_row_q8_K` (`d * q`). Both checked byte for byte against ggml (fixtures and the live
/// peer); gguf-py has no Q8_K.
public enum Q8_KFormat: BlockFormat {
    public static let type = GGMLType.q8_K

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 256
            let y = destination + b * 292
            let (max, amax) = QuantMath.signedMax(x, count: 256)
            guard amax != 0 else {
                y.initializeMemory(as: UInt8.self, repeating: 0, count: 292)
                continue
            }
            let iscale = -127 / max
            for j in 0..<16 {
                var sum: Int32 = 0
                for i in 16 * j ..< 16 * j + 16 {
                    let q = Int8(truncatingIfNeeded: min(127, QuantMath.nearestInt(iscale * x[i])))
                    y.storeBytes(of: q, toByteOffset: 4 + i, as: Int8.self)
                    sum += Int32(q)
                }
                y.storeBytes(of: Int16(truncatingIfNeeded: sum).littleEndian, toByteOffset: 260 + 2 * j, as: Int16.self)
            }
            y.storeBytes(of: (1 / iscale).bitPattern.littleEndian, toByteOffset: 0, as: UInt32.self)
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 292
            let y = destination + b * 256
            let d = Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
            for j in 0..<256 {
                y[j] = d * Float(x.load(fromByteOffset: 4 + j, as: Int8.self))
            }
        }
    }
}
