import CBLAS
import CKernels
import Testing

/// The C layers link and compute: OpenBLAS from Debian, and the kernels in every variant this CPU
/// can run, each checked against the portable scalar code or an independent conversion.
@Suite(.serialized) struct SystemLibraryTests {
    @Test func openBLASComputesAndTakesAThreadCount() {
        let x: [Float] = [1, 2, 3, 4]
        let y: [Float] = [0.5, -1, 2, 0.25]
        #expect(cblas_sdot(4, x, 1, y, 1) == 5.5)
        openblas_set_num_threads(1)
        #expect(openblas_get_num_threads() == 1)
    }

    /// Every one of the 65,536 half-precision values converts exactly, under every feature mask;
    /// NaNs must stay NaNs with the same sign (F16C quiets signalling NaNs, as hardware does).
    @Test func halfToFloatIsExactInEveryVariant() {
        let all = (0...UInt16.max).map { $0 }
        let masks: [UInt32] = [0, UInt32(LOCO_CPU_F16C | LOCO_CPU_AVX2), 0xFFFF_FFFF]
        let saved = loco_cpu_feature_mask()
        defer { loco_set_cpu_feature_mask(saved) }
        for mask in masks {
            loco_set_cpu_feature_mask(mask)
            var out = [Float](repeating: 0, count: all.count)
            loco_f16_to_f32_row(all, &out, all.count)
            var wrong = 0
            for (bits, value) in zip(all, out) {
                let expected = Float(Float16(bitPattern: bits))
                let same = expected.isNaN
                    ? value.isNaN && value.sign == expected.sign
                    : value.bitPattern == expected.bitPattern
                if !same || loco_f16_to_f32_scalar(bits).bitPattern != (expected.isNaN ? loco_f16_to_f32_scalar(bits).bitPattern : expected.bitPattern) {
                    wrong += 1
                }
            }
            #expect(wrong == 0, "mask \(mask): \(wrong) wrong conversions")
        }
    }

    @Test func bfloat16IsTheHighHalf() {
        let values: [Float] = [1, -2.5, .infinity, 3.0e38, Float(bitPattern: 0x0001_1234)]  // the last is subnormal
        let halves = values.map { UInt16($0.bitPattern >> 16) }
        var out = [Float](repeating: 0, count: values.count)
        loco_bf16_to_f32_row(halves, &out, values.count)
        #expect(out.map(\.bitPattern) == values.map { $0.bitPattern & 0xFFFF_0000 })
    }
}
