import CKernels
import Foundation
import LocoTestSupport
import Testing

/// The quantized row kernels in CKernels: every SIMD variant the CPU can run against the scalar
/// code, and the scalar code against ggml's CPU backend (a fixture written by
/// `scripts/make-kernel-fixtures.py` from llama-cpp-python's libggml-cpu).
///
/// Tolerances:
/// - activation quantizers and dequantizers: none, bytes and float bits must be equal;
/// - dot products: every variant (and ggml) sums the same exact integer block sums, each turned
///   into a float term by one scale product; only the order of the float additions differs.
///   With u = 2^-24 and at most T = n/2 float terms (the finest terms are int32 lanes of four
///   products), any order is within (T + 2)·u·M of the exact value, M = Σ|w_i·a_i| taken over the
///   scale and minimum parts of the weights separately (they are summed apart). Two orders differ
///   by at most twice that: |Δ| ≤ (n + 4)·u·M, plus 1% for M's own rounding. Observed differences
///   are about 1e-6 of M; a wrong scale or offset anywhere moves a result by about 1e-2 of M.
@Suite(.serialized) struct KernelTests {
    typealias Dot = @Sendable (Int, UnsafeRawPointer?, UnsafeRawPointer?) -> Float
    typealias Dequantize = @Sendable (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int) -> Void
    typealias Quantize = @Sendable (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void

    enum Activation: String, CaseIterable {
        case q8_0, q8_1, q8_K

        var blockValues: Int { self == .q8_K ? 256 : 32 }
        var blockBytes: Int { [.q8_0: 34, .q8_1: 36, .q8_K: 292][self]! }
        var quantize: Quantize {
            switch self {
            case .q8_0: loco_quantize_row_q8_0
            case .q8_1: loco_quantize_row_q8_1
            case .q8_K: loco_quantize_row_q8_K
            }
        }

        /// Dequantized activations (d * q), exact in float.
        func values(_ bytes: [UInt8], count: Int) -> [Float] {
            var out = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                for b in 0..<(count / blockValues) {
                    let block = raw.baseAddress! + b * blockBytes
                    let d: Float
                    let qs: UnsafeRawPointer
                    switch self {
                    case .q8_K:
                        d = block.loadUnaligned(as: Float.self)
                        qs = block + 4
                    case .q8_0, .q8_1:
                        d = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
                        qs = block + (self == .q8_0 ? 2 : 4)
                    }
                    for j in 0..<blockValues {
                        out[b * blockValues + j] = d * Float(qs.load(fromByteOffset: j, as: Int8.self))
                    }
                }
            }
            return out
        }
    }

    struct Format: Sendable, CustomStringConvertible {
        var name: String
        var blockValues: Int
        var blockBytes: Int
        /// Byte offsets of the half scales (d, then dmin / m).
        var halves: [Int]
        /// Bytes that hold the quants: zeroing them leaves the minimum term (formats with one).
        var quants: Range<Int>?
        var activation: Activation
        var dot: Dot
        var dequantize: Dequantize

        var description: String { name }
    }

