#ifndef LOCO_CKERNELS_H
#define LOCO_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features the kernels dispatch on, as a bit set.
enum {
    LOCO_CPU_F16C = 1 << 0,
    LOCO_CPU_AVX2 = 1 << 1,
    LOCO_CPU_FMA = 1 << 2,
    LOCO_CPU_AVX512F = 1 << 3,
    LOCO_CPU_AVX512BW = 1 << 4,
    LOCO_CPU_AVX512VNNI = 1 << 5,
    LOCO_CPU_NEON = 1 << 6,
    /// ARMv8.2 dot product instructions (sdot/udot).
    LOCO_CPU_DOTPROD = 1 << 7,
    /// AVX-VNNI: the VEX-encoded 256-bit vpdpbusd of AVX2 laptops (Alder Lake and later).
    LOCO_CPU_AVXVNNI = 1 << 8,
};

/// The features of this CPU that the kernels may use (detected once), masked by the
/// LOCO_CPU_FEATURES environment variable and the calling thread's mask.
uint32_t loco_cpu_features(void);

/// The features this CPU reports, before any mask.
uint32_t loco_cpu_detected_features(void);

/// The mask LOCO_CPU_FEATURES asks for (read once at the first feature query): `scalar` (no SIMD),
/// `avx2` (AVX2 + FMA + F16C, with AVX-VNNI where present), `avx512` (everything x86), `neon`
/// (NEON without dotprod), `neon-dotprod` or `native` (everything), or all ones when the variable
/// is unset or empty. An unknown value selects `scalar` and is reported by
/// loco_cpu_features_environment_error().
uint32_t loco_cpu_environment_mask(void);

/// The LOCO_CPU_FEATURES value that was not understood, or NULL when it was (or is unset).
const char *loco_cpu_features_environment_error(void);

/// Features the dispatchers on the calling thread may use: detected features masked by this value
/// (thread-local). Tests lower it to run every variant the CPU can run; 0 forces the portable
/// scalar paths.
void loco_set_cpu_feature_mask(uint32_t mask);
uint32_t loco_cpu_feature_mask(void);

/// Makes a DYNAMIC_ARCH OpenBLAS that did not recognize this CPU (and fell back to old SSE
/// kernels) use the AVX-512 or AVX2 kernels the CPU has. Call once, before any thread runs BLAS.
/// Returns the core switched to, or NULL when nothing changed.
const char *loco_openblas_select_core(void);
/// IEEE binary16 -> binary32, exact for every input (NaN payloads kept, subnormals expanded).
void loco_f16_to_f32_row(const uint16_t *src, float *dst, size_t count);
/// bfloat16 -> binary32 (a 16-bit shift, exact).
void loco_bf16_to_f32_row(const uint16_t *src, float *dst, size_t count);

/// The portable scalar conversion the SIMD variants are checked against.
float loco_f16_to_f32_scalar(uint16_t h);

/// binary32 -> binary16, rounded to nearest even (ggml's GGML_FP32_TO_FP16 with F16C); NaNs
/// become quiet NaNs keeping the sign and the top payload bits.
void loco_f32_to_f16_row(const float *src, uint16_t *dst, size_t count);
uint16_t loco_f32_to_f16_scalar(float f);
/// binary32 -> bfloat16, rounded to nearest even, NaNs forced quiet (ggml_compute_fp32_to_bf16).
void loco_f32_to_bf16_row(const float *src, uint16_t *dst, size_t count);

// MARK: - Quantized row kernels
//
// Blocks are ggml's (32 values for Q4_0...Q8_1, 256 for the K and TQ formats); `n` counts values
// and must be a whole number of blocks. Each kernel has a portable scalar version and AVX2 and
// AVX-512 (VNNI, or AVX512BW without it) variants picked at run time; see Sources/CKernels/README.md.

/// Activation quantizers, byte-identical (for finite inputs) with ggml-cpu's x86 run-time
/// quantizers, what llama.cpp applies to activations: Q8_0/Q8_1 round half to even with
/// d = amax/127; Q8_K is ggml's quantize_row_q8_K_ref (an all-zero block gets zero bsums, which
/// ggml leaves unwritten). `y` receives n/32 (Q8_0: 34-byte, Q8_1: 36-byte) or n/256 (292-byte) blocks.
void loco_quantize_row_q8_0(const float *x, void *y, size_t n);
void loco_quantize_row_q8_1(const float *x, void *y, size_t n);
void loco_quantize_row_q8_K(const float *x, void *y, size_t n);

