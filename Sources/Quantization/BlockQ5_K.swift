import GGUFFormat

/// Q5_K: 256 values in 176 bytes, 5.5 bits a value.
///
/// Layout (`block_q5_K`): `d: half`, `dmin: half`, `scales[12]` (as Q4_K), `qh[32]` (the fifth
/// bit: value `64*c + l` in bit `2c` of byte `l`, value `64*c + 32 + l` in bit `2c + 1`),
/// `qs[128]` (low 4 bits, packed as Q4_K). A value is `d*sc * q - dmin*m`, `q` in 0...31.
///
/// `quantize` is byte-identical with ggml's `quantize_row_q5_K_ref`: per 32 values
/// `make_qkx2_quants(32, 31, weights sqrt(Σx²/32) + |x|, rmin -0.5, rdelta 0.1, 15 steps)`, then
/// the shared 6-bit scale/min packing and re-quantization of `KQuant.quantizeScaleMinSuperblock`.
/// `dequantize` is bit-identical with `dequantize_row_q5_K` and gguf-py. Both are checked against
/// ggml's own output in `KQuantTests`.
public enum Q5_KFormat: BlockFormat {
    public static let type = GGMLType.q5_K

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { levels in
            let L = levels.baseAddress!
            for block in 0..<blocks {
                let y = destination + 176 * block
                KQuant.quantizeScaleMinSuperblock(source + 256 * block, nmax: 31, rmin: -0.5, steps: 15, block: y, levels: L)
                let qh = (y + 16).assumingMemoryBound(to: UInt8.self)
                let qs = qh + 32
                qh.update(repeating: 0, count: 32)
                for chunk in 0..<4 {
                    let lv = L + 64 * chunk
                    let lowBit: UInt8 = 1 << (2 * chunk), highBit: UInt8 = 2 << (2 * chunk)
                    for j in 0..<32 {
                        var l1 = lv[j], l2 = lv[j + 32]
                        if l1 > 15 {
                            l1 -= 16
                            qh[j] |= lowBit
                        }
                        if l2 > 15 {
                            l2 -= 16
                            qh[j] |= highBit
                        }
                        qs[32 * chunk + j] = l1 | (l2 << 4)
                    }
                }
            }
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for block in 0..<blocks {
            let x = source + 176 * block
            var y = destination + 256 * block
            let d = QuantMath.loadHalf(x, at: 0)
            let dmin = QuantMath.loadHalf(x, at: 2)
            let packed = x + 4
            let qh = (x + 16).assumingMemoryBound(to: UInt8.self)
            for chunk in 0..<4 {
                let ql = qh + 32 + 32 * chunk
                let (sc1, m1) = KQuant.scaleMin(2 * chunk, packed)
                let (sc2, m2) = KQuant.scaleMin(2 * chunk + 1, packed)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let lowBit: UInt8 = 1 << (2 * chunk), highBit: UInt8 = 2 << (2 * chunk)
                for l in 0..<32 { y[l] = d1 * Float((ql[l] & 0xF) + (qh[l] & lowBit != 0 ? 16 : 0)) - min1 }
                for l in 0..<32 { y[32 + l] = d2 * Float((ql[l] >> 4) + (qh[l] & highBit != 0 ? 16 : 0)) - min2 }
                y += 64
            }
        }
    }
}
