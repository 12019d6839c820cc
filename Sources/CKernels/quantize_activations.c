// Activation quantizers: a row of floats -> Q8_0 / Q8_1 / Q8_K blocks, byte-identical with what
// ggml's CPU backend does at run time on x86 (ggml-cpu's quantize_row_q8_0 / _q8_1 built with
// AVX2, and quantize_row_q8_K, which is ggml's quantize_row_q8_K_ref). Every variant here produces
// the same bytes; the tests check that, and check the scalar code against ggml's own output.
#include "CKernels.h"
#include "row_kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

// MARK: - Q8_0 and Q8_1 (32 values a block)
//
// ggml's x86 code, which this matches, differs from its portable quantize_row_q8_0_ref:
//   d = amax / 127 (stored as half, rounded to nearest even),
//   q = round_half_even(x * (127 / amax))   (the reference multiplies by 1/d and uses roundf),
// then int32 -> int16 -> int8 with signed saturation. Q8_1 adds s = half(d * sum(q)) with the
// float d (not its half).

/// cvtps_epi32 then the two saturating packs: NaN and out-of-range values become INT32_MIN first.
static inline int8_t q8_from_rounded(float r) {
    int32_t i = (r >= -2147483648.0f && r < 2147483648.0f) ? (int32_t)r : INT32_MIN;
    return (int8_t)(i > 127 ? 127 : (i < -128 ? -128 : i));
}

static inline float amax32(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

static void quantize_q8_0_scalar(const float *x, blk_q8_0 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        const float amax = amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = loco_f32_to_f16_scalar(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = q8_from_rounded(rintf(x[j] * id));
    }
}

static void quantize_q8_1_scalar(const float *x, blk_q8_1 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        const float amax = amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = loco_f32_to_f16_scalar(d);
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
            const float r = rintf(x[j] * id);
            // ggml sums the int32 values before packing them; they agree for finite rows.
            sum += (r >= -2147483648.0f && r < 2147483648.0f) ? (int32_t)r : INT32_MIN;
            y[i].qs[j] = q8_from_rounded(r);
        }
        y[i].s = loco_f32_to_f16_scalar(d * (float)sum);
    }
}

// MARK: - Q8_K (256 values a block)
//
// ggml's quantize_row_q8_K_ref: max = the signed value of largest magnitude (first one on ties),
// iscale = -127 / max, q = min(127, nearest_int(iscale * x)) with nearest_int the 1.5 * 2^23
// trick (round half to even), bsums = sums of 16, d = 1 / iscale. An all-zero block gets d = 0
// and zero quants; ggml leaves its bsums unwritten, these kernels write zeros.

static inline int nearest_int(float fval) {
    float val = fval + 12582912.0f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static void quantize_q8_K_scalar(const float *x, blk_q8_K *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += LOCO_QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < LOCO_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < LOCO_QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < LOCO_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

#if defined(__x86_64__)

// MARK: - AVX2

__attribute__((target("avx2,f16c")))
static inline float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,f16c")))
static inline int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// One 32-value block: rounded int32 quants (four vectors of 8) and the float d.
__attribute__((target("avx2,f16c")))
static inline float quantize32_avx2(const float *x, __m256i q[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    }
    const float amax = hmax256(m);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 mul = _mm256_set1_ps(id);
    for (int k = 0; k < 4; k++) {
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    return amax / 127.0f;
}

/// Four vectors of int32 -> 32 int8 in element order, saturating.
__attribute__((target("avx2,f16c")))
static inline __m256i pack32_avx2(const __m256i q[4]) {
    __m256i a = _mm256_packs_epi32(q[0], q[1]);
    __m256i b = _mm256_packs_epi32(q[2], q[3]);
    a = _mm256_packs_epi16(a, b);
    return _mm256_permutevar8x32_epi32(a, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

__attribute__((target("avx2,f16c")))
static void quantize_q8_0_avx2(const float *x, blk_q8_0 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        __m256i q[4];
        const float d = quantize32_avx2(x, q);
        y[i].d = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[i].qs, pack32_avx2(q));
    }
}

__attribute__((target("avx2,f16c")))
static void quantize_q8_1_avx2(const float *x, blk_q8_1 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        __m256i q[4];
        const float d = quantize32_avx2(x, q);
        y[i].d = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const int32_t sum = hsum256_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[i].s = (uint16_t)_cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)y[i].qs, pack32_avx2(q));
    }
}

/// Index of the first of `count` floats whose magnitude equals `amax`.
static inline int first_with_magnitude(const float *x, int count, float amax) {
    for (int j = 0; j < count; j++) {
        if (fabsf(x[j]) == amax) return j;
    }
    return 0;
}

