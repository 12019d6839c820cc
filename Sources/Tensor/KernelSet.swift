import CKernels

/// The family of SIMD kernels running in this process: what the CPU has, lowered by the
/// `LOCO_CPU_FEATURES` environment variable (`scalar`, `avx2`, `avx512`, `neon`, `neon-dotprod`,
/// or `native`, the default), so one machine can run and test the kernels of another.
///
/// Tests and benchmarks choose their expectation from ``running``, never from the machine's
/// name: ``Numerics/llamaCpp`` reproduces the float order of llama.cpp built for the running set
/// (AVX2 or AVX-512); under `scalar` or `neon` it keeps the AVX2 order in its emulated parts and
/// is close to llama.cpp, not identical.
public enum KernelSet: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Portable C, no SIMD.
    case scalar
    /// AVX2 with FMA and F16C (plus AVX-VNNI where the CPU has it).
    case avx2
    /// AVX-512 F/BW/VL/DQ (plus VNNI where the CPU has it).
    case avx512
    /// ARM64 NEON without the dot product instructions.
    case neon
    /// ARM64 NEON with sdot/udot.
    case neonDotprod = "neon-dotprod"

    /// The set this process runs: the CPU's features masked by `LOCO_CPU_FEATURES` (read once).
    public static var running: KernelSet { KernelSet(features: processFeatures) }

    /// The best set this CPU has, whatever `LOCO_CPU_FEATURES` says.
    public static var detected: KernelSet { KernelSet(features: loco_cpu_detected_features()) }

    /// The CPU's features masked by `LOCO_CPU_FEATURES` (not by a thread's own test mask).
    public static var processFeatures: UInt32 { loco_cpu_detected_features() & loco_cpu_environment_mask() }

    /// The set a feature bit set enables.
    public init(features f: UInt32) {
        let avx2 = UInt32(LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C)
        let avx512 = avx2 | UInt32(LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW)
        if f & avx512 == avx512 {
            self = .avx512
        } else if f & avx2 == avx2 {
            self = .avx2
        } else if f & UInt32(LOCO_CPU_NEON | LOCO_CPU_DOTPROD) == UInt32(LOCO_CPU_NEON | LOCO_CPU_DOTPROD) {
            self = .neonDotprod
        } else if f & UInt32(LOCO_CPU_NEON) != 0 {
            self = .neon
        } else {
            self = .scalar
        }
    }

    public var description: String { rawValue }

    /// Names of the features this CPU reports (before any mask), in a fixed order.
    public static var detectedFeatureNames: [String] { names(loco_cpu_detected_features()) }

    /// Names of the features the kernels use in this process.
    public static var runningFeatureNames: [String] { names(processFeatures) }

    /// A one-line description for logs and benchmark reports: the running set, its features,
    /// and what the CPU has when the environment lowered it.
    public static var summary: String {
        let running = runningFeatureNames.joined(separator: " ")
        let detected = detectedFeatureNames.joined(separator: " ")
        var text = "\(self.running.rawValue) (\(running.isEmpty ? "no SIMD" : running))"
        if running != detected { text += "; CPU has \(detected.isEmpty ? "no SIMD" : detected), lowered by LOCO_CPU_FEATURES" }
        return text
    }

    static func names(_ f: UInt32) -> [String] {
        let table: [(Int, String)] = [
            (LOCO_CPU_AVX2, "avx2"), (LOCO_CPU_FMA, "fma"), (LOCO_CPU_F16C, "f16c"), (LOCO_CPU_AVXVNNI, "avxvnni"),
            (LOCO_CPU_AVX512F, "avx512f"), (LOCO_CPU_AVX512BW, "avx512bw"), (LOCO_CPU_AVX512VNNI, "avx512vnni"),
            (LOCO_CPU_NEON, "neon"), (LOCO_CPU_DOTPROD, "dotprod"),
        ]
        return table.filter { f & UInt32($0.0) != 0 }.map(\.1)
    }

    /// Throws when `LOCO_CPU_FEATURES` holds a value this build does not know (the kernels then
    /// run the portable scalar code, so nothing faster than asked for ever runs).
    public static func validateEnvironment() throws(KernelSetError) {
        if let bad = loco_cpu_features_environment_error() {
            throw .unknownValue(String(cString: bad))
        }
    }
}

/// A `LOCO_CPU_FEATURES` value that is not a kernel set.
public enum KernelSetError: Error, Equatable, CustomStringConvertible {
    case unknownValue(String)

    public var description: String {
        switch self {
        case .unknownValue(let value):
            "LOCO_CPU_FEATURES=\(value) is not a kernel set (use one of native, "
                + KernelSet.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        }
    }
}
