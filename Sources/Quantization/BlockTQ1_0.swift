import GGUFFormat

/// TQ1_0 (ternary, 1.6875 bits a value): 256 values a block, 54 bytes: `qs[48]`, `qh[4]`, `d: half`.
/// Each byte packs base-3 digits `t = q + 1` in {0, 1, 2} as a fixed-point fraction
/// `ceil(n * 256 / 243)` (n the digits read most significant first), so digit `k` comes back as
/// `((byte * 3^k mod 256) * 3) >> 8`. Bytes 0-31 hold 5 digits each for values 0..<160 (byte `m`:
/// values `m + 32k`), bytes 32-47 5 digits each for values 160..<240 (`160 + m + 16k`), `qh[j]` 4
/// digits (then a zero digit) for values 240..<256 (`240 + j + 4k`). `x = (t - 1) * d`.
///
/// Quantize is ggml's `quantize_row_tq1_0_ref`: `d = amax` over the 256 values,
/// `t = lroundf(x * (1/d)) + 1` (half away from zero), digits accumulated in 8-bit arithmetic as the
/// C does. Dequantize is ggml's `dequantize_row_tq1_0` (`Float(t - 1) * d`). Checked byte for byte
/// against ggml (fixtures and the live peer) and gguf-py (fixture script).
public enum TQ1_0Format: BlockFormat {
    public static let type = GGMLType.tq1_0

    public static func quantize(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 256
            let y = destination + b * 54
            let d = QuantMath.absMax(x, count: 256)
            let id: Float = d != 0 ? 1 / d : 0
            QuantMath.storeHalf(d, y, at: 52)
            pack(x, scale: id, into: y + 0, bytes: 32, digits: 5)
            pack(x + 160, scale: id, into: y + 32, bytes: 16, digits: 5)
            pack(x + 240, scale: id, into: y + 48, bytes: 4, digits: 4)
        }
    }

    public static func dequantize(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let x = source + b * 54
            let y = destination + b * 256
            let d = QuantMath.loadHalf(x, at: 52)
            unpack(x + 0, bytes: 32, digits: 5, scale: d, into: y)
            unpack(x + 32, bytes: 16, digits: 5, scale: d, into: y + 160)
            unpack(x + 48, bytes: 4, digits: 4, scale: d, into: y + 240)
        }
    }

    /// Byte `m` of `bytes` gets the digits of values `m + bytes * k` (k < digits), first value most
    /// significant, padded to 5 digits, as `ceil(n * 256 / 243)`.
    @inline(__always)
    private static func pack(_ x: UnsafePointer<Float>, scale id: Float, into y: UnsafeMutableRawPointer, bytes: Int, digits: Int) {
        for m in 0..<bytes {
            var q: UInt8 = 0
            for k in 0..<digits {
                let t = Int32(truncatingIfNeeded: QuantMath.lround(x[m + bytes * k] * id)) &+ 1
                q = q &* 3 &+ UInt8(truncatingIfNeeded: t)
            }
            for _ in digits..<5 { q &*= 3 }
            y.storeBytes(of: UInt8(truncatingIfNeeded: (UInt32(q) * 256 + 242) / 243), toByteOffset: m, as: UInt8.self)
        }
    }

    @inline(__always)
    private static func unpack(_ x: UnsafeRawPointer, bytes: Int, digits: Int, scale d: Float, into y: UnsafeMutablePointer<Float>) {
        var power: UInt8 = 1
        for k in 0..<digits {
            for m in 0..<bytes {
                let q = x.load(fromByteOffset: m, as: UInt8.self) &* power
                y[bytes * k + m] = Float(Int32((UInt16(q) * 3) >> 8) - 1) * d
            }
            power &*= 3
        }
    }
}