__attribute__((target("avx2,f16c")))
static void quantize_q8_K_avx2(const float *x, blk_q8_K *y, size_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t i = 0; i < nb; i++, x += LOCO_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < LOCO_QK_K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        const float amax = hmax256(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / x[first_with_magnitude(x, LOCO_QK_K, amax)];
        const __m256 mul = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int g = 0; g < LOCO_QK_K; g += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + g + 8 * k), mul);
                q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), top);
            }
            y[i].bsums[g / 16] = (int16_t)hsum256_epi32(_mm256_add_epi32(q[0], q[1]));
            y[i].bsums[g / 16 + 1] = (int16_t)hsum256_epi32(_mm256_add_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(y[i].qs + g), pack32_avx2(q));
        }
        y[i].d = 1.0f / iscale;
    }
}

// MARK: - AVX-512

#define LOCO_TARGET_AVX512 "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"

__attribute__((target(LOCO_TARGET_AVX512)))
static inline float quantize32_avx512(const float *x, __m512i *q0, __m512i *q1) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m512 mul = _mm512_set1_ps(id);
    *q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    *q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return amax / 127.0f;
}

__attribute__((target(LOCO_TARGET_AVX512)))
static void quantize_q8_0_avx512(const float *x, blk_q8_0 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        __m512i q0, q1;
        const float d = quantize32_avx512(x, &q0, &q1);
        y[i].d = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtsepi32_epi8(q1));
    }
}

__attribute__((target(LOCO_TARGET_AVX512)))
static void quantize_q8_1_avx512(const float *x, blk_q8_1 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        __m512i q0, q1;
        const float d = quantize32_avx512(x, &q0, &q1);
        y[i].d = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        y[i].s = (uint16_t)_cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtsepi32_epi8(q1));
    }
}

__attribute__((target(LOCO_TARGET_AVX512)))
static void quantize_q8_K_avx512(const float *x, blk_q8_K *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += LOCO_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int k = 0; k < LOCO_QK_K; k += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const __m512 target = _mm512_set1_ps(amax);
        int first = 0;
        for (int k = 0; k < LOCO_QK_K; k += 16) {
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + k)), target, _CMP_EQ_OQ);
            if (hit) { first = k + __builtin_ctz(hit); break; }
        }
        const float iscale = -127.0f / x[first];
        const __m512 mul = _mm512_set1_ps(iscale);
        const __m512i top = _mm512_set1_epi32(127);
        for (int k = 0; k < LOCO_QK_K; k += 16) {
            __m512 p = _mm512_mul_ps(_mm512_loadu_ps(x + k), mul);
            __m512i q = _mm512_min_epi32(_mm512_cvt_roundps_epi32(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), top);
            y[i].bsums[k / 16] = (int16_t)_mm512_reduce_add_epi32(q);
            _mm_storeu_si128((__m128i *)(y[i].qs + k), _mm512_cvtsepi32_epi8(q));
        }
        y[i].d = 1.0f / iscale;
    }
}

#endif

#if defined(__aarch64__)
// MARK: - NEON
#include "quantize_activations_neon.h"
#endif

// MARK: - Dispatch

#if defined(__x86_64__)
static inline int use_avx512(uint32_t f) { return (f & LOCO_CPU_AVX512F) && (f & LOCO_CPU_AVX512BW) && (f & LOCO_CPU_F16C); }
static inline int use_avx2(uint32_t f) { return (f & LOCO_CPU_AVX2) && (f & LOCO_CPU_F16C); }
#endif

void loco_quantize_row_q8_0(const float *x, void *y, size_t n) {
#if defined(__x86_64__)
    uint32_t f = loco_cpu_features();
    if (use_avx512(f)) { quantize_q8_0_avx512(x, y, n / 32); return; }
    if (use_avx2(f)) { quantize_q8_0_avx2(x, y, n / 32); return; }
#endif
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { quantize_q8_0_neon(x, y, n / 32); return; }
#endif
    quantize_q8_0_scalar(x, y, n / 32);
}

void loco_quantize_row_q8_1(const float *x, void *y, size_t n) {
#if defined(__x86_64__)
    uint32_t f = loco_cpu_features();
    if (use_avx512(f)) { quantize_q8_1_avx512(x, y, n / 32); return; }
    if (use_avx2(f)) { quantize_q8_1_avx2(x, y, n / 32); return; }
#endif
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { quantize_q8_1_neon(x, y, n / 32); return; }
#endif
    quantize_q8_1_scalar(x, y, n / 32);
}

void loco_quantize_row_q8_K(const float *x, void *y, size_t n) {
#if defined(__x86_64__)
    uint32_t f = loco_cpu_features();
    if (use_avx512(f)) { quantize_q8_K_avx512(x, y, n / LOCO_QK_K); return; }
    if (use_avx2(f)) { quantize_q8_K_avx2(x, y, n / LOCO_QK_K); return; }
#endif
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { quantize_q8_K_neon(x, y, n / LOCO_QK_K); return; }
#endif
    quantize_q8_K_scalar(x, y, n / LOCO_QK_K);
}
