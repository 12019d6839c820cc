// Decode attention over an F16 KV cache (fast numerics): one query against keys and values kept
// as halves, widened in registers as they are read, so a decode step reads the cache once at two
// bytes a value instead of widening it into scratch first. Scores in F32 with the query as it is
// (not rounded to F16: that rounding is ggml's, kept only by Numerics.llamaCpp), the softmax of
// loco_softmax_f32, the weighted values accumulated in F32.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

static void attention_scalar(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t first,
                             size_t length, size_t d, float scale, float *scores, float *out) {
    for (size_t j = first; j < length; j++) {
        const uint16_t *kj = k + j * stride;
        float sum = 0;
        for (size_t i = 0; i < d; i++) sum += q[i] * loco_f16_to_f32_scalar(kj[i]);
        scores[j] = sum * scale;
    }
    loco_softmax_f32(scores + first, length - first);
    for (size_t i = 0; i < d; i++) out[i] = 0;
    for (size_t j = first; j < length; j++) {
        const uint16_t *vj = v + j * stride;
        const float p = scores[j];
        for (size_t i = 0; i < d; i++) out[i] += p * loco_f16_to_f32_scalar(vj[i]);
    }
}

#if defined(__x86_64__)
#define A2 __attribute__((target("avx2,fma,f16c")))
#define A512 __attribute__((target("avx512f,avx512dq,fma")))

A2 static inline float hsum8(__m256 x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// d a multiple of 8.
A2 static void attention_avx2(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t first,
                              size_t length, size_t d, float scale, float *scores, float *out) {
    size_t j = first;
    // Four positions at a time: four independent FMA chains over the query.
    for (; j + 4 <= length; j += 4) {
        const uint16_t *k0 = k + j * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (size_t i = 0; i < d; i += 8) {
            const __m256 x = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k0 + i))), a0);
            a1 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k0 + stride + i))), a1);
            a2 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k0 + 2 * stride + i))), a2);
            a3 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k0 + 3 * stride + i))), a3);
        }
        scores[j] = hsum8(a0) * scale;
        scores[j + 1] = hsum8(a1) * scale;
        scores[j + 2] = hsum8(a2) * scale;
        scores[j + 3] = hsum8(a3) * scale;
    }
    for (; j < length; j++) {
        const uint16_t *kj = k + j * stride;
        __m256 a = _mm256_setzero_ps();
        for (size_t i = 0; i < d; i += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + i))), a);
        scores[j] = hsum8(a) * scale;
    }
    loco_softmax_f32(scores + first, length - first);
    // The values 64 at a time (eight registers of sums) over every position.
    for (size_t c = 0; c < d; c += 64) {
        const size_t w = d - c < 64 ? d - c : 64;
        __m256 acc[8];
        for (size_t r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
        for (j = first; j < length; j++) {
            const uint16_t *vj = v + j * stride + c;
            const __m256 p = _mm256_broadcast_ss(scores + j);
            for (size_t r = 0; r < w / 8; r++)
                acc[r] = _mm256_fmadd_ps(p, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 8 * r))), acc[r]);
        }
        for (size_t r = 0; r < w / 8; r++) _mm256_storeu_ps(out + c + 8 * r, acc[r]);
    }
}

