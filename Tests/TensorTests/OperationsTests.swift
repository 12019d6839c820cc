import Foundation
import Testing
@testable import Tensor

/// Norms, RoPE, softmax and activations against their definitions computed in double.
@Suite struct OperationsTests {
    @Test func rmsNormMatchesItsDefinition() {
        var random = TestRandom(seed: 21)
        let width = 576
        let x = random.normals(3 * width, scale: 3), w = random.normals(width)
        let y = Normalization.rmsNorm(x, weight: w, epsilon: 1e-5)
        for r in 0..<3 {
            let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
            let scale = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(width) + 1e-5).squareRoot()
            for i in 0..<width {
                let expected = row[i] * scale * Double(w[i])
                #expect(abs(Double(y[r * width + i]) - expected) <= 4e-7 * (abs(expected) + 1e-3))
            }
        }
    }

    /// Both pairings rotate by `position * base^(-2i/d)`, leave norms unchanged, and at position
    /// zero change nothing.
    @Test(arguments: [RotaryEmbedding.Style.interleaved, .halves])
    func ropeRotatesPairsByTheirAngles(_ style: RotaryEmbedding.Style) {
        let d = 64, heads = 3
        let rope = RotaryEmbedding(style: style, dimensions: d, base: 10000)
        var random = TestRandom(seed: 22)
        let x = random.normals(heads * d)
        #expect(rope.applied(to: x, heads: heads, headDimension: d, position: 0) == x)
        for position in [1, 17, 300] {
            let y = rope.applied(to: x, heads: heads, headDimension: d, position: position)
            for h in 0..<heads {
                for i in 0..<(d / 2) {
                    let (a, b) = style == .interleaved ? (h * d + 2 * i, h * d + 2 * i + 1) : (h * d + i, h * d + i + d / 2)
                    let angle = Double(position) * pow(10000, -2 * Double(i) / Double(d))
                    let e0 = Double(x[a]) * cos(angle) - Double(x[b]) * sin(angle)
                    let e1 = Double(x[a]) * sin(angle) + Double(x[b]) * cos(angle)
                    // The float angle of a large position carries its own rounding (ggml's too).
                    let tolerance = 2e-6 * Double(position) * (abs(Double(x[a])) + abs(Double(x[b]))) + 1e-6
                    #expect(abs(Double(y[a]) - e0) <= tolerance && abs(Double(y[b]) - e1) <= tolerance)
                }
            }
        }
    }

    @Test func ropeLeavesValuesPastItsDimensionsAndDividesByFrequencyFactors() {
        let rope = RotaryEmbedding(style: .interleaved, dimensions: 4, base: 10000, frequencyFactors: [1, 4])
        let x: [Float] = [1, 0, 1, 0, 5, 6]
        let y = rope.applied(to: x, heads: 1, headDimension: 6, position: 2)
        #expect(Array(y[4...]) == [5, 6])
        #expect(abs(y[0] - cosf(2)) < 1e-6 && abs(y[1] - sinf(2)) < 1e-6)
        let angle: Float = 2 * powf(10000, -0.5) / 4
        #expect(abs(y[2] - cosf(angle)) < 1e-6 && abs(y[3] - sinf(angle)) < 1e-6)
    }

    @Test func softmaxSumsToOne() {
        let y = Activations.softmax([1, 2, 3, -1000, 4])
        #expect(abs(y.reduce(0, +) - 1) < 1e-6)
        #expect(y[3] == 0)
        let e = [1, 2, 3, 4].map { exp(Double($0) - 4) }
        #expect(abs(Double(y[4]) - e[3] / (e.reduce(0, +) + exp(-1004))) < 1e-7)
    }

    @Test func gatedActivations() {
        var gate: [Float] = [-2, 0, 0.5, 3], up: [Float] = [1, 2, 3, 4]
        var swiglu = gate
        swiglu.withUnsafeMutableBufferPointer { Activations.swiglu(gate: $0.baseAddress!, up: up, count: 4) }
        for i in 0..<4 { #expect(abs(Double(swiglu[i]) - Double(gate[i]) / (1 + exp(-Double(gate[i]))) * Double(up[i])) < 1e-6) }
        gate.withUnsafeMutableBufferPointer { Activations.geglu(gate: $0.baseAddress!, up: up, count: 4) }
        let gelu = { (x: Double) in 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
        // ggml's F16 table: the input and the GELU are each rounded to F16 (11 significant bits),
        // so the product is within about 2^-10 of the exact value, relatively.
        for (i, x) in [-2.0, 0, 0.5, 3].enumerated() {
            let exact = gelu(x) * Double(up[i])
            #expect(abs(Double(gate[i]) - exact) <= 2e-3 * abs(exact) + 1e-7)
        }
        // Outside (-10, 10) no table: 0 below, x above.
        var wide: [Float] = [-10, -30, 10, 25], ones: [Float] = [1, 1, 2, 1]
        wide.withUnsafeMutableBufferPointer { Activations.geglu(gate: $0.baseAddress!, up: ones, count: 4) }
        #expect(wide == [0, 0, 20, 25])
        ones = []
        up = []
    }

    /// The vector F16 rounding and the split across workers give every value the bits of the
    /// one-value definition: `Float16(x)` (round to nearest even) looks up the table.
    @Test func gegluChunksAndWorkersKeepTheBits() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_400_000) / 100_000  // -24 ... 24
        }
        let count = 40_003
        let up = (0..<count).map { _ in next() }
        var gate = (0..<count).map { _ in next() }
        gate[0] = 1e-8; gate[1] = -10; gate[2] = 10; gate[3] = 65_519; gate[4] = -0.0
        let expected = (0..<count).map { i -> Float in
            let x = gate[i]
            if x <= -10 { return 0 }
            if x >= 10 { return x * up[i] }
            return Activations.geluTable[Int(Float16(x).bitPattern)] * up[i]
        }
        let pool = ComputePool(threads: 3)
        gate.withUnsafeMutableBufferPointer { Activations.geglu(gate: $0.baseAddress!, up: up, count: count, pool: pool) }
        #expect(gate.map(\.bitPattern) == expected.map(\.bitPattern))
    }
}
