#include "CKernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__aarch64__)
#include <arm_neon.h>
#include "convert_neon.h"
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
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { f16_row_neon(src, dst, count); return; }
#endif
    f16_row_scalar(src, dst, count);
}

void loco_bf16_to_f32_row(const uint16_t *src, float *dst, size_t count) {
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { bf16_row_neon(src, dst, count); return; }
#endif
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, sizeof bits);
    }
}

uint16_t loco_f32_to_f16_scalar(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t abs = x & 0x7FFFFFFFu;
    if (abs > 0x7F800000u) {
        // NaN: keep the top mantissa bits and set the quiet bit, as F16C does.
        return (uint16_t)(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
    }
    if (abs >= 0x47800000u) return (uint16_t)(sign | 0x7C00u);  // 65536 and up, or infinite
    if (abs < 0x38800000u) {
        // Subnormal or zero in binary16: round |f| * 2^24 to an integer, nearest even.
        if (abs < 0x33000000u) return (uint16_t)sign;  // below half the smallest subnormal
        uint32_t e = abs >> 23;
        uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - e;  // value = m * 2^(e-150); want m * 2^(e-150+24) = m >> (126-e)
        uint32_t q = m >> shift;
        uint32_t rest = m & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rest > halfway || (rest == halfway && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    // Normal: rebias the exponent and round the mantissa to 10 bits, nearest even.
    uint32_t h = ((abs - 0x38000000u) >> 13);
    uint32_t rest = abs & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

static void f32_to_f16_row_scalar(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = loco_f32_to_f16_scalar(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c")))
static void f32_to_f16_row_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    for (; i < n; i++) dst[i] = loco_f32_to_f16_scalar(src[i]);
}
#endif

void loco_f32_to_f16_row(const float *src, uint16_t *dst, size_t count) {
#if defined(__x86_64__)
    uint32_t f = loco_cpu_features();
    if ((f & LOCO_CPU_F16C) && (f & LOCO_CPU_AVX2)) { f32_to_f16_row_f16c(src, dst, count); return; }
#endif
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { f32_to_f16_row_neon(src, dst, count); return; }
#endif
    f32_to_f16_row_scalar(src, dst, count);
}

void loco_f32_to_bf16_row(const float *src, uint16_t *dst, size_t count) {
#if defined(__aarch64__)
    if (loco_cpu_features() & LOCO_CPU_NEON) { f32_to_bf16_row_neon(src, dst, count); return; }
#endif
    for (size_t i = 0; i < count; i++) {
        uint32_t x;
        memcpy(&x, src + i, sizeof x);
        if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
            dst[i] = (uint16_t)((x >> 16) | 64u);
        } else {
            dst[i] = (uint16_t)((x + (0x7FFFu + ((x >> 16) & 1u))) >> 16);
        }
    }
}