/// d a multiple of 16.
A512 static void attention_avx512(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t first,
                                  size_t length, size_t d, float scale, float *scores, float *out) {
    size_t j = first;
    for (; j + 4 <= length; j += 4) {
        const uint16_t *k0 = k + j * stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (size_t i = 0; i < d; i += 16) {
            const __m512 x = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(x, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k0 + i))), a0);
            a1 = _mm512_fmadd_ps(x, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k0 + stride + i))), a1);
            a2 = _mm512_fmadd_ps(x, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k0 + 2 * stride + i))), a2);
            a3 = _mm512_fmadd_ps(x, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k0 + 3 * stride + i))), a3);
        }
        scores[j] = _mm512_reduce_add_ps(a0) * scale;
        scores[j + 1] = _mm512_reduce_add_ps(a1) * scale;
        scores[j + 2] = _mm512_reduce_add_ps(a2) * scale;
        scores[j + 3] = _mm512_reduce_add_ps(a3) * scale;
    }
    for (; j < length; j++) {
        const uint16_t *kj = k + j * stride;
        __m512 a = _mm512_setzero_ps();
        for (size_t i = 0; i < d; i += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kj + i))), a);
        scores[j] = _mm512_reduce_add_ps(a) * scale;
    }
    loco_softmax_f32(scores + first, length - first);
    for (size_t c = 0; c < d; c += 128) {
        const size_t w = d - c < 128 ? d - c : 128;
        __m512 acc[8];
        for (size_t r = 0; r < 8; r++) acc[r] = _mm512_setzero_ps();
        for (j = first; j < length; j++) {
            const uint16_t *vj = v + j * stride + c;
            const __m512 p = _mm512_set1_ps(scores[j]);
            for (size_t r = 0; r < w / 16; r++)
                acc[r] = _mm512_fmadd_ps(p, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vj + 16 * r))), acc[r]);
        }
        for (size_t r = 0; r < w / 16; r++) _mm512_storeu_ps(out + c + 16 * r, acc[r]);
    }
}
#endif

#if defined(__aarch64__)
/// d a multiple of 8. Halves widen with FCVTL; a NaN's payload may come out differently from the
/// scalar conversion, which does not matter to a softmax.
static void attention_neon(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t first,
                           size_t length, size_t d, float scale, float *scores, float *out) {
    for (size_t j = first; j < length; j++) {
        const uint16_t *kj = k + j * stride;
        float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
        for (size_t i = 0; i < d; i += 8) {
            const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(kj + i));
            a0 = vfmaq_f32(a0, vld1q_f32(q + i), vcvt_f32_f16(vget_low_f16(h)));
            a1 = vfmaq_f32(a1, vld1q_f32(q + i + 4), vcvt_high_f32_f16(h));
        }
        scores[j] = vaddvq_f32(vaddq_f32(a0, a1)) * scale;
    }
    loco_softmax_f32(scores + first, length - first);
    for (size_t c = 0; c < d; c += 32) {
        const size_t w = d - c < 32 ? d - c : 32;
        float32x4_t acc[8];
        for (size_t r = 0; r < 8; r++) acc[r] = vdupq_n_f32(0);
        for (size_t j = first; j < length; j++) {
            const uint16_t *vj = v + j * stride + c;
            const float p = scores[j];
            for (size_t r = 0; r < w / 8; r++) {
                const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(vj + 8 * r));
                acc[2 * r] = vfmaq_n_f32(acc[2 * r], vcvt_f32_f16(vget_low_f16(h)), p);
                acc[2 * r + 1] = vfmaq_n_f32(acc[2 * r + 1], vcvt_high_f32_f16(h), p);
            }
        }
        for (size_t r = 0; r < w / 4; r++) vst1q_f32(out + c + 4 * r, acc[r]);
    }
}
#endif

void loco_attention_one_f16(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t first,
                            size_t length, size_t d, float scale, float *scores, float *out) {
    if (first >= length) {
        for (size_t i = 0; i < d; i++) out[i] = 0;
        return;
    }
#if defined(__x86_64__)
    const uint32_t f = loco_cpu_features();
    if ((f & LOCO_CPU_AVX512F) && d % 16 == 0) { attention_avx512(q, k, v, stride, first, length, d, scale, scores, out); return; }
    if ((f & LOCO_CPU_AVX2) && (f & LOCO_CPU_FMA) && (f & LOCO_CPU_F16C) && d % 8 == 0) {
        attention_avx2(q, k, v, stride, first, length, d, scale, scores, out);
        return;
    }
#endif
#if defined(__aarch64__)
    if ((loco_cpu_features() & LOCO_CPU_NEON) && d % 8 == 0) { attention_neon(q, k, v, stride, first, length, d, scale, scores, out); return; }
#endif
    attention_scalar(q, k, v, stride, first, length, d, scale, scores, out);
}
