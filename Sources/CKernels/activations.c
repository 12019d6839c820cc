// Vectorized exp for the fast numerics: the softmax of attention scores and SwiGLU, the two
// places prefill spends millions of exp calls. exp(x) = 2^k * e^r with k = round(x / ln 2),
// r = x - k ln 2 (ln 2 split in two for an exact reduction, |r| <= ln2/2), e^r by its Taylor
// polynomial of degree 6 (truncation below 2e-8 relative) in Horner form: within 2 ulp of expf
// over the range that does not overflow. Inputs below -87.3 give 0 (through 2^k's underflow) and
// above 88.7 infinity, as expf does; NaN stays NaN.
#include "CKernels.h"
#include "row_kernels.h"

#include <math.h>

#define LN2_HI 0.693145751953125f
#define LN2_LO 1.428606765330187045e-06f
#define LOG2E 1.44269504088896341f

static float softmax_scalar(float *x, size_t n) {
    float maximum = -INFINITY;
    for (size_t i = 0; i < n; i++) maximum = x[i] > maximum ? x[i] : maximum;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - maximum);
        sum += x[i];
    }
    const float inverse = (float)(1 / sum);
    for (size_t i = 0; i < n; i++) x[i] *= inverse;
    return maximum + (float)log(sum);
}

static void swiglu_scalar(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}

// The backward of h = silu(g) u: dg = dh u s (1 + g (1 - s)) with s = sigmoid(g), du = dh g s.
// dgate may alias dh.
static void swiglu_backward_scalar(const float *gate, const float *up, const float *dh, float *dgate, float *dup, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i], s = 1 / (1 + expf(-g)), d = dh[i];
        dup[i] = d * g * s;
        dgate[i] = d * up[i] * s * (1 + g * (1 - s));
    }
}

#if defined(__x86_64__)
#define A512 __attribute__((target("avx512f,avx512dq,fma")))
#define A2 __attribute__((target("avx2,fma")))

A512 static inline __m512 exp512(__m512 x) {
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    // scalef handles the whole exponent range, subnormal results and infinities included.
    return _mm512_scalef_ps(p, k);
}

A512 static float softmax_avx512(float *x, size_t n) {
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    float maximum = _mm512_reduce_max_ps(vmax);
    for (; i < n; i++) maximum = x[i] > maximum ? x[i] : maximum;
    const __m512 m = _mm512_set1_ps(maximum);
    __m512 vsum = _mm512_setzero_ps();
    for (i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m));
        _mm512_mask_storeu_ps(x + i, k, e);
        vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(k, e));
    }
    const float sum = _mm512_reduce_add_ps(vsum);
    const __m512 inverse = _mm512_set1_ps(1.0f / sum);
    for (i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inverse));
    }
    return maximum + logf(sum);
}

A512 static void swiglu_backward_avx512(const float *gate, const float *up, const float *dh, float *dgate, float *dup, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(dh + i);
        const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        const __m512 ds = _mm512_mul_ps(d, s);
        _mm512_storeu_ps(dup + i, _mm512_mul_ps(ds, g));
        const __m512 slope = _mm512_fmadd_ps(g, _mm512_sub_ps(one, s), one);
        _mm512_storeu_ps(dgate + i, _mm512_mul_ps(_mm512_mul_ps(ds, _mm512_loadu_ps(up + i)), slope));
    }
    swiglu_backward_scalar(gate + i, up + i, dh + i, dgate + i, dup + i, n - i);
}

A512 static void swiglu_avx512(float *gate, const float *up, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(k, gate + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(gate + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, up + i)));
    }
}

A2 static inline __m256 exp256(__m256 x) {
    // 2^k built in the exponent field needs k in [-126, 127]: clamp x there first (below, the
    // result is 0 to float precision anyway; above, it overflows to infinity as it should).
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.72284f));
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    // 2^k in two halves, so k = 128 (x near 88.7) does not overflow the exponent field early.
    const __m256i ki = _mm256_cvtps_epi32(k);
    const __m256i half = _mm256_srai_epi32(ki, 1);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ki, half), _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

