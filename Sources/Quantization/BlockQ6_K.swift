import GGUFFormat

/// Q6_K: 256 values in 210 bytes, 6.5625 bits a value.
///
/// Layout (`block_q6_K`): `ql[128]` (low 4 bits; per 128 values, 64 bytes: values `l` and
/// `l + 32` in the low nibbles of bytes `l` and `l + 32`, values `l + 64` and `l + 96` in their
/// high nibbles), `qh[64]` (high 2 bits; per 128 values, byte `l` holds values `l + 32*s` in bits
/// `2s`), `scales: int8[16]` (one per 16 values), `d: half`. A value is `(d*sc) * (q - 32)`.
///
/// `quantize` is byte-identical with ggml's `quantize_row_q6_K_ref`: per 16 values
/// `make_qx_quants(16, 32, rmse_type 1)`, scales rounded to 8 bits against the scale of largest
/// magnitude (`d = -max_scale/128`, signed), values re-quantized as `nearest_int(x / (d*sc))`
/// clamped to -32...31; a block whose scales are all below 1e-15 is all zero bytes. `dequantize` is
/// bit-identical with `dequantize_row_q6_K` and gguf-py. Both are checked against ggml's own output
/// in `KQuantTests`.
public enum Q6_KFormat: BlockFormat {
    public static let type = GGMLType.q6_K

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scalesBuffer in
                let L = levels.baseAddress!
                let scales = scalesBuffer.baseAddress!
                for block in 0..<blocks {
                    let x = source + 256 * block
                    let y = destination + 210 * block
                    var maxScale: Float = 0
                    var maxAbsScale: Float = 0
                    for j in 0..<16 {
                        scales[j] = KQuant.makeQXQuants(count: 16, nmax: 32, x + 16 * j, levels: L + 16 * j)
                        let magnitude = abs(scales[j])
                        if magnitude > maxAbsScale {
                            maxAbsScale = magnitude
                            maxScale = scales[j]
                        }
                    }
                    if maxAbsScale < KQuant.groupMaxEpsilon {
                        y.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                        continue
                    }
                    let iscale = -128 / maxScale
                    QuantMath.storeHalf(1 / iscale, y, at: 208)
                    let blockScales = (y + 192).assumingMemoryBound(to: Int8.self)
                    for j in 0..<16 {
                        blockScales[j] = Int8(truncatingIfNeeded: Swift.min(127, QuantMath.nearestInt(iscale * scales[j])))
                    }
                    let d = QuantMath.loadHalf(y, at: 208)
                    for j in 0..<16 {
                        let dj = d * Float(blockScales[j])
                        if dj == 0 { continue }
                        for ii in 0..<16 {
                            L[16 * j + ii] = Int8(truncatingIfNeeded: KQuant.clamp(QuantMath.nearestInt(x[16 * j + ii] / dj), -32, 31) + 32)
                        }
                    }
                    let ql = y.assumingMemoryBound(to: UInt8.self)
                    let qh = ql + 128
                    for half in 0..<2 {
                        let lv = UnsafeRawPointer(L + 128 * half).assumingMemoryBound(to: UInt8.self)
                        let low = ql + 64 * half, high = qh + 32 * half
                        for l in 0..<32 {
                            low[l] = (lv[l] & 0xF) | ((lv[l + 64] & 0xF) << 4)
                            low[l + 32] = (lv[l + 32] & 0xF) | ((lv[l + 96] & 0xF) << 4)
                            high[l] = (lv[l] >> 4) | ((lv[l + 32] >> 4) << 2) | ((lv[l + 64] >> 4) << 4) | ((lv[l + 96] >> 4) << 6)
                        }
                    }
                }
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for block in 0..<blocks {
            let x = source + 210 * block
            let y = destination + 256 * block
            let d = QuantMath.loadHalf(x, at: 208)
            let bytes = x.assumingMemoryBound(to: UInt8.self)
            let scales = (x + 192).assumingMemoryBound(to: Int8.self)
            for half in 0..<2 {
                let ql = bytes + 64 * half, qh = bytes + 128 + 32 * half
                let sc = scales + 8 * half
                let out = y + 128 * half
                for l in 0..<32 {
                    let group = l / 16
                    let q1 = Int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
                    let q2 = Int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                    let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    out[l] = d * Float(sc[group]) * Float(q1)
                    out[l + 32] = d * Float(sc[group + 2]) * Float(q2)
                    out[l + 64] = d * Float(sc[group + 4]) * Float(q3)
                    out[l + 96] = d * Float(sc[group + 6]) * Float(q4)
                }
            }
        }
    }
}
