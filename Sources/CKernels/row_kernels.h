// Private to the row kernels (quantize_activations.c, dot*.c, dequantize.c): the block layouts of
// the ggml formats (field order and sizes are ggml's, ggml-common.h; halves are IEEE binary16 bit
// patterns), scale unpacking shared by every variant, and the dispatch rule.
#ifndef LOCO_ROW_KERNELS_H
#define LOCO_ROW_KERNELS_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

/// half -> float with F16C, through a general register: _cvtsh_ss compiles to a vpinsrw that
/// merges into whatever vector register it picks, which chained loop iterations to an accumulator.
/// _mm_cvtsi32_si128 alone was folded back into that vpinsrw (only lane 0 is used), so an empty
/// asm makes the zero-extended register opaque: vmovd from a general register, no merge.
__attribute__((target("f16c"))) static inline float loco_half_f16c(uint16_t h) {
    __m128i v = _mm_cvtsi32_si128(h);
    __asm__("" : "+x"(v));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

/// Prefetches the cache lines of `bytes` weight bytes 1 KB after `p`. The dot loops issue it once
/// per iteration: on a streamed matrix it raised Q4_0/Q8_0/Q4_K/Q6_K throughput by 15-30% over the
/// hardware prefetcher alone, with no change for L2-resident rows. (Prefetches never fault, so
/// running past the end of a row is harmless; the next row of a matrix usually follows.)
static inline void loco_prefetch(const void *p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) _mm_prefetch((const char *)p + 1024 + off, _MM_HINT_T0);
}

/// Q6_K, half a super-block (`ql0`, `ql1`: its 64 bytes of low nibbles; `qh`: its 32 bytes of high
/// bits) -> its 128 unsigned 6-bit values (the stored value + 32), 32 to a register, in order.
__attribute__((target("avx2"))) static inline void loco_q6_K_unpack_avx2(__m256i ql0, __m256i ql1, __m256i qh, __m256i u[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    u[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    u[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}
#endif

#if defined(__aarch64__)
#include <arm_neon.h>

/// half -> float with the hardware conversion: exact for every finite value and infinity. A
/// signaling NaN comes back quiet, which only matters where a half is stored as it is (never
/// here: scales always go through a multiply, which quiets the NaN anyway).
static inline float loco_half_neon(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/// `acc` plus the 16 products a[i] * b[i] in int32 lanes without the dot product instructions:
/// widening multiplies (|a b| <= 128 * 128 fits int16) and pairwise adds. The lanes group the
/// products differently from `sdot`; the dot kernels only use the lanes' total.
static inline int32x4_t loco_sdot_emulated(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}
#endif

#define LOCO_QK 32
#define LOCO_QK_K 256

typedef struct { uint16_t d; uint8_t qs[16]; } blk_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } blk_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } blk_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } blk_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } blk_q8_0;
/// `s` = half(d * sum(qs)), the activation sum the `_1` formats' minimum multiplies.
typedef struct { uint16_t d, s; int8_t qs[32]; } blk_q8_1;
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } blk_q2_K;
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } blk_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } blk_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } blk_q5_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } blk_q6_K;
/// Activations for the K and TQ formats: `bsums[j]` = sum of qs[16j ..< 16j+16].
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } blk_q8_K;
typedef struct { uint8_t qs[48]; uint8_t qh[4]; uint16_t d; } blk_tq1_0;
typedef struct { uint8_t qs[64]; uint16_t d; } blk_tq2_0;

_Static_assert(sizeof(blk_q4_0) == 18, "q4_0");
_Static_assert(sizeof(blk_q4_1) == 20, "q4_1");
_Static_assert(sizeof(blk_q5_0) == 22, "q5_0");
_Static_assert(sizeof(blk_q5_1) == 24, "q5_1");
_Static_assert(sizeof(blk_q8_0) == 34, "q8_0");
_Static_assert(sizeof(blk_q8_1) == 36, "q8_1");
_Static_assert(sizeof(blk_q2_K) == 84, "q2_K");
_Static_assert(sizeof(blk_q3_K) == 110, "q3_K");
_Static_assert(sizeof(blk_q4_K) == 144, "q4_K");
_Static_assert(sizeof(blk_q5_K) == 176, "q5_K");
_Static_assert(sizeof(blk_q6_K) == 210, "q6_K");
_Static_assert(sizeof(blk_q8_K) == 292, "q8_K");
_Static_assert(sizeof(blk_tq1_0) == 54, "tq1_0");
_Static_assert(sizeof(blk_tq2_0) == 66, "tq2_0");

