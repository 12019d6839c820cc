import CKernels
import Foundation
import Testing
@testable import Tensor

/// The vectorized exp behind the fast softmax and SwiGLU (CKernels/activations.c), in each variant
/// the CPU can run (AVX-512, AVX2, portable), against the definitions computed in double. Its
/// polynomial is good to about 2 ulp; with the sum, the division and the subtraction of the
/// maximum, a softmax value stays within 8 float ulps of its exact value (relative 1e-6), far
/// below what a wrong constant or a lost lane would give, plus what rounding `x - max` to float
/// costs (half an ulp of the difference: relative `|x - max| 2^-24` after the exp), and below
/// float's normal range (2^-126) no relative precision at all (AVX2 clamps there).
@Suite struct VectorExpTests {
    static let variants: [(String, UInt32)] = [
        ("all", 0xFFFF_FFFF),
        ("avx2", UInt32(LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C)),
        ("portable", 0),
    ]

    static func withMask<T>(_ mask: UInt32, _ body: () -> T) -> T {
        let saved = loco_cpu_feature_mask()
        loco_set_cpu_feature_mask(mask)
        defer { loco_set_cpu_feature_mask(saved) }
        return body()
    }

    @Test(arguments: [1, 7, 16, 33, 500])
    func softmaxMatchesItsDefinition(_ n: Int) {
        var random = TestRandom(seed: UInt64(n))
        // Scores up to +-40 around the maximum: results from 1 down to far below float's smallest.
        var x = random.normals(n, scale: 12)
        if n > 3 { x[1] = -90; x[2] = 60 }
        let maximum = Double(x.max()!)
        let sum = x.reduce(0.0) { $0 + exp(Double($1) - maximum) }
        for (name, mask) in Self.variants {
            var y = x
            Self.withMask(mask) { y.withUnsafeMutableBufferPointer { loco_softmax_f32($0.baseAddress!, n) } }
            for i in 0..<n {
                let exact = exp(Double(x[i]) - maximum) / sum
                let bound = (1e-6 + abs(Double(x[i]) - maximum) * 0x1p-24) * exact + 0x1p-125
                #expect(abs(Double(y[i]) - exact) <= bound, "\(name) n=\(n) [\(i)]: \(y[i]) vs \(exact)")
            }
        }
    }

    @Test func swigluMatchesItsDefinition() {
        var random = TestRandom(seed: 77)
        var gate = random.normals(1000, scale: 10)
        gate += [-100, -88, 0, 88, 100, 1e-20]
        let up = random.normals(gate.count)
        for (name, mask) in Self.variants {
            var y = gate
            Self.withMask(mask) { y.withUnsafeMutableBufferPointer { loco_swiglu_f32($0.baseAddress!, up, up.count) } }
            for i in y.indices {
                let g = Double(gate[i])
                let exact = g / (1 + exp(-g)) * Double(up[i])
                #expect(abs(Double(y[i]) - exact) <= 1e-6 * abs(exact) + 1e-37, "\(name) [\(i)] g=\(g): \(y[i]) vs \(exact)")
            }
        }
    }
}

/// The kernel set a feature mask stands for, and the process's set within what the CPU has.
@Suite struct KernelSetTests {
    @Test func featureMasksMapToSets() {
        let avx2 = UInt32(LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C)
        #expect(KernelSet(features: 0) == .scalar)
        #expect(KernelSet(features: UInt32(LOCO_CPU_AVX2)) == .scalar)  // AVX2 without FMA/F16C is not the AVX2 set
        #expect(KernelSet(features: avx2) == .avx2)
        #expect(KernelSet(features: avx2 | UInt32(LOCO_CPU_AVXVNNI)) == .avx2)
        #expect(KernelSet(features: avx2 | UInt32(LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW)) == .avx512)
        #expect(KernelSet(features: UInt32(LOCO_CPU_NEON)) == .neon)
        #expect(KernelSet(features: UInt32(LOCO_CPU_NEON | LOCO_CPU_DOTPROD)) == .neonDotprod)
    }

    @Test func runningSetIsWithinTheCPU() throws {
        try KernelSet.validateEnvironment()
        #expect(KernelSet.processFeatures & ~loco_cpu_detected_features() == 0)
        #expect(loco_cpu_features() == KernelSet.processFeatures & loco_cpu_feature_mask())
        print("kernels:", KernelSet.summary)
    }
}
