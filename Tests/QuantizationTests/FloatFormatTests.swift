import CKernels
import Quantization
import Testing

/// F16 and BF16 conversions: every half value round-trips, and float-to-half rounding agrees with
/// Swift's own IEEE conversion (round to nearest even) on values chosen to hit every case.
@Suite(.serialized) struct FloatFormatTests {
    static func trickyFloats() -> [Float] {
        var values: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, 65536, 1e10, -1e10, .infinity, -.infinity,
                               6.1e-5, 6.0e-8, 5.96e-8, 2.98e-8, 2.9802322e-8, 2.9802326e-8, 1e-30,
                               .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        var state: UInt64 = 12345
        for _ in 0..<200_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let bits = UInt32(truncatingIfNeeded: state >> 32)
            let f = Float(bitPattern: bits)
            if !f.isNaN { values.append(f) }
        }
        // Exact halfway cases between neighbouring halves.
        for h in stride(from: UInt16(0), to: 0x7C00, by: 97) {
            let a = Float(Float16(bitPattern: h)), b = Float(Float16(bitPattern: h + 1))
            values.append((a + b) / 2)
            values.append(-(a + b) / 2)
        }
        return values
    }

    @Test func floatToHalfRoundsToNearestEvenInEveryVariant() {
        let values = Self.trickyFloats()
        let saved = loco_cpu_feature_mask()
        defer { loco_set_cpu_feature_mask(saved) }
        for mask in [UInt32(0), 0xFFFF_FFFF] {
            loco_set_cpu_feature_mask(mask)
            var out = [UInt16](repeating: 0, count: values.count)
            loco_f32_to_f16_row(values, &out, values.count)
            let wrong = zip(values, out).filter { Float16($0).bitPattern != $1 }
            #expect(wrong.isEmpty, "mask \(mask): \(wrong.prefix(5).map { ($0.0, $0.1) })")
        }
    }

    @Test func halfRoundTripsThroughTheCodec() throws {
        let halves = (0..<UInt16(0x7C00)).map { Float(Float16(bitPattern: $0)) }
        let bytes = try BlockCodec.quantize(.f16, halves)
        #expect(try BlockCodec.dequantize(.f16, bytes) == halves)
    }

    @Test func bfloat16RoundsToNearestEvenAndQuietsNaN() throws {
        let values: [Float] = [1, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001),
                               Float(bitPattern: 0x7F80_0001), -.infinity]
        let bytes = try BlockCodec.quantize(.bf16, values)
        let halves = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
        #expect(halves == [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x7FC0, 0xFF80])
    }

    @Test func errorsNameTypeAndSizes() {
        #expect(throws: QuantizationError.unsupportedType(.iq2_XXS, operation: "quantized")) {
            try BlockCodec.quantize(.iq2_XXS, [Float](repeating: 0, count: 256))
        }
        #expect(throws: QuantizationError.notWholeBlocks(.q4_0, count: 33)) { try BlockCodec.quantize(.q4_0, [Float](repeating: 0, count: 33)) }
    }
}