    static let formats: [Format] = [
        Format(name: "q4_0", blockValues: 32, blockBytes: 18, halves: [0], activation: .q8_0,
               dot: loco_vec_dot_q4_0_q8_0, dequantize: loco_dequantize_row_q4_0),
        Format(name: "q4_1", blockValues: 32, blockBytes: 20, halves: [0, 2], quants: 4..<20, activation: .q8_1,
               dot: loco_vec_dot_q4_1_q8_1, dequantize: loco_dequantize_row_q4_1),
        Format(name: "q5_0", blockValues: 32, blockBytes: 22, halves: [0], activation: .q8_0,
               dot: loco_vec_dot_q5_0_q8_0, dequantize: loco_dequantize_row_q5_0),
        Format(name: "q5_1", blockValues: 32, blockBytes: 24, halves: [0, 2], quants: 4..<24, activation: .q8_1,
               dot: loco_vec_dot_q5_1_q8_1, dequantize: loco_dequantize_row_q5_1),
        Format(name: "q8_0", blockValues: 32, blockBytes: 34, halves: [0], activation: .q8_0,
               dot: loco_vec_dot_q8_0_q8_0, dequantize: loco_dequantize_row_q8_0),
        Format(name: "q2_K", blockValues: 256, blockBytes: 84, halves: [80, 82], quants: 16..<80, activation: .q8_K,
               dot: loco_vec_dot_q2_K_q8_K, dequantize: loco_dequantize_row_q2_K),
        Format(name: "q3_K", blockValues: 256, blockBytes: 110, halves: [108], activation: .q8_K,
               dot: loco_vec_dot_q3_K_q8_K, dequantize: loco_dequantize_row_q3_K),
        Format(name: "q4_K", blockValues: 256, blockBytes: 144, halves: [0, 2], quants: 16..<144, activation: .q8_K,
               dot: loco_vec_dot_q4_K_q8_K, dequantize: loco_dequantize_row_q4_K),
        Format(name: "q5_K", blockValues: 256, blockBytes: 176, halves: [0, 2], quants: 16..<176, activation: .q8_K,
               dot: loco_vec_dot_q5_K_q8_K, dequantize: loco_dequantize_row_q5_K),
        Format(name: "q6_K", blockValues: 256, blockBytes: 210, halves: [208], activation: .q8_K,
               dot: loco_vec_dot_q6_K_q8_K, dequantize: loco_dequantize_row_q6_K),
        Format(name: "tq1_0", blockValues: 256, blockBytes: 54, halves: [52], activation: .q8_K,
               dot: loco_vec_dot_tq1_0_q8_K, dequantize: loco_dequantize_row_tq1_0),
        Format(name: "tq2_0", blockValues: 256, blockBytes: 66, halves: [64], activation: .q8_K,
               dot: loco_vec_dot_tq2_0_q8_K, dequantize: loco_dequantize_row_tq2_0),
    ]

    // MARK: - Variants

    /// Feature masks selecting each variant: scalar, AVX2, AVX-512 without VNNI, everything.
    static let variantMasks: [(name: String, mask: UInt32)] = {
        let avx2 = UInt32(LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C)
        let avx512 = avx2 | UInt32(LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW)
        let all: [(String, UInt32)] = [("scalar", 0), ("avx2", avx2), ("avx512bw", avx512),
                                       ("avx512vnni", avx512 | UInt32(LOCO_CPU_AVX512VNNI))]
        loco_set_cpu_feature_mask(0xFFFF_FFFF)
        let cpu = loco_cpu_features()
        return all.filter { $0.1 & cpu == $0.1 }
    }()

    /// Runs `body` once per variant, the scalar one first. FloatFormatTests also sets the mask, so
    /// each run re-checks that its mask is still in place.
    static func forEachVariant(_ body: (String) throws -> Void) rethrows {
        let saved = loco_cpu_feature_mask()
        defer { loco_set_cpu_feature_mask(saved) }
        for (name, mask) in variantMasks {
            loco_set_cpu_feature_mask(mask)
            try body(name)
            #expect(loco_cpu_feature_mask() == mask, "feature mask changed while running \(name)")
        }
    }

