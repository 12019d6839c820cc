import CKernels

/// How the float work of a forward pass is ordered: the fastest way, or exactly as llama.cpp's
/// CPU backend orders it.
///
/// On quantized weights every product rounds its input to 8 bits, so a last-bit difference
/// upstream now and then moves a value across a rounding boundary, and that step grows through the
/// layers: measured on SmolLM2-135M Q8_0 over 300 tokens, `fast` logits differ from llama.cpp's by
/// up to 2 (max logit 38) with the argmax differing on 2-3% of positions, about as much as llama.cpp
/// differs from itself between a batched and a token-by-token pass. `llamaCpp` removes the
/// difference where ggml's order is reproduced (bit-identical logits on Q8_0, Q4_0, Q4_1, Q5_0, Q5_1).
public enum Numerics: String, Sendable, CaseIterable {
    /// BLAS attention, `expf`, the fastest dot-product variants.
    case fast
    /// ggml-cpu's order (GCC) for the build matching the running kernel set
    /// (``KernelSet/running``): llama.cpp built for AVX-512 on the AVX-512 kernels, built for AVX2
    /// on the AVX2 ones. Quantized dot products in ggml's 8-lane AVX2 order (the same in both
    /// builds; Q4_0 block by block, Q4_K/Q2_K repacked and Q3_K/Q5_K/Q6_K tiled as ggml computes
    /// them), attention as `ggml_vec_dot_f32` / `ggml_soft_max` with `ggml_v_expf` / llamafile's
    /// `tinyBLAS` in that build's vector width and formulas, SwiGLU with `ggml_v_silu`. The
    /// attention and SwiGLU arithmetic is emulated in Swift (no hardware FMA without compiler
    /// flags), so this mode is several times slower; it exists to check results. Under the scalar
    /// or NEON kernel sets the emulated parts keep AVX2's order and the products run portable C:
    /// close to llama.cpp, not identical. Not reproduced: TQ1_0/TQ2_0, Q2_K in AVX2's order, F16 GEMM.
    case llamaCpp

    /// The name `--numerics` takes on the command line: "fast" or "llama-cpp".
    public var flagName: String { self == .llamaCpp ? "llama-cpp" : "fast" }

    /// The numerics `--numerics NAME` names, nil for any other name.
    public init?(flagName: String) {
        guard let found = Self.allCases.first(where: { $0.flagName == flagName }) else { return nil }
        self = found
    }

    /// The CKernels feature mask the dot products run under: ggml's dot products accumulate in
    /// the 8-lane order of the AVX2 variants.
    var kernelFeatures: UInt32 {
        switch self {
        case .fast: 0xFFFF_FFFF
        case .llamaCpp: UInt32(LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C)
        }
    }

    /// Runs `body` with the calling thread's kernel variants restricted as this mode needs.
    @inline(__always) func withKernels<R>(_ body: () -> R) -> R {
        guard self != .fast else { return body() }
        let saved = loco_cpu_feature_mask()
        loco_set_cpu_feature_mask(saved & kernelFeatures)
        defer { loco_set_cpu_feature_mask(saved) }
        return body()
    }
}