A2 static float softmax_avx2(float *x, size_t n) {
    float maximum = -INFINITY;
    for (size_t i = 0; i < n; i++) maximum = x[i] > maximum ? x[i] : maximum;
    const __m256 m = _mm256_set1_ps(maximum);
    __m256 vsum = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, vsum);
    float sum = 0;
    for (int l = 0; l < 8; l++) sum += lanes[l];
    for (; i < n; i++) {
        x[i] = expf(x[i] - maximum);
        sum += x[i];
    }
    const float inverse = 1.0f / sum;
    for (i = 0; i < n; i++) x[i] *= inverse;
    return maximum + logf(sum);
}

A2 static void swiglu_backward_avx2(const float *gate, const float *up, const float *dh, float *dgate, float *dup, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dh + i);
        const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        const __m256 ds = _mm256_mul_ps(d, s);
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(ds, g));
        const __m256 slope = _mm256_fmadd_ps(g, _mm256_sub_ps(one, s), one);
        _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(ds, _mm256_loadu_ps(up + i)), slope));
    }
    swiglu_backward_scalar(gate + i, up + i, dh + i, dgate + i, dup + i, n - i);
}

A2 static void swiglu_avx2(float *gate, const float *up, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    swiglu_scalar(gate + i, up + i, n - i);
}
#endif

#if defined(__aarch64__)
#include "activations_neon.h"
#endif

#if defined(__x86_64__)
#define LOCO_DISPATCH_EXP(kernel, ...)                                                              \
    do {                                                                                            \
        const uint32_t f_ = loco_cpu_features();                                                    \
        if (f_ & LOCO_CPU_AVX512F) { kernel##_avx512(__VA_ARGS__); return; }                        \
        if ((f_ & (LOCO_CPU_AVX2 | LOCO_CPU_FMA)) == (LOCO_CPU_AVX2 | LOCO_CPU_FMA)) {               \
            kernel##_avx2(__VA_ARGS__);                                                             \
            return;                                                                                 \
        }                                                                                           \
        kernel##_scalar(__VA_ARGS__);                                                               \
    } while (0)
#elif defined(__aarch64__)
#define LOCO_DISPATCH_EXP(kernel, ...)                                                              \
    do {                                                                                            \
        if (loco_cpu_features() & LOCO_CPU_NEON) { kernel##_neon(__VA_ARGS__); return; }            \
        kernel##_scalar(__VA_ARGS__);                                                               \
    } while (0)
#else
#define LOCO_DISPATCH_EXP(kernel, ...) kernel##_scalar(__VA_ARGS__)
#endif

#if defined(__x86_64__)
#define LOCO_DISPATCH_EXP_VALUE(kernel, ...)                                                        \
    do {                                                                                            \
        const uint32_t f_ = loco_cpu_features();                                                    \
        if (f_ & LOCO_CPU_AVX512F) return kernel##_avx512(__VA_ARGS__);                             \
        if ((f_ & (LOCO_CPU_AVX2 | LOCO_CPU_FMA)) == (LOCO_CPU_AVX2 | LOCO_CPU_FMA))                 \
            return kernel##_avx2(__VA_ARGS__);                                                      \
        return kernel##_scalar(__VA_ARGS__);                                                        \
    } while (0)
#elif defined(__aarch64__)
#define LOCO_DISPATCH_EXP_VALUE(kernel, ...)                                                        \
    do {                                                                                            \
        if (loco_cpu_features() & LOCO_CPU_NEON) return kernel##_neon(__VA_ARGS__);                 \
        return kernel##_scalar(__VA_ARGS__);                                                        \
    } while (0)
#else
#define LOCO_DISPATCH_EXP_VALUE(kernel, ...) return kernel##_scalar(__VA_ARGS__)
#endif

void loco_softmax_f32(float *x, size_t n) { (void)loco_log_softmax_f32(x, n); }
float loco_log_softmax_f32(float *x, size_t n) { LOCO_DISPATCH_EXP_VALUE(softmax, x, n); }
void loco_swiglu_f32(float *gate, const float *up, size_t n) { LOCO_DISPATCH_EXP(swiglu, gate, up, n); }
void loco_swiglu_backward_f32(const float *gate, const float *up, const float *dh, float *dgate, float *dup, size_t n) {
    LOCO_DISPATCH_EXP(swiglu_backward, gate, up, dh, dgate, dup, n);
}

// MARK: - Small F32 matrix-vector products (LoRA factors at decode)

static void matvec_scalar(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha, float beta) {
    for (size_t r = 0; r < rows; r++) {
        float sum = 0;
        for (size_t c = 0; c < cols; c++) sum += a[r * cols + c] * x[c];
        y[r] = (beta == 0 ? 0 : beta * y[r]) + alpha * sum;
    }
}

#if defined(__x86_64__)
A512 static void matvec_avx512(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha, float beta) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = a + r * cols;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        size_t c = 0;
        for (; c + 32 <= cols; c += 32) {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(row + c), _mm512_loadu_ps(x + c), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(row + c + 16), _mm512_loadu_ps(x + c + 16), acc1);
        }
        for (; c < cols; c += 16) {
            const __mmask16 k = cols - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - c)) - 1);
            acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, row + c), _mm512_maskz_loadu_ps(k, x + c), acc0);
        }
        const float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        y[r] = (beta == 0 ? 0 : beta * y[r]) + alpha * sum;
    }
}