    // MARK: - Random data

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
        mutating func signed() -> Float { unit() * 2 - 1 }
    }

    /// Activations with block magnitudes from 1e-3 to 1e2, plus halfway values and ties of opposite
    /// signs for the rounding and sign rules.
    static func activations(_ n: Int, seed: UInt64) -> [Float] {
        var g = Generator(state: seed)
        var x = [Float](repeating: 0, count: n)
        for b in 0..<(n / 32) {
            let scale = Float(pow(10, Double(g.unit()) * 5 - 3))
            for j in 0..<32 { x[32 * b + j] = g.signed() * scale }
        }
        if n >= 512 {
            for j in 0..<32 { x[j] = Float(Int(g.next() % 120) - 60) + 0.5 }
            x[0] = 127
            x[256 + 5] = -1000
            x[256 + 77] = 1000
        }
        return x
    }

    /// Random blocks with finite half scales of either sign between 1e-3 and 5e-2.
    static func weights(_ format: Format, blocks: Int, seed: UInt64) -> [UInt8] {
        var g = Generator(state: seed)
        var bytes = (0..<(blocks * format.blockBytes)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        for b in 0..<blocks {
            for offset in format.halves {
                let value = Float16((0.001 + g.unit() * 0.049) * (g.next() & 1 == 0 ? 1 : -1))
                bytes[b * format.blockBytes + offset] = UInt8(value.bitPattern & 0xFF)
                bytes[b * format.blockBytes + offset + 1] = UInt8(value.bitPattern >> 8)
            }
        }
        return bytes
    }

    static func quantize(_ x: [Float], _ activation: Activation) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count / activation.blockValues * activation.blockBytes)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { activation.quantize(src.baseAddress, $0.baseAddress, x.count) }
        }
        return out
    }

    static func dequantize(_ format: Format, _ w: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        w.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { format.dequantize(src.baseAddress, $0.baseAddress, count) } }
        return out
    }

    static func dot(_ format: Format, _ w: [UInt8], _ a: [UInt8], count: Int) -> Float {
        w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in format.dot(count, wp.baseAddress, ap.baseAddress) } }
    }

    // MARK: - The bound

    /// M = Σ|scale part_i · a_i| + Σ|min part_i · a_i|; the min part is what the dequantizer gives
    /// with the quants zeroed.
    static func magnitude(_ format: Format, _ w: [UInt8], activations a: [Float]) -> Double {
        let n = a.count
        let values = dequantize(format, w, count: n)
        var mins = [Float](repeating: 0, count: n)
        if let quants = format.quants {
            var zeroed = w
            for b in 0..<(n / format.blockValues) {
                for k in quants { zeroed[b * format.blockBytes + k] = 0 }
            }
            mins = dequantize(format, zeroed, count: n)
        }
        var m = 0.0
        for i in 0..<n {
            m += (abs(Double(values[i]) - Double(mins[i])) + abs(Double(mins[i]))) * abs(Double(a[i]))
        }
        return m
    }

    static func bound(count n: Int, magnitude m: Double) -> Double {
        Double(n + 4) * 0x1p-24 * m * 1.01
    }

    // MARK: - Tests

    @Test func activationQuantizersAreByteIdenticalInEveryVariant() {
        for n in [256, 512, 2048 + 256] {
            let x = Self.activations(n, seed: UInt64(n))
            for activation in Activation.allCases {
                var reference: [UInt8] = []
                Self.forEachVariant { variant in
                    let bytes = Self.quantize(x, activation)
                    if variant == "scalar" { reference = bytes } else {
                        #expect(bytes == reference, "\(activation) n=\(n): \(variant) differs from scalar")
                    }
                }
            }
        }
    }

    @Test func quantizersRoundHalfToEvenAndTakeTheFirstSignedMaximum() {
        loco_set_cpu_feature_mask(0)
        defer { loco_set_cpu_feature_mask(0xFFFF_FFFF) }
        // amax 127 makes the Q8_0 scale exactly 1: 2.5 -> 2, -3.5 -> -4, 4.5 -> 4.
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = -3.5; x[3] = 4.5
        let q8 = Self.quantize(x, .q8_0)
        #expect(Array(q8[2..<6].map { Int8(bitPattern: $0) }) == [127, 2, -4, 4])
        #expect(q8[0] == 0x00 && q8[1] == 0x3C)  // d = 1.0 as a half
        // Q8_K: -2 comes first, so iscale = -127 / -2 and the positive 2 becomes +127.
        var y = [Float](repeating: 0, count: 256)
        y[7] = -2; y[9] = 2; y[10] = 1
        let k = Self.quantize(y, .q8_K)
        #expect(Int8(bitPattern: k[4 + 7]) == -127 && Int8(bitPattern: k[4 + 9]) == 127 && Int8(bitPattern: k[4 + 10]) == 64)
        // An all-zero block: d = 0, zero quants and zero bsums.
        #expect(Self.quantize([Float](repeating: 0, count: 256), .q8_K).allSatisfy { $0 == 0 })
    }

    @Test(arguments: formats) func dequantizeIsBitIdenticalInEveryVariant(format: Format) {
        for blocks in format.blockValues == 32 ? [1, 3, 64, 67] : [1, 3, 9] {
            let n = blocks * format.blockValues
            let w = Self.weights(format, blocks: blocks, seed: UInt64(blocks) &* 31 &+ UInt64(format.blockBytes))
            var reference: [UInt32] = []
            Self.forEachVariant { variant in
                let bits = Self.dequantize(format, w, count: n).map(\.bitPattern)
                if variant == "scalar" { reference = bits } else {
                    #expect(bits == reference, "\(format) \(blocks) blocks: \(variant) differs from scalar")
                }
            }
        }
    }

    @Test(arguments: formats) func dotProductsAgreeWithScalarWithinTheBound(format: Format) {
        for blocks in format.blockValues == 32 ? [1, 2, 3, 5, 8, 64, 67] : [1, 2, 3, 8, 9] {
            let n = blocks * format.blockValues
            let x = Self.activations(n, seed: UInt64(blocks) + 7)
            let w = Self.weights(format, blocks: blocks, seed: UInt64(blocks) &* 131 &+ UInt64(format.blockBytes))
            let a = Self.quantize(x, format.activation)
            let limit = Self.bound(count: n, magnitude: Self.magnitude(format, w, activations: format.activation.values(a, count: n)))
            var reference: Float = 0
            Self.forEachVariant { variant in
                let result = Self.dot(format, w, a, count: n)
                if variant == "scalar" { reference = result } else {
                    #expect(abs(Double(result) - Double(reference)) <= limit,
                            "\(format) \(blocks) blocks: \(variant) \(result) vs scalar \(reference), bound \(limit)")
                }
            }
        }
    }

    /// The scalar dot equals Σ w_i·a_i over the dequantized weights (bit-identical with ggml's) and
    /// activations: a wrong sub-block scale, offset or minimum would miss by far more than the bound
    /// (widened by 3u·M for the rounding of the dequantized weights).
    @Test(arguments: formats) func scalarDotMatchesTheDequantizedSum(format: Format) {
        let blocks = format.blockValues == 32 ? 64 : 8
        let n = blocks * format.blockValues
        let w = Self.weights(format, blocks: blocks, seed: 99 &+ UInt64(format.blockBytes))
        let a = Self.quantize(Self.activations(n, seed: 5), format.activation)
        let values = Self.dequantize(format, w, count: n), av = format.activation.values(a, count: n)
        let exact = zip(values, av).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let m = Self.magnitude(format, w, activations: av)
        loco_set_cpu_feature_mask(0)
        defer { loco_set_cpu_feature_mask(0xFFFF_FFFF) }
        let result = Self.dot(format, w, a, count: n)
        #expect(abs(Double(result) - exact) <= Self.bound(count: n, magnitude: m) + 3 * 0x1p-24 * m,
                "\(format): \(result) vs \(exact)")
    }

    // MARK: - ggml

    struct Fixture: Decodable {
        struct ActivationRow: Decodable {
            var floats: String
            var q8_0: String
            var q8_1: String
            var q8_K: String
        }
        struct FormatRows: Decodable {
            var name: String
            var rows: [String]
            var dots: [[String]]
            var dequantized: String
        }
        var n: Int
        var dequantizedCount: Int
        var activations: [ActivationRow]
        var formats: [FormatRows]

        static func bytes(_ base64: String) -> [UInt8] { [UInt8](Data(base64Encoded: base64)!) }

        static func floats(_ base64: String) -> [Float] {
            bytes(base64).withUnsafeBytes { raw in (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        }

        static func load() throws -> Fixture {
            let path = Repository.path("Tests/QuantizationTests/Fixtures/kernels/ggml-kernels.json")
            return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    static func quantized(_ row: Fixture.ActivationRow, _ activation: Activation) -> String {
        switch activation {
        case .q8_0: row.q8_0
        case .q8_1: row.q8_1
        case .q8_K: row.q8_K
        }
    }

    @Test func activationBytesMatchGGML() throws {
        let fixture = try Fixture.load()
        for (r, row) in fixture.activations.enumerated() {
            let x = Fixture.floats(row.floats)
            for activation in Activation.allCases {
                let expected = Fixture.bytes(Self.quantized(row, activation))
                Self.forEachVariant { variant in
                    let bytes = Self.quantize(x, activation)
                    let first = zip(bytes, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                    #expect(bytes == expected, "row \(r) \(activation) \(variant): first difference at byte \(first ?? -1)")
                }
            }
        }
    }

    @Test func dequantizeMatchesGGMLBitForBit() throws {
        let fixture = try Fixture.load()
        for rows in fixture.formats {
            let format = try #require(Self.formats.first { $0.name == rows.name })
            let expected = Fixture.floats(rows.dequantized).map(\.bitPattern)
            Self.forEachVariant { variant in
                let bits = Self.dequantize(format, Fixture.bytes(rows.rows[0]), count: fixture.dequantizedCount).map(\.bitPattern)
                #expect(bits == expected, "\(format) \(variant)")
            }
        }
    }

    @Test func dotProductsMatchGGMLWithinTheBound() throws {
        let fixture = try Fixture.load()
        let n = fixture.n
        var worst: [String: Double] = [:]
        for rows in fixture.formats {
            let format = try #require(Self.formats.first { $0.name == rows.name })
            for (r, row) in rows.rows.enumerated() {
                let w = Fixture.bytes(row)
                for (k, activationRow) in fixture.activations.enumerated() {
                    let a = Fixture.bytes(Self.quantized(activationRow, format.activation))
                    let expected = Float(bitPattern: try #require(UInt32(rows.dots[r][k], radix: 16)))
                    let m = Self.magnitude(format, w, activations: format.activation.values(a, count: n))
                    Self.forEachVariant { variant in
                        let result = Self.dot(format, w, a, count: n)
                        let error = abs(Double(result) - Double(expected))
                        worst[format.name] = max(worst[format.name] ?? 0, error / m)
                        #expect(error <= Self.bound(count: n, magnitude: m),
                                "\(format) row \(r) activations \(k) \(variant): \(result) vs ggml \(expected)")
                    }
                }
            }
        }
        print("largest |ours - ggml| / M per format:", worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })
    }
}

/// The several-rows decode products (`loco_vec_dot_rows_*`, which share activation loads across
/// four rows on AVX2) give every row exactly the bits of the one-row kernel, in every variant the
/// CPU can run: `Numerics.llamaCpp` relies on the one-row kernels' order through them.
@Suite struct RowsKernelTests {
    typealias RowsDot = @convention(c) (Int, UnsafeRawPointer?, Int, Int, UnsafeRawPointer?, UnsafeMutablePointer<Float>?) -> Void

    static let cases: [(String, RowsDot)] = [
        ("q4_0", loco_vec_dot_rows_q4_0_q8_0), ("q4_1", loco_vec_dot_rows_q4_1_q8_1), ("q5_0", loco_vec_dot_rows_q5_0_q8_0),
        ("q5_1", loco_vec_dot_rows_q5_1_q8_1), ("q8_0", loco_vec_dot_rows_q8_0_q8_0),
    ]

    @Test(arguments: cases.map(\.0))
    func rowsMatchTheOneRowKernel(_ name: String) {
        let rowsDot = Self.cases.first { $0.0 == name }!.1
        let format = KernelTests.formats.first { $0.name == name }!
        let n = 576
        // 11 rows: two groups of four and a remainder of three.
        for rows in [1, 3, 4, 11] {
            let w = KernelTests.weights(format, blocks: rows * n / format.blockValues, seed: UInt64(rows) * 31)
            let a = KernelTests.quantize(KernelTests.activations(n, seed: UInt64(rows)), format.activation)
            let rowBytes = n / format.blockValues * format.blockBytes
            KernelTests.forEachVariant { variant in
                var many = [Float](repeating: .nan, count: rows)
                w.withUnsafeBytes { wp in
                    a.withUnsafeBytes { ap in
                        many.withUnsafeMutableBufferPointer { rowsDot(n, wp.baseAddress, rowBytes, rows, ap.baseAddress, $0.baseAddress) }
                    }
                }
                let one = (0..<rows).map { r in
                    KernelTests.dot(format, Array(w[(r * rowBytes)..<((r + 1) * rowBytes)]), a, count: n)
                }
                #expect(many.map(\.bitPattern) == one.map(\.bitPattern), "\(name), \(rows) rows, \(variant)")
            }
        }
    }
}

/// `loco_vec_dot_rows_repacked_q4_0_q8_0` gives every row the bits of ggml's repacked Q4_0 order
/// (per block the exact integer sum, then acc = fma(sum, d_w * d_a, acc)), computed here one value
/// at a time, in every variant the CPU can run: for groups of eight rows and a remainder, and for
/// even and odd block counts (the AVX2 kernel takes blocks two at a time). `Numerics.llamaCpp`
/// decodes Q4_0 through it.
@Suite struct RepackedQ4_0Tests {
    static func reference(_ w: [UInt8], _ a: [UInt8], blocks: Int) -> Float {
        var acc: Float = 0
        for b in 0..<blocks {
            let wb = b * 18, ab = b * 34
            var sum = 0
            for j in 0..<16 {
                let q = Int(w[wb + 2 + j])
                sum += ((q & 15) - 8) * Int(Int8(bitPattern: a[ab + 2 + j])) + ((q >> 4) - 8) * Int(Int8(bitPattern: a[ab + 18 + j]))
            }
            let dw = loco_f16_to_f32_scalar(UInt16(w[wb]) | UInt16(w[wb + 1]) << 8)
            let da = loco_f16_to_f32_scalar(UInt16(a[ab]) | UInt16(a[ab + 1]) << 8)
            acc = acc.addingProduct(Float(sum), dw * da)  // one rounding: ggml's FMA
        }
        return acc
    }

    @Test(arguments: [1, 2, 3, 18])
    func rowsHaveTheRepackedOrder(_ blocks: Int) {
        let format = KernelTests.formats.first { $0.name == "q4_0" }!
        let n = blocks * 32, rowBytes = blocks * 18
        for rows in [1, 8, 19] {
            let w = KernelTests.weights(format, blocks: rows * blocks, seed: UInt64(rows * 100 + blocks))
            let a = KernelTests.quantize(KernelTests.activations(n, seed: UInt64(blocks)), format.activation)
            let expected = (0..<rows).map { r in Self.reference(Array(w[(r * rowBytes)..<((r + 1) * rowBytes)]), a, blocks: blocks) }
            KernelTests.forEachVariant { variant in
                var out = [Float](repeating: .nan, count: rows)
                w.withUnsafeBytes { wp in
                    a.withUnsafeBytes { ap in
                        out.withUnsafeMutableBufferPointer {
                            loco_vec_dot_rows_repacked_q4_0_q8_0(n, wp.baseAddress, rowBytes, rows, ap.baseAddress, $0.baseAddress)
                        }
                    }
                }
                #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "\(blocks) blocks, \(rows) rows, \(variant)")
            }
        }
    }
}

/// The several-inputs products (`loco_vec_dot_multi_*`, which unpack each weight row once for up
/// to four inputs: the 32-value formats on AVX-512, Q4_K/Q5_K/Q6_K on AVX2) give every entry exactly the bits of the one-row kernel, in every
/// variant the CPU can run, for every remainder of blocks (the kernels pair blocks and group them
/// by four) and every remainder of inputs: batched decoding in a server relies on it.
@Suite struct MultiKernelTests {
    typealias MultiDot = @convention(c) (Int, UnsafeRawPointer?, Int, Int, UnsafeRawPointer?, Int, Int, UnsafeMutablePointer<Float>?, Int) -> Void

    static let cases: [(String, MultiDot)] = [
        ("q4_0", loco_vec_dot_multi_q4_0_q8_0), ("q4_1", loco_vec_dot_multi_q4_1_q8_1), ("q5_0", loco_vec_dot_multi_q5_0_q8_0),
        ("q5_1", loco_vec_dot_multi_q5_1_q8_1), ("q8_0", loco_vec_dot_multi_q8_0_q8_0),
        ("q4_K", loco_vec_dot_multi_q4_K_q8_K), ("q5_K", loco_vec_dot_multi_q5_K_q8_K), ("q6_K", loco_vec_dot_multi_q6_K_q8_K),
    ]

    @Test(arguments: cases.map(\.0))
    func everyEntryMatchesTheOneRowKernel(_ name: String) {
        let multiDot = Self.cases.first { $0.0 == name }!.1
        let format = KernelTests.formats.first { $0.name == name }!
        let rows = 5
        for blocks in [1, 2, 3, 4, 5, 6, 7, 18] {
            let n = blocks * format.blockValues
            let w = KernelTests.weights(format, blocks: rows * blocks, seed: UInt64(blocks) * 17)
            let rowBytes = blocks * format.blockBytes
            for count in [1, 3, 4, 6, 9] {
                let inputs = (0..<count).map { KernelTests.quantize(KernelTests.activations(n, seed: UInt64(blocks * 100 + $0)), format.activation) }
                let inputBytes = inputs[0].count
                let a = inputs.flatMap { $0 }
                KernelTests.forEachVariant { variant in
                    var out = [Float](repeating: .nan, count: count * rows)
                    w.withUnsafeBytes { wp in
                        a.withUnsafeBytes { ap in
                            out.withUnsafeMutableBufferPointer {
                                multiDot(n, wp.baseAddress, rowBytes, rows, ap.baseAddress, inputBytes, count, $0.baseAddress, rows)
                            }
                        }
                    }
                    for t in 0..<count {
                        let one = (0..<rows).map { r in
                            KernelTests.dot(format, Array(w[(r * rowBytes)..<((r + 1) * rowBytes)]), inputs[t], count: n)
                        }
                        #expect(Array(out[(t * rows)..<((t + 1) * rows)]).map(\.bitPattern) == one.map(\.bitPattern),
                                "\(name), \(blocks) blocks, input \(t) of \(count), \(variant)")
                    }
                }
            }
        }
    }
}
