import GGUFFormat

/// Q2_K: 256 values in 84 bytes, 2.625 bits a value.
///
/// Layout (`block_q2_K`): `scales[16]` (per 16 values, low nibble = scale, high nibble = min),
/// `qs[64]` (2-bit levels; byte `32*h + l` holds values `128*h + l + 32*s` in bits `2s`),
/// `d: half`, `dmin: half`. A value is `d*sc * q - dmin*m`.
///
/// `quantize` is byte-identical with ggml's `quantize_row_q2_K_ref`: per 16 values
/// `make_qkx2_quants(16, 3, weights |x|, rmin -0.5, rdelta 0.1, 15 steps, absolute error)`, the
/// scales and mins rounded to 4 bits against their maxima (`d = max_scale/15`), values re-quantized
/// with the stored halves and `nearest_int` (ties to even). `dequantize` is bit-identical with
/// `dequantize_row_q2_K` and gguf-py. Both are checked against ggml's own output in `KQuantTests`.
public enum Q2_KFormat: BlockFormat {
    public static let type = GGMLType.q2_K

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 16) { bytes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { floats in
                let L = bytes.baseAddress!
                let scratch = L + 256
                let weights = floats.baseAddress!
                let scales = weights + 16
                let mins = weights + 32
                for block in 0..<blocks {
                    let x = source + 256 * block
                    let y = destination + 84 * block
                    var maxScale: Float = 0
                    var maxMin: Float = 0
                    for j in 0..<16 {
                        for l in 0..<16 { weights[l] = abs(x[16 * j + l]) }
                        (scales[j], mins[j]) = KQuant.makeQKX2Quants(
                            count: 16, nmax: 3, x + 16 * j, weights: weights, levels: L + 16 * j, scratch: scratch,
                            rmin: -0.5, rdelta: 0.1, steps: 15, useMAD: true)
                        if scales[j] > maxScale { maxScale = scales[j] }
                        if mins[j] > maxMin { maxMin = mins[j] }
                    }
                    let packed = y.assumingMemoryBound(to: UInt8.self)
                    if maxScale > 0 {
                        let iscale = 15 / maxScale
                        for j in 0..<16 { packed[j] = UInt8(truncatingIfNeeded: QuantMath.nearestInt(iscale * scales[j])) }
                        QuantMath.storeHalf(maxScale / 15, y, at: 80)
                    } else {
                        packed.update(repeating: 0, count: 16)
                        QuantMath.storeHalf(0, y, at: 80)
                    }
                    if maxMin > 0 {
                        let iscale = 15 / maxMin
                        for j in 0..<16 { packed[j] |= UInt8(truncatingIfNeeded: QuantMath.nearestInt(iscale * mins[j]) << 4) }
                        QuantMath.storeHalf(maxMin / 15, y, at: 82)
                    } else {
                        QuantMath.storeHalf(0, y, at: 82)
                    }
                    let d = QuantMath.loadHalf(y, at: 80)
                    let dmin = QuantMath.loadHalf(y, at: 82)
                    for j in 0..<16 {
                        let dj = d * Float(packed[j] & 0xF)
                        if dj == 0 { continue }
                        let dm = dmin * Float(packed[j] >> 4)
                        for ii in 0..<16 {
                            L[16 * j + ii] = UInt8(truncatingIfNeeded: KQuant.clamp(QuantMath.nearestInt((x[16 * j + ii] + dm) / dj), 0, 3))
                        }
                    }
                    let qs = packed + 16
                    for half in 0..<2 {
                        let lv = L + 128 * half
                        for l in 0..<32 {
                            qs[32 * half + l] = lv[l] | (lv[l + 32] << 2) | (lv[l + 64] << 4) | (lv[l + 96] << 6)
                        }
                    }
                }
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for block in 0..<blocks {
            let x = source + 84 * block
            var y = destination + 256 * block
            let scales = x.assumingMemoryBound(to: UInt8.self)
            let d = QuantMath.loadHalf(x, at: 80)
            let dmin = QuantMath.loadHalf(x, at: 82)
            var group = 0
            for half in 0..<2 {
                let q = scales + 16 + 32 * half
                for shift in stride(from: 0, to: 8, by: 2) {
                    for part in 0..<2 {
                        let sc = scales[group]
                        group += 1
                        let dl = d * Float(sc & 0xF)
                        let ml = dmin * Float(sc >> 4)
                        for l in 0..<16 { y[l] = dl * Float((q[16 * part + l] >> shift) & 3) - ml }
                        y += 16
                    }
                }
            }
        }
    }
}