/// Q4_K / Q5_K: the 8 six-bit scales and 8 six-bit mins packed in 12 bytes (ggml's
/// get_scale_min_k4), unpacked for all sub-blocks at once: byte j of `*sc` / `*m` is sub-block j's.
static inline void loco_unpack_scales_k4(const uint8_t q[12], uint64_t *sc, uint64_t *m) {
    uint32_t w[3];
    memcpy(w, q, 12);
    const uint32_t sc_lo = w[0] & 0x3f3f3f3fu;
    const uint32_t m_lo = w[1] & 0x3f3f3f3fu;
    const uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
    *sc = sc_lo | (uint64_t)sc_hi << 32;
    *m = m_lo | (uint64_t)m_hi << 32;
}

/// Q3_K: the 16 six-bit scales packed in 12 bytes, unpacked (still biased by 32): byte j of
/// `lo` (j < 8) or of `hi` (j >= 8) is sub-block j's scale + 32.
static inline void loco_unpack_scales_q3_K(const uint8_t q[12], uint64_t *lo, uint64_t *hi) {
    uint32_t aux[3];
    memcpy(aux, q, 12);
    const uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu;
    const uint32_t tmp = aux[2];
    const uint32_t a2 = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    const uint32_t a3 = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    const uint32_t a0 = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    const uint32_t a1 = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    *lo = a0 | (uint64_t)a1 << 32;
    *hi = a2 | (uint64_t)a3 << 32;
}

/// Byte `j` of a little-endian packed word.
static inline int loco_byte(uint64_t word, int j) { return (int)((word >> (8 * j)) & 0xFF); }

// Dispatch: every kernel has `NAME_scalar`, and on x86 `NAME_avx2` (AVX2 + FMA + F16C),
// `NAME_avx512bw` (plus AVX512F/BW) and `NAME_avx512vnni` (plus VNNI); the best one the feature
// mask allows runs.
#if defined(__x86_64__)
#define LOCO_DISPATCH(kernel, ...)                                                                  \
    do {                                                                                            \
        const uint32_t f_ = loco_cpu_features();                                                    \
        const uint32_t avx2_ = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;                        \
        const uint32_t avx512_ = avx2_ | LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW;                      \
        const uint32_t vnni_ = avx512_ | LOCO_CPU_AVX512VNNI;                                       \
        if ((f_ & vnni_) == vnni_) return kernel##_avx512vnni(__VA_ARGS__);                         \
        if ((f_ & avx512_) == avx512_) return kernel##_avx512bw(__VA_ARGS__);                       \
        if ((f_ & avx2_) == avx2_) return kernel##_avx2(__VA_ARGS__);                               \
        return kernel##_scalar(__VA_ARGS__);                                                        \
    } while (0)
#elif defined(__aarch64__)
// ARM64: `NAME_neondot` (NEON + the ARMv8.2 dot product instructions), `NAME_neon`, scalar.
#define LOCO_DISPATCH(kernel, ...)                                                                  \
    do {                                                                                            \
        const uint32_t f_ = loco_cpu_features();                                                    \
        const uint32_t dot_ = LOCO_CPU_NEON | LOCO_CPU_DOTPROD;                                     \
        if ((f_ & dot_) == dot_) return kernel##_neondot(__VA_ARGS__);                              \
        if (f_ & LOCO_CPU_NEON) return kernel##_neon(__VA_ARGS__);                                  \
        return kernel##_scalar(__VA_ARGS__);                                                        \
    } while (0)
#else
#define LOCO_DISPATCH(kernel, ...) return kernel##_scalar(__VA_ARGS__)
#endif

#endif
