import GGUFFormat

/// Q3_K: 256 values in 110 bytes, 3.4375 bits a value.
///
/// Layout (`block_q3_K`): `hmask[32]` (the third bit: value `32*b + l` in bit `b` of byte `l`,
/// set means +0, clear means -4), `qs[64]` (low 2 bits, packed as Q2_K), `scales[12]` (16 six-bit
/// scales biased by 32: low nibbles in bytes 0-7, top 2 bits in bytes 8-11), `d: half`. A value is
/// `d*(sc - 32) * (q - (hbit ? 0 : 4))`.
///
/// `quantize` is byte-identical with ggml's `quantize_row_q3_K_ref`: per 16 values
/// `make_q3_quants(16, 4, rmse)`, scales rounded to 6 bits against the scale of largest magnitude
/// (`d = -max_scale/32`, signed), values re-quantized as `nearest_int(x / (d*sc))` clamped to
/// -4...3. `dequantize` is bit-identical with `dequantize_row_q3_K` and gguf-py. Both are checked
/// against ggml's own output in `KQuantTests`.
public enum Q3_KFormat: BlockFormat {
    public static let type = GGMLType.q3_K

    /// The signed 6-bit scale of group `j` (0..<16), unbiased.
    @inline(__always)
    static func scale(_ j: Int, _ packed: UnsafePointer<UInt8>) -> Int {
        let low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3
        return Int(low | (high << 4)) - 32
    }

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scalesBuffer in
                let L = levels.baseAddress!
                let scales = scalesBuffer.baseAddress!
                for block in 0..<blocks {
                    let x = source + 256 * block
                    let y = destination + 110 * block
                    var maxScale: Float = 0
                    var amax: Float = 0
                    for j in 0..<16 {
                        scales[j] = KQuant.makeQ3Quants(count: 16, nmax: 4, x + 16 * j, levels: L + 16 * j)
                        let magnitude = abs(scales[j])
                        if magnitude > amax {
                            amax = magnitude
                            maxScale = scales[j]
                        }
                    }
                    let hmask = y.assumingMemoryBound(to: UInt8.self)
                    let qs = hmask + 32
                    let packed = hmask + 96
                    packed.update(repeating: 0, count: 12)
                    if maxScale != 0 {
                        let iscale = -32 / maxScale
                        for j in 0..<16 {
                            // ggml keeps nearest_int in an int8_t before clamping: keep the truncation.
                            let rounded = Int8(truncatingIfNeeded: QuantMath.nearestInt(iscale * scales[j]))
                            let l = UInt8(Swift.max(-32, Swift.min(31, rounded)) + 32)
                            if j < 8 {
                                packed[j] = l & 0xF
                            } else {
                                packed[j - 8] |= (l & 0xF) << 4
                            }
                            packed[8 + j % 4] |= (l >> 4) << (2 * (j / 4))
                        }
                        QuantMath.storeHalf(1 / iscale, y, at: 108)
                    } else {
                        QuantMath.storeHalf(0, y, at: 108)
                    }
                    let d = QuantMath.loadHalf(y, at: 108)
                    for j in 0..<16 {
                        let dj = d * Float(scale(j, packed))
                        if dj == 0 { continue }
                        for ii in 0..<16 {
                            L[16 * j + ii] = Int8(truncatingIfNeeded: KQuant.clamp(QuantMath.nearestInt(x[16 * j + ii] / dj), -4, 3) + 4)
                        }
                    }
                    hmask.update(repeating: 0, count: 32)
                    for j in 0..<256 where L[j] > 3 {
                        hmask[j % 32] |= 1 << (j / 32)
                        L[j] -= 4
                    }
                    for half in 0..<2 {
                        let lv = L + 128 * half
                        for l in 0..<32 {
                            qs[32 * half + l] = UInt8(bitPattern: lv[l]) | (UInt8(bitPattern: lv[l + 32]) << 2) | (UInt8(bitPattern: lv[l + 64]) << 4) | (UInt8(bitPattern: lv[l + 96]) << 6)
                        }
                    }
                }
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for block in 0..<blocks {
            let x = source.advanced(by: 110 * block).assumingMemoryBound(to: UInt8.self)
            var y = destination + 256 * block
            let hmask = x
            let packed = x + 96
            let d = QuantMath.loadHalf(x, at: 108)
            var group = 0
            var bit: UInt8 = 1
            for half in 0..<2 {
                let q = x + 32 + 32 * half
                for shift in stride(from: 0, to: 8, by: 2) {
                    for part in 0..<2 {
                        let dl = d * Float(scale(group, packed))
                        group += 1
                        for l in 0..<16 {
                            let i = 16 * part + l
                            let low = Int((q[i] >> shift) & 3)
                            y[l] = dl * Float(low - (hmask[i] & bit != 0 ? 0 : 4))
                        }
                        y += 16
                    }
                    bit <<= 1
                }
            }
        }
    }
}
