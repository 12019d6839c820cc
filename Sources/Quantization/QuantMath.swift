import CKernels

/// The scalar primitives ggml's reference quantizers are built from, reproduced bit for bit:
/// half-precision loads and stores, `nearest_int`, and C's float-to-integer conversions as the
/// oracle executes them.
///
/// The oracle is `libggml-base` as llama-cpp-python builds it: baseline x86-64 code without FMA
/// (no `a*b+c` is fused there, and Swift never contracts either) and without F16C (halves go
/// through ggml's software round-to-nearest-even, which `loco_f32_to_f16_scalar` equals for every
/// non-NaN input). C conversions of NaN, infinities and out-of-range values are undefined behaviour
/// that x86-64 resolves with `cvttss2si`'s "integer indefinite" (the lowest integer); ggml reaches
/// them only when a block's scale overflows (all-denormal blocks), and the helpers below follow x86-64
/// there, where an ARM build of ggml would saturate instead.
enum QuantMath {
    /// ggml's `nearest_int`: adds 1.5 * 2^23 so the FPU rounds to nearest, ties to even, and reads
    /// the integer from the mantissa. Exact for |value| <= 4194303; beyond that it wraps as the C
    /// does (ggml only asserts the range in debug builds); NaN gives 0, +-infinity -4194304.
    @inline(__always)
    static func nearestInt(_ value: Float) -> Int {
        let biased = value + 12_582_912
        return Int(biased.bitPattern & 0x007F_FFFF) - 0x0040_0000
    }

    /// C's `(int)value` on x86-64: truncation toward zero; NaN and values outside the `Int32` range
    /// give `Int32.min`. Narrower C casts (`(int8_t)`, `(uint8_t)`) keep the low bits of this.
    @inline(__always)
    static func truncatingToInt32(_ value: Float) -> Int32 {
        value >= -0x1p31 && value < 0x1p31 ? Int32(value) : .min
    }

    /// glibc's `lroundf` on x86-64: rounds half away from zero; NaN, infinities and values outside
    /// the `Int` range give `Int.min` (its `(long)x` fallback).
    @inline(__always)
    static func lround(_ value: Float) -> Int {
        if abs(value) < 0x1p23 { return Int(roundedAwayFromZero(value)) }
        return value >= -0x1p63 && value < 0x1p63 ? Int(value) : .min
    }

    /// C's `roundf` (half away from zero) converted to `int8_t` as x86-64 does: the low byte of
    /// `truncatingToInt32` (so NaN and infinities give 0).
    @inline(__always)
    static func roundfToInt8(_ value: Float) -> Int8 {
        let rounded = abs(value) < 0x1p23 ? roundedAwayFromZero(value) : truncatingToInt32(value)
        return Int8(truncatingIfNeeded: rounded)
    }

    /// `roundf(value)` as an integer for |value| < 2^23, branch-free and without the libm call
    /// `rounded()` makes on baseline x86-64: the remainder `value - trunc(value)` is exact there, and
    /// twice it truncates to the +-1 that rounding half away from zero adds.
    @inline(__always)
    private static func roundedAwayFromZero(_ value: Float) -> Int32 {
        let t = Int32(value)
        return t + Int32(2 * (value - Float(t)))
    }

    /// The little-endian binary16 at `offset`, widened exactly (`GGML_FP16_TO_FP32`).
    @inline(__always)
    static func loadHalf(_ base: UnsafeRawPointer, at offset: Int) -> Float {
        loco_f16_to_f32_scalar(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Stores `value` as binary16 at `offset`, rounded to nearest even (`GGML_FP32_TO_FP16`).
    @inline(__always)
    static func storeHalf(_ value: Float, _ base: UnsafeMutableRawPointer, at offset: Int) {
        base.storeBytes(of: loco_f32_to_f16_scalar(value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// The value of largest magnitude among `count` values and its magnitude, the first one on ties
    /// (ggml's `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }`); (0, 0) when all are zero.
    @inline(__always)
    static func signedMax(_ x: UnsafePointer<Float>, count: Int) -> (max: Float, amax: Float) {
        var amax: Float = 0
        var max: Float = 0
        for j in 0..<count {
            let a = abs(x[j])
            if amax < a {
                amax = a
                max = x[j]
            }
        }
        return (max, amax)
    }

    /// The largest magnitude among `count` values (ggml's `amax = MAX(amax, fabsf(v))`).
    @inline(__always)
    static func absMax(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var amax: Float = 0
        for j in 0..<count {
            let a = abs(x[j])
            if a > amax { amax = a }
        }
        return amax
    }

    /// The smallest and largest of `count` values, starting from `FLT_MAX` / `-FLT_MAX` as ggml does.
    @inline(__always)
    static func minMax(_ x: UnsafePointer<Float>, count: Int) -> (min: Float, max: Float) {
        var lo = Float.greatestFiniteMagnitude
        var hi = -Float.greatestFiniteMagnitude
        for j in 0..<count {
            let v = x[j]
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        return (lo, hi)
    }
}
