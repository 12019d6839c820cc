import GGUFFormat

/// Q4_K: 256 values in 144 bytes, 4.5 bits a value.
///
/// Layout (`block_q4_K`): `d: half`, `dmin: half`, `scales[12]` (8 six-bit scales and 8 six-bit
/// mins, one pair per 32 values, packed as `get_scale_min_k4` reads them), `qs[128]` (per 64
/// values, 32 bytes: low nibbles are the first 32 values, high nibbles the next 32). A value is
/// `d*sc * q - dmin*m`.
///
/// `quantize` is byte-identical with ggml's `quantize_row_q4_K_ref`: per 32 values
/// `make_qkx2_quants(32, 15, weights sqrt(Σx²/32) + |x|, rmin -1, rdelta 0.1, 20 steps)`, then the
/// shared 6-bit scale/min packing and re-quantization of `KQuant.quantizeScaleMinSuperblock`.
/// `dequantize` is bit-identical with `dequantize_row_q4_K` and gguf-py. Both are checked against
/// ggml's own output in `KQuantTests`.
public enum Q4_KFormat: BlockFormat {
    public static let type = GGMLType.q4_K

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { levels in
            let L = levels.baseAddress!
            for block in 0..<blocks {
                let y = destination + 144 * block
                KQuant.quantizeScaleMinSuperblock(source + 256 * block, nmax: 15, rmin: -1, steps: 20, block: y, levels: L)
                let qs = (y + 16).assumingMemoryBound(to: UInt8.self)
                for chunk in 0..<4 {
                    let lv = L + 64 * chunk
                    for l in 0..<32 { qs[32 * chunk + l] = lv[l] | (lv[l + 32] << 4) }
                }
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for block in 0..<blocks {
            let x = source + 144 * block
            var y = destination + 256 * block
            let d = QuantMath.loadHalf(x, at: 0)
            let dmin = QuantMath.loadHalf(x, at: 2)
            let packed = x + 4
            for chunk in 0..<4 {
                let q = (x + 16 + 32 * chunk).assumingMemoryBound(to: UInt8.self)
                let (sc1, m1) = KQuant.scaleMin(2 * chunk, packed)
                let (sc2, m2) = KQuant.scaleMin(2 * chunk + 1, packed)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                for l in 0..<32 { y[l] = d1 * Float(q[l] & 0xF) - min1 }
                for l in 0..<32 { y[32 + l] = d2 * Float(q[l] >> 4) - min2 }
                y += 64
            }
        }
    }
}