A2 static void matvec_avx2(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha, float beta) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = a + r * cols;
        __m256 acc = _mm256_setzero_ps();
        size_t c = 0;
        for (; c + 8 <= cols; c += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(x + c), acc);
        float lanes[8], sum = 0;
        _mm256_storeu_ps(lanes, acc);
        for (int l = 0; l < 8; l++) sum += lanes[l];
        for (; c < cols; c++) sum += row[c] * x[c];
        y[r] = (beta == 0 ? 0 : beta * y[r]) + alpha * sum;
    }
}
#endif

void loco_matvec_f32(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha, float beta) {
    LOCO_DISPATCH_EXP(matvec, a, rows, cols, x, y, alpha, beta);
}

/// y[c] += alpha * sum over r of x[r] * a[r][c]: a row-major `rows` x `cols` matrix used
/// transposed, as axpy over its rows (contiguous, fully vectorized).
static void matvec_t_scalar(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha) {
    for (size_t r = 0; r < rows; r++) {
        const float w = alpha * x[r];
        for (size_t c = 0; c < cols; c++) y[c] += w * a[r * cols + c];
    }
}

#if defined(__x86_64__)
A512 static void matvec_t_avx512(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha) {
    for (size_t c0 = 0; c0 < cols; c0 += 64) {
        // Four output vectors stay in registers over all rows.
        __m512 acc[4];
        __mmask16 mask[4];
        for (int v = 0; v < 4; v++) {
            const size_t c = c0 + 16 * (size_t)v;
            mask[v] = c >= cols ? 0 : cols - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - c)) - 1);
            acc[v] = _mm512_setzero_ps();
        }
        for (size_t r = 0; r < rows; r++) {
            const __m512 w = _mm512_set1_ps(alpha * x[r]);
            for (int v = 0; v < 4; v++) acc[v] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mask[v], a + r * cols + c0 + 16 * v), acc[v]);
        }
        for (int v = 0; v < 4; v++) {
            float *out = y + c0 + 16 * v;
            _mm512_mask_storeu_ps(out, mask[v], _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], out), acc[v]));
        }
    }
}

A2 static void matvec_t_avx2(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha) {
    size_t c = 0;
    for (; c + 8 <= cols; c += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (size_t r = 0; r < rows; r++) acc = _mm256_fmadd_ps(_mm256_set1_ps(alpha * x[r]), _mm256_loadu_ps(a + r * cols + c), acc);
        _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(y + c), acc));
    }
    for (; c < cols; c++) {
        float sum = 0;
        for (size_t r = 0; r < rows; r++) sum += alpha * x[r] * a[r * cols + c];
        y[c] += sum;
    }
}
#endif

void loco_matvec_t_f32(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha) {
    LOCO_DISPATCH_EXP(matvec_t, a, rows, cols, x, y, alpha);
}