/// Dot product of one weight row `w` with activations `a` quantized by the matching quantizer
/// (|q| <= 127). Block sums are exact integers in every variant; variants differ only in the order
/// of the float additions.
float loco_vec_dot_q4_0_q8_0(size_t n, const void *w, const void *a);
float loco_vec_dot_q4_1_q8_1(size_t n, const void *w, const void *a);
float loco_vec_dot_q5_0_q8_0(size_t n, const void *w, const void *a);
float loco_vec_dot_q5_1_q8_1(size_t n, const void *w, const void *a);
float loco_vec_dot_q8_0_q8_0(size_t n, const void *w, const void *a);
/// `rows` weight rows (`row_bytes` apart, from `w`) times one activation vector, into out[0..<rows]:
/// the same result as the one-row product of each row, bit for bit, under every kernel set.
void loco_vec_dot_rows_q4_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out);
void loco_vec_dot_rows_q4_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out);
void loco_vec_dot_rows_q5_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out);
void loco_vec_dot_rows_q5_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out);
void loco_vec_dot_rows_q8_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out);
/// Q4_0 rows times one Q8_0 vector in ggml's repacked order (gemv_q4_0_8x8_q8_0, what llama.cpp
/// runs for Q4_0 on x86): per block the row's integer sum, then acc = fma(sum, d_w * d_a, acc).
/// Eight rows at a time with AVX2 (the fast decode product on x86), one at a time elsewhere.
void loco_vec_dot_rows_repacked_q4_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out);
/// Rows of a matrix times `count` activation vectors (`a + t * a_bytes`): `out[t * ldo + r]`, each
/// with the bits the one-row kernel gives it (the weights unpacked once for several activations).
void loco_vec_dot_multi_q4_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
void loco_vec_dot_multi_q4_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
void loco_vec_dot_multi_q5_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
void loco_vec_dot_multi_q5_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
void loco_vec_dot_multi_q8_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
/// The K formats' several-inputs products, as the ones above: each entry the bits of its one-row product.
void loco_vec_dot_multi_q4_K_q8_K(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
void loco_vec_dot_multi_q5_K_q8_K(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
void loco_vec_dot_multi_q6_K_q8_K(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo);
float loco_vec_dot_q2_K_q8_K(size_t n, const void *w, const void *a);
float loco_vec_dot_q3_K_q8_K(size_t n, const void *w, const void *a);
float loco_vec_dot_q4_K_q8_K(size_t n, const void *w, const void *a);
float loco_vec_dot_q5_K_q8_K(size_t n, const void *w, const void *a);
float loco_vec_dot_q6_K_q8_K(size_t n, const void *w, const void *a);
float loco_vec_dot_tq1_0_q8_K(size_t n, const void *w, const void *a);
float loco_vec_dot_tq2_0_q8_K(size_t n, const void *w, const void *a);

/// The same products in the float order of llama.cpp's CPU backend (ggml_order_k.c), for
/// Numerics.llamaCpp: bit-identical with ggml whichever variant (AVX2 or portable C) runs.
/// `vec_dot`: ggml's AVX2 `ggml_vec_dot_*_q8_K` (llama.cpp's one-token products).
/// `tiled`: one row and column of ggml-cpu's tiled K-quant GEMM (batches of 8 rows and more).
float loco_ggml_vec_dot_q6_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_tiled_dot_q6_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_vec_dot_q5_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_tiled_dot_q5_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_vec_dot_q3_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_tiled_dot_q3_K_q8_K(size_t n, const void *w, const void *a);
/// `gemv` / `gemm`: one row and column of ggml's repacked Q4_K products (`q4_K_8x8`, matrices
/// with a multiple of 8 rows): `gemm` for batch rows in groups of 4, `gemv` for the rest.
float loco_ggml_gemv_dot_q4_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_gemm_dot_q4_K_q8_K(size_t n, const void *w, const void *a);
/// The same for Q2_K (`q2_K_8x8`, which ggml chooses only on CPUs with AVX-512).
float loco_ggml_gemv_dot_q2_K_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_gemm_dot_q2_K_q8_K(size_t n, const void *w, const void *a);
/// TQ1_0 / TQ2_0 in ggml's vec_dot order (its AVX2 code, which every x86 build runs).
float loco_ggml_vec_dot_tq1_0_q8_K(size_t n, const void *w, const void *a);
float loco_ggml_vec_dot_tq2_0_q8_K(size_t n, const void *w, const void *a);

/// Dequantize a row to floats, bit-identical with ggml's dequantize_row_* in every variant (same
/// float operations in the same order, no fused multiply-add).
void loco_dequantize_row_q4_0(const void *x, float *y, size_t n);
void loco_dequantize_row_q4_1(const void *x, float *y, size_t n);
void loco_dequantize_row_q5_0(const void *x, float *y, size_t n);
void loco_dequantize_row_q5_1(const void *x, float *y, size_t n);
void loco_dequantize_row_q8_0(const void *x, float *y, size_t n);
void loco_dequantize_row_q2_K(const void *x, float *y, size_t n);
void loco_dequantize_row_q3_K(const void *x, float *y, size_t n);
void loco_dequantize_row_q4_K(const void *x, float *y, size_t n);
void loco_dequantize_row_q5_K(const void *x, float *y, size_t n);
void loco_dequantize_row_q6_K(const void *x, float *y, size_t n);
void loco_dequantize_row_q8_K(const void *x, float *y, size_t n);
void loco_dequantize_row_tq1_0(const void *x, float *y, size_t n);
void loco_dequantize_row_tq2_0(const void *x, float *y, size_t n);


// MARK: - Activations (fast numerics)

/// Softmax of n floats in place: subtract the maximum, exp (a vectorized exp within 2 ulp of
/// expf), divide by the sum. Not ggml's order or exp: Numerics.llamaCpp has its own.
void loco_softmax_f32(float *x, size_t n);
/// The softmax of x in place, returning log(sum(exp(x))) (the log-sum-exp a cross-entropy needs).
float loco_log_softmax_f32(float *x, size_t n);
/// gate[i] = silu(gate[i]) * up[i], with the same exp.
void loco_swiglu_f32(float *gate, const float *up, size_t n);
/// The backward of loco_swiglu_f32 from dh: dgate = dh up silu'(gate), dup = dh silu(gate). dgate may be dh.
void loco_swiglu_backward_f32(const float *gate, const float *up, const float *dh, float *dgate, float *dup, size_t n);
/// y[r] = beta * y[r] + alpha * dot(a[r], x) for the `rows` rows of the row-major `rows` x `cols`
/// matrix `a` (beta 0: y is only written). For small products (a LoRA factor times one
/// activation row), where a BLAS call costs more than the arithmetic.
void loco_matvec_f32(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha, float beta);
/// y[c] += alpha * sum over r of x[r] * a[r * cols + c]: the row-major `rows` x `cols` matrix `a`
/// used transposed (y has `cols` values, x `rows`).
void loco_matvec_t_f32(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha);

/// Attention of one query (`d` floats, not rounded) over an F16 cache: keys and values of the
/// positions `first..<length` at `stride` halves a row; scores scaled by `scale`, the softmax of
/// loco_softmax_f32, then out (d floats) = the values weighted by it. `scores` is scratch of
/// `length` floats (positions before `first` are left alone). Fast numerics: not ggml's order.
void loco_attention_one_f16(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t first,
                            size_t length, size_t d, float scale, float *scores, float *out);

// MARK: - Panel products (many input rows)
//
// A product of many activation rows (prefill) through one common form of every weight format
// (gemm_panel.c): weight rows are unpacked a few at a time into unsigned bytes with a scale and a
// minimum per 16 values, activations (the bytes the quantizers above made) into signed bytes with
// their scales and group sums, and one integer kernel multiplies the two. Integer sums are exact;
// only the float rounding differs from the row kernels.

/// Bytes of one panel row of n values (64-byte multiple).
size_t loco_panel_row_bytes(size_t n);
/// 1 if weights of ggml type id `type` have a panel form.
int loco_panel_supports(int type);
/// 1 if the panel kernel has a SIMD variant on this CPU (under the calling thread's feature
/// mask), so it beats the row kernels; without one it still runs, in portable C.
int loco_panel_preferred(void);
/// Panel rows for `rows` activation rows of n values in `format` (0: Q8_0, 1: Q8_1, 2: Q8_K),
/// `row_bytes` apart, into `panel` (64-byte aligned, rows * loco_panel_row_bytes(n) bytes).
void loco_panel_activations(int format, const void *a, size_t row_bytes, size_t rows, size_t n, void *panel);
/// out[t * ldo + r] = dot(weight row r, activation row t) for r in row_start ..< row_start +
/// row_count and t < count; `w` is the whole matrix (rows `w_row_bytes` apart). Returns 0 (and
/// writes nothing) for an unsupported type or width, or when memory runs out.
int loco_panel_gemm(int type, const void *w, size_t w_row_bytes, size_t row_start, size_t row_count, size_t n,
                    const void *panel, size_t count, float *out, size_t ldo);
/// Weight rows row_start ..< row_start + row_count of a `type` matrix of width n laid out as the
/// panel kernel reads them, at laid + r * loco_panel_row_bytes(n) for row r (laid: 64-byte
/// aligned). Returns 0 for a type without a panel form or out of memory.
int loco_panel_lay_out_weights(int type, const void *w, size_t w_row_bytes, size_t row_start, size_t row_count, size_t n,
                               void *laid);
/// loco_panel_gemm over weight rows laid out before (loco_panel_lay_out_weights of the whole
/// matrix): the same results, without unpacking the weights again.
int loco_panel_gemm_laid(int type, const void *laid, size_t row_start, size_t row_count, size_t n,
                         const void *panel, size_t count, float *out, size_t ldo);

#ifdef __cplusplus
}
#endif

#endif
