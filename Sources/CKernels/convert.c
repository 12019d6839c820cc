#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

float loco_f16_to_f32_scalar(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        // Subnormal: shift the mantissa up until its leading one reaches the implicit bit.
        uint32_t e = 113u;
        while ((man & 0x400u) == 0) { man <<= 1; e--; }
        bits = sign | (e << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void f16_row_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = loco_f16_to_f32_scalar(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c")))
static void f16_row_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) dst[i] = loco_f16_to_f32_scalar(src[i]);
}

__attribute__((target("avx512f")))
static void f16_row_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
    for (; i < n; i++) dst[i] = loco_f16_to_f32_scalar(src[i]);
}
#endif

void loco_f16_to_f32_row(const uint16_t *src, float *dst, size_t count) {
#if defined(__x86_64__)
    uint32_t f = loco_cpu_features();
    if (f & LOCO_CPU_AVX512F) { f16_row_avx512(src, dst, count); return; }
    if ((f & LOCO_CPU_F16C) && (f & LOCO_CPU_AVX2)) { f16_row_f16c(src, dst, count); return; }
#endif
    f16_row_scalar(src, dst, count);
}

void loco_bf16_to_f32_row(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, sizeof bits);
    }
}
