// Dot products of one weight row in a 32-value format (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with
// activations quantized to Q8_0 (Q8_1 for the `_1` formats).
//
// Every variant computes each block's integer sum exactly, then scales it by half(d_w) * half(d_a)
// in float; the `_1` formats add half(m_w) * half(s_a). Only the order of the float additions
// differs between variants (the scalar code adds block by block, the SIMD code in lanes), so
// results agree within a rounding bound the tests state. Activations must come from the quantizers
// in quantize_activations.c (|q| <= 127: the SIMD code moves signs onto them).
#include "CKernels.h"
#include "row_kernels.h"

#include <math.h>

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

#define F16(h) loco_f16_to_f32_scalar(h)

// MARK: - Scalar

static float dot_q4_0_scalar(size_t nb, const blk_q4_0 *x, const blk_q8_0 *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sum += (F16(x[i].d) * F16(y[i].d)) * (float)s;
    }
    return sum;
}

static float dot_q4_1_scalar(size_t nb, const blk_q4_1 *x, const blk_q8_1 *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        sum += (F16(x[i].d) * F16(y[i].d)) * (float)s + F16(x[i].m) * F16(y[i].s);
    }
    return sum;
}

/// The five-bit values of a Q5 block: low nibbles and bit j of qh for element j.
static inline void q5_values(const uint8_t qs[16], const uint8_t qh4[4], int v[32]) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; j++) {
        v[j] = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
        v[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}

static float dot_q5_0_scalar(size_t nb, const blk_q5_0 *x, const blk_q8_0 *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int v[32], s = 0;
        q5_values(x[i].qs, x[i].qh, v);
        for (int j = 0; j < 32; j++) s += (v[j] - 16) * y[i].qs[j];
        sum += (F16(x[i].d) * F16(y[i].d)) * (float)s;
    }
    return sum;
}

static float dot_q5_1_scalar(size_t nb, const blk_q5_1 *x, const blk_q8_1 *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int v[32], s = 0;
        q5_values(x[i].qs, x[i].qh, v);
        for (int j = 0; j < 32; j++) s += v[j] * y[i].qs[j];
        sum += (F16(x[i].d) * F16(y[i].d)) * (float)s + F16(x[i].m) * F16(y[i].s);
    }
    return sum;
}

static float dot_q8_0_scalar(size_t nb, const blk_q8_0 *x, const blk_q8_0 *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += (F16(x[i].d) * F16(y[i].d)) * (float)s;
    }
    return sum;
}

#if defined(__x86_64__)

// MARK: - AVX2
//
// One block per iteration in 256-bit registers: unsigned weights times signed activations with
// vpmaddubsw (pairs stay below 2^15: |w| <= 31, or |w| <= 128 against |a| <= 127 for Q8_0),
// vpmaddwd to int32, then the block's float scale. One prefetch a block (blocks are under 64 bytes)
// keeps the weight stream ahead of the loop, which otherwise waits on every L3 miss.

#define LOCO_TARGET_AVX2 "avx2,fma,f16c"

__attribute__((target(LOCO_TARGET_AVX2)))
static inline float hsum_ps_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high nibbles (16..31).
__attribute__((target(LOCO_TARGET_AVX2)))
static inline __m256i nibbles_32(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/// 32 bits -> 32 bytes, 0x10 where the bit is set (the fifth bit of the Q5 formats).
__attribute__((target(LOCO_TARGET_AVX2)))
static inline __m256i bit4_from_bits_32(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select), _mm256_set1_epi8(0x10));
}

/// Sum of u[i] * s[i] in eight int32 lanes (u unsigned, s signed, pairs below 2^15).
__attribute__((target(LOCO_TARGET_AVX2)))
static inline __m256i dot_us8_256(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

__attribute__((target(LOCO_TARGET_AVX2)))
static float dot_q4_0_avx2(size_t nb, const blk_q4_0 *x, const blk_q8_0 *y) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], 1);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles_32(x[i].qs), a), _mm256_maddubs_epi16(eight, a));
        const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].d) * loco_half_f16c(y[i].d)), s, acc);
    }
    return hsum_ps_256(acc);
}

__attribute__((target(LOCO_TARGET_AVX2)))
static float dot_q4_1_avx2(size_t nb, const blk_q4_1 *x, const blk_q8_1 *y) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], 1);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256 s = _mm256_cvtepi32_ps(dot_us8_256(nibbles_32(x[i].qs), a));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].d) * loco_half_f16c(y[i].d)), s, acc);
        mins += loco_half_f16c(x[i].m) * loco_half_f16c(y[i].s);
    }
    return hsum_ps_256(acc) + mins;
}

__attribute__((target(LOCO_TARGET_AVX2)))
static float dot_q5_0_avx2(size_t nb, const blk_q5_0 *x, const blk_q8_0 *y) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i sixteen = _mm256_set1_epi8(16);
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], 1);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i q = _mm256_or_si256(nibbles_32(x[i].qs), bit4_from_bits_32(x[i].qh));
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, a), _mm256_maddubs_epi16(sixteen, a));
        const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].d) * loco_half_f16c(y[i].d)), s, acc);
    }
    return hsum_ps_256(acc);
}

__attribute__((target(LOCO_TARGET_AVX2)))
static float dot_q5_1_avx2(size_t nb, const blk_q5_1 *x, const blk_q8_1 *y) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], 1);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i q = _mm256_or_si256(nibbles_32(x[i].qs), bit4_from_bits_32(x[i].qh));
        const __m256 s = _mm256_cvtepi32_ps(dot_us8_256(q, a));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].d) * loco_half_f16c(y[i].d)), s, acc);
        mins += loco_half_f16c(x[i].m) * loco_half_f16c(y[i].s);
    }
    return hsum_ps_256(acc) + mins;
}

__attribute__((target(LOCO_TARGET_AVX2)))
static float dot_q8_0_avx2(size_t nb, const blk_q8_0 *x, const blk_q8_0 *y) {
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], 1);
        const __m256i w = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256 s = _mm256_cvtepi32_ps(dot_us8_256(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].d) * loco_half_f16c(y[i].d)), s, acc);
    }
    return hsum_ps_256(acc);
}

// MARK: - AVX2, four rows at a time
//
// Decoding multiplies every row of a matrix with one activation vector: four rows per pass share
// the activation loads and scale conversions and run four independent accumulations. Each row's
// float operations are exactly those of its one-row kernel above, in the same order (so these
// are also what Numerics.llamaCpp may use).

#define LOCO_BLOCK_Q4_0(x, a) _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_sub_epi16(                            \
    _mm256_maddubs_epi16(nibbles_32((x)->qs), a), _mm256_maddubs_epi16(_mm256_set1_epi8(8), a)), _mm256_set1_epi16(1)))
#define LOCO_BLOCK_Q5_0(x, a) _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_sub_epi16(                            \
    _mm256_maddubs_epi16(_mm256_or_si256(nibbles_32((x)->qs), bit4_from_bits_32((x)->qh)), a),                  \
    _mm256_maddubs_epi16(_mm256_set1_epi8(16), a)), _mm256_set1_epi16(1)))
#define LOCO_BLOCK_Q4_1(x, a) _mm256_cvtepi32_ps(dot_us8_256(nibbles_32((x)->qs), a))
#define LOCO_BLOCK_Q5_1(x, a) _mm256_cvtepi32_ps(dot_us8_256(_mm256_or_si256(nibbles_32((x)->qs), bit4_from_bits_32((x)->qh)), a))

/// MINS: 1 for the `_1` formats, whose result adds half(m_w) * half(s_a) per block after the lanes.
#define LOCO_ROWS_AVX2(T, XT, YT, BLOCK, MINS)                                                              \
    __attribute__((target(LOCO_TARGET_AVX2))) static void rows_##T##_avx2(                                  \
        size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, const YT *y, float *out) {              \
        /* The four rows' streams run side by side, so the prefetch runs two passes ahead. */            \
        const size_t ahead = 8 * row_bytes;                                                                 \
        size_t r = 0;                                                                                       \
        for (; r + 4 <= rows; r += 4) {                                                                     \
            const XT *x[4];                                                                                 \
            __m256 acc[4];                                                                                  \
            float mins[4];                                                                                  \
            for (int k = 0; k < 4; k++) {                                                                   \
                x[k] = (const XT *)(w + (r + k) * row_bytes);                                               \
                acc[k] = _mm256_setzero_ps();                                                               \
                mins[k] = 0.0f;                                                                             \
            }                                                                                               \
            for (size_t i = 0; i < nb; i++) {                                                               \
                const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);                             \
                const float yd = loco_half_f16c(y[i].d);                                                    \
                const float ys = MINS ? loco_half_f16c(((const uint16_t *)&y[i])[1]) : 0.0f;               \
                for (int k = 0; k < 4; k++) {                                                               \
                    _mm_prefetch((const char *)&x[k][i] + ahead, _MM_HINT_T0);                              \
                    const __m256 s = BLOCK(&x[k][i], a);                                                    \
                    acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[k][i].d) * yd), s, acc[k]);    \
                    if (MINS) mins[k] += loco_half_f16c(((const uint16_t *)&x[k][i])[1]) * ys;             \
                }                                                                                           \
            }                                                                                               \
            for (int k = 0; k < 4; k++) out[r + k] = MINS ? hsum_ps_256(acc[k]) + mins[k] : hsum_ps_256(acc[k]); \
        }                                                                                                   \
        for (; r < rows; r++) out[r] = dot_##T##_avx2(nb, (const XT *)(w + r * row_bytes), y);              \
    }

LOCO_ROWS_AVX2(q4_0, blk_q4_0, blk_q8_0, LOCO_BLOCK_Q4_0, 0)
LOCO_ROWS_AVX2(q4_1, blk_q4_1, blk_q8_1, LOCO_BLOCK_Q4_1, 1)
LOCO_ROWS_AVX2(q5_0, blk_q5_0, blk_q8_0, LOCO_BLOCK_Q5_0, 0)
LOCO_ROWS_AVX2(q5_1, blk_q5_1, blk_q8_1, LOCO_BLOCK_Q5_1, 1)
// Q8_0 runs its one-row kernel row by row: on an AMD EPYC (Zen 4) under the AVX2 set the four-row
// form decoded SmolLM2-135M Q8_0 at 62-65 tok/s on one thread against 106-107 for the one-row
// kernel (116 against 169 at two threads), while Q4_0 and Q4_1 were even either way.
__attribute__((target(LOCO_TARGET_AVX2))) static void rows_q8_0_avx2(
    size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, const blk_q8_0 *y, float *out) {
    for (size_t r = 0; r < rows; r++) out[r] = dot_q8_0_avx2(nb, (const blk_q8_0 *)(w + r * row_bytes), y);
}

// MARK: - Q4_0 in ggml's repacked order, eight rows at a time
//
// ggml's repacked Q4_0 products (gemv_q4_0_8x8_q8_0, which llama.cpp runs on AVX2 and AVX-512
// CPUs) take each block's integer sum and add it to its row's float in one lane:
// acc = fma(float(sum), d_w * d_a, acc), block after block. Here eight rows run side by side
// from the plain layout: each row's block sum (the nibbles against the activations, minus 8 times
// the activation sum once for all eight) lands in lane r of one register through a tree of
// horizontal adds, the eight weight scales are converted together, and one FMA serves all eight.
// Integer sums are exact, so every row has the bits of that order whatever the grouping. Two
// blocks go through each register (one per 128-bit half), so the nibbles of 32 bytes unpack at
// once and the horizontal adds serve both. On a Zen 4 core under the AVX2 set: 19.6 GB/s with
// the rows in L2 against 12.0 for the four-row kernel; SmolLM2-135M's Q4_0 matrices streamed in
// model order (clang -O2) 20.5 GB/s against 14.3: the group ahead is prefetched line after line
// (one stream), where a prefetch per row and block (eight interleaved streams) gave 13.

/// Eight rows' vectors of two blocks' lane sums (block i in the low 128 bits, i + 1 in the high)
/// -> lane k of `first`: row k's sum for block i; of `second`: for block i + 1.
__attribute__((target(LOCO_TARGET_AVX2)))
static inline void q4_0_pair_sums(const __m256i s[8], __m256i *first, __m256i *second) {
    // Within each 128-bit half: q0 = rows 0-3, q1 = rows 4-7 (low half: the first block of the
    // pair, high half: the second).
    const __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    const __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    *first = _mm256_permute2x128_si256(q0, q1, 0x20);
    *second = _mm256_permute2x128_si256(q0, q1, 0x31);
}

/// The weight scales of block i of eight rows as floats times the activation's.
__attribute__((target(LOCO_TARGET_AVX2)))
static inline __m256 q4_0_scales8(const blk_q4_0 *const x[8], size_t i, float ad) {
    __m128i d = _mm_cvtsi32_si128(x[0][i].d);
    d = _mm_insert_epi16(d, x[1][i].d, 1);
    d = _mm_insert_epi16(d, x[2][i].d, 2);
    d = _mm_insert_epi16(d, x[3][i].d, 3);
    d = _mm_insert_epi16(d, x[4][i].d, 4);
    d = _mm_insert_epi16(d, x[5][i].d, 5);
    d = _mm_insert_epi16(d, x[6][i].d, 6);
    d = _mm_insert_epi16(d, x[7][i].d, 7);
    return _mm256_mul_ps(_mm256_cvtph_ps(d), _mm256_set1_ps(ad));
}

__attribute__((target(LOCO_TARGET_AVX2)))
static void rows8_q4_0_avx2(size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, const blk_q8_0 *y, float *out) {
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0x0F);
    // Prefetch the group of rows at least 4 KB on (a whole number of groups).
    const size_t group = 8 * row_bytes, ahead = (4096 + group - 1) / group * group;
    size_t r = 0;
    for (; r + 8 <= rows; r += 8) {
        const blk_q4_0 *x[8];
        for (int k = 0; k < 8; k++) x[k] = (const blk_q4_0 *)(w + (r + k) * row_bytes);
        __m256 acc = _mm256_setzero_ps();
        size_t i = 0;
        // The group `ahead` bytes on is fetched in order, a few lines a step (one stream for the
        // prefetcher instead of eight).
        const char *next = (const char *)x[0] + ahead;
        const size_t lines = (group + 63) / 64, steps = nb / 2 ? nb / 2 : 1, per_step = (lines + steps - 1) / steps;
        // Two blocks at a time: block i in the low half of every register, block i + 1 in the high.
        for (; i + 2 <= nb; i += 2) {
            for (size_t l = 0; l < per_step; l++) _mm_prefetch(next + 64 * ((i / 2) * per_step + l), _MM_HINT_T0);
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)y[i].qs), a1 = _mm256_loadu_si256((const __m256i *)y[i + 1].qs);
            const __m256i alo = _mm256_permute2x128_si256(a0, a1, 0x20), ahi = _mm256_permute2x128_si256(a0, a1, 0x31);
            // 8 times each block's activation sum, in every lane of its half.
            __m256i a8 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), alo), ones);
            a8 = _mm256_add_epi32(a8, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), ahi), ones));
            a8 = _mm256_hadd_epi32(a8, a8);
            a8 = _mm256_hadd_epi32(a8, a8);
            __m256i s[8];
            for (int k = 0; k < 8; k++) {
                const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)x[k][i].qs)),
                                                          _mm_loadu_si128((const __m128i *)x[k][i + 1].qs), 1);
                const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                // Pair sums stay below 2 * 15 * 128, two of them below 2^15.
                s[k] = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi)), ones);
            }
            __m256i t0, t1;
            q4_0_pair_sums(s, &t0, &t1);
            const __m256i c0 = _mm256_permute2x128_si256(a8, a8, 0x00), c1 = _mm256_permute2x128_si256(a8, a8, 0x11);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(t0, c0)), q4_0_scales8(x, i, loco_half_f16c(y[i].d)), acc);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(t1, c1)), q4_0_scales8(x, i + 1, loco_half_f16c(y[i + 1].d)), acc);
        }
        for (; i < nb; i++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
            __m256i s[8];
            for (int k = 0; k < 8; k++) s[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles_32(x[k][i].qs), a), ones);
            const __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
            const __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
            __m256i total = _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
            const __m256i asum = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), a), ones);
            __m256i a8 = _mm256_hadd_epi32(asum, asum);
            a8 = _mm256_hadd_epi32(a8, a8);
            total = _mm256_sub_epi32(total, _mm256_add_epi32(a8, _mm256_permute2x128_si256(a8, a8, 0x01)));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), q4_0_scales8(x, i, loco_half_f16c(y[i].d)), acc);
        }
        _mm256_storeu_ps(out + r, acc);
    }
    for (; r < rows; r++) {
        const blk_q4_0 *x = (const blk_q4_0 *)(w + r * row_bytes);
        float acc = 0.0f;
        for (size_t i = 0; i < nb; i++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(nibbles_32(x[i].qs), a), _mm256_maddubs_epi16(_mm256_set1_epi8(8), a));
            const __m256i v = _mm256_madd_epi16(p, ones);
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
            acc = __builtin_fmaf((float)_mm_cvtsi128_si32(t), loco_half_f16c(x[i].d) * loco_half_f16c(y[i].d), acc);
        }
        out[r] = acc;
    }
}

// MARK: - AVX-512, with VNNI and without

#define LOCO_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"
#define LOCO_AVX512_NAME(name) name##_avx512vnni
#define LOCO_DPBUSD(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#include "dot_avx512_legacy.h"
#undef LOCO_AVX512_TARGET
#undef LOCO_AVX512_NAME
#undef LOCO_DPBUSD

#define LOCO_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
#define LOCO_AVX512_NAME(name) name##_avx512bw
#define LOCO_DPBUSD(acc, u, s) _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)))
#include "dot_avx512_legacy.h"
#undef LOCO_AVX512_TARGET
#undef LOCO_AVX512_NAME
#undef LOCO_DPBUSD

#endif

#if defined(__aarch64__)

// MARK: - NEON, with the dot product instructions and without

#define LOCO_NEON_ATTR __attribute__((target("dotprod")))
#define LOCO_NEON_NAME(name) name##_neondot
#define LOCO_SDOT(acc, w, a) vdotq_s32(acc, w, a)
#include "dot_neon.h"
#undef LOCO_NEON_ATTR
#undef LOCO_NEON_NAME
#undef LOCO_SDOT

#define LOCO_NEON_ATTR
#define LOCO_NEON_NAME(name) name##_neon
#define LOCO_SDOT(acc, w, a) loco_sdot_emulated(acc, w, a)
#include "dot_neon.h"
#undef LOCO_NEON_ATTR
#undef LOCO_NEON_NAME
#undef LOCO_SDOT

#endif

// MARK: - Dispatch

float loco_vec_dot_q4_0_q8_0(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q4_0, n / 32, w, a); }
float loco_vec_dot_q4_1_q8_1(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q4_1, n / 32, w, a); }
float loco_vec_dot_q5_0_q8_0(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q5_0, n / 32, w, a); }
float loco_vec_dot_q5_1_q8_1(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q5_1, n / 32, w, a); }
float loco_vec_dot_q8_0_q8_0(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q8_0, n / 32, w, a); }

/// Rows of a matrix times one activation vector: the AVX2 kernel set runs four rows at a time
/// (Q8_0 one), every other set its one-row kernel row by row (the same results either way).
#if defined(__x86_64__)
#define LOCO_DISPATCH_ROWS(T, one, n, w, row_bytes, rows, a, out)                                          \
    do {                                                                                                    \
        const uint32_t f_ = loco_cpu_features();                                                            \
        const uint32_t avx2_ = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;                                \
        if ((f_ & avx2_) == avx2_ && !(f_ & LOCO_CPU_AVX512F && f_ & LOCO_CPU_AVX512BW)) {                  \
            rows_##T##_avx2((n) / 32, (const uint8_t *)(w), row_bytes, rows, a, out);                       \
            return;                                                                                         \
        }                                                                                                   \
        for (size_t r_ = 0; r_ < (rows); r_++) (out)[r_] = one(n, (const uint8_t *)(w) + r_ * (row_bytes), a); \
    } while (0)
#else
#define LOCO_DISPATCH_ROWS(T, one, n, w, row_bytes, rows, a, out)                                          \
    do {                                                                                                    \
        for (size_t r_ = 0; r_ < (rows); r_++) (out)[r_] = one(n, (const uint8_t *)(w) + r_ * (row_bytes), a); \
    } while (0)
#endif

void loco_vec_dot_rows_q4_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out) {
    LOCO_DISPATCH_ROWS(q4_0, loco_vec_dot_q4_0_q8_0, n, w, row_bytes, rows, a, out);
}
void loco_vec_dot_rows_q4_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out) {
    LOCO_DISPATCH_ROWS(q4_1, loco_vec_dot_q4_1_q8_1, n, w, row_bytes, rows, a, out);
}
void loco_vec_dot_rows_q5_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out) {
    LOCO_DISPATCH_ROWS(q5_0, loco_vec_dot_q5_0_q8_0, n, w, row_bytes, rows, a, out);
}
void loco_vec_dot_rows_q5_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out) {
    LOCO_DISPATCH_ROWS(q5_1, loco_vec_dot_q5_1_q8_1, n, w, row_bytes, rows, a, out);
}
void loco_vec_dot_rows_q8_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out) {
    LOCO_DISPATCH_ROWS(q8_0, loco_vec_dot_q8_0_q8_0, n, w, row_bytes, rows, a, out);
}

/// Portable: the same order one row at a time.
static void rows8_q4_0_scalar(size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, const blk_q8_0 *y, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const blk_q4_0 *x = (const blk_q4_0 *)(w + r * row_bytes);
        float acc = 0.0f;
        for (size_t i = 0; i < nb; i++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
            acc = fmaf((float)sum, loco_f16_to_f32_scalar(x[i].d) * loco_f16_to_f32_scalar(y[i].d), acc);
        }
        out[r] = acc;
    }
}

void loco_vec_dot_rows_repacked_q4_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, float *out) {
#if defined(__x86_64__)
    const uint32_t f = loco_cpu_features(), avx2 = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;
    if ((f & avx2) == avx2) { rows8_q4_0_avx2(n / 32, (const uint8_t *)w, row_bytes, rows, (const blk_q8_0 *)a, out); return; }
#endif
    rows8_q4_0_scalar(n / 32, (const uint8_t *)w, row_bytes, rows, (const blk_q8_0 *)a, out);
}

#if defined(__x86_64__)
/// The activation side of the AVX-512 multi kernels' scale products, converted once per call:
/// per block pair p, 8 x d of block 2p then 8 x d of block 2p + 1 (+0 past the last block); with
/// `mins`, per group of four blocks [s, 0, s, 0, s, 0, s, 0], then per pair of the last nb % 4
/// blocks [s, 0, s or +0, 0, 0, 0, 0, 0] (the lanes half_products4 fills).
static void loco_multi_prepare(const uint8_t *y, size_t block_bytes, size_t nb, int mins, float *pd, float *pm) {
    for (size_t p = 0; 2 * p < nb; p++) {
        uint16_t h0, h1 = 0;
        memcpy(&h0, y + 2 * p * block_bytes, 2);
        const int has1 = 2 * p + 1 < nb;
        if (has1) memcpy(&h1, y + (2 * p + 1) * block_bytes, 2);
        const float d0 = loco_f16_to_f32_scalar(h0), d1 = has1 ? loco_f16_to_f32_scalar(h1) : 0.0f;
        for (int l = 0; l < 8; l++) { pd[16 * p + l] = d0; pd[16 * p + 8 + l] = d1; }
    }
    if (!mins) return;
    size_t v = 0, i = 0;
    for (; i + 4 <= nb; i += 4, v++) {
        for (int b = 0; b < 4; b++) {
            uint16_t h;
            memcpy(&h, y + (i + b) * block_bytes + 2, 2);
            pm[8 * v + 2 * b] = loco_f16_to_f32_scalar(h);
            pm[8 * v + 2 * b + 1] = 0.0f;
        }
    }
    for (; i < nb; i += 2, v++) {
        uint16_t h0, h1 = 0;
        memcpy(&h0, y + i * block_bytes + 2, 2);
        if (i + 1 < nb) memcpy(&h1, y + (i + 1) * block_bytes + 2, 2);
        for (int l = 0; l < 8; l++) pm[8 * v + l] = 0.0f;
        pm[8 * v] = loco_f16_to_f32_scalar(h0);
        pm[8 * v + 2] = i + 1 < nb ? loco_f16_to_f32_scalar(h1) : 0.0f;
    }
}
#endif

/// Rows of a matrix times several activation vectors: `out[t * ldo + r]` for activation `t` (at
/// `a + t * a_bytes`) and row `r`, each with the bits the one-row kernel gives it. AVX-512
/// unpacks each weight pair once for up to four activations; every other set runs its rows
/// kernel per activation.
#if defined(__x86_64__)
#define LOCO_DISPATCH_MULTI(T, XT, YT, ROWS, n, w, row_bytes, rows, a, a_bytes, count, out, ldo)                       \
    do {                                                                                                          \
        const uint32_t f_ = loco_cpu_features();                                                                  \
        const uint32_t avx512_ = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C | LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW; \
        const int vnni_ = (f_ & (avx512_ | LOCO_CPU_AVX512VNNI)) == (avx512_ | LOCO_CPU_AVX512VNNI);              \
        if ((f_ & avx512_) == avx512_) {                                                                          \
            const size_t nb_ = (n) / 32, np_ = 16 * ((nb_ + 1) / 2), nm_ = 8 * (nb_ / 4 + (nb_ % 4 + 1) / 2);     \
            const int mins_ = sizeof(YT) == sizeof(blk_q8_1);                                                     \
            float *prep_ = malloc((count) * (np_ + nm_) * sizeof(float));                                         \
            if (prep_) {                                                                                          \
                for (size_t t_ = 0; t_ < (count); t_++)                                                           \
                    loco_multi_prepare((const uint8_t *)(a) + t_ * (a_bytes), sizeof(YT), nb_, mins_,             \
                                       prep_ + t_ * (np_ + nm_), prep_ + t_ * (np_ + nm_) + np_);                 \
                for (size_t r_ = 0; r_ < (rows); r_++) {                                                          \
                    const XT *x_ = (const XT *)((const uint8_t *)(w) + r_ * (row_bytes));                          \
                    for (size_t t0_ = 0; t0_ < (count); t0_ += LOCO_MULTI_MAX) {                                   \
                        const size_t c_ = (count) - t0_ < LOCO_MULTI_MAX ? (count) - t0_ : LOCO_MULTI_MAX;         \
                        const YT *ys_[LOCO_MULTI_MAX];                                                            \
                        const float *pds_[LOCO_MULTI_MAX], *pms_[LOCO_MULTI_MAX];                                 \
                        float res_[LOCO_MULTI_MAX];                                                               \
                        for (size_t k_ = 0; k_ < c_; k_++) {                                                      \
                            ys_[k_] = (const YT *)((const uint8_t *)(a) + (t0_ + k_) * (a_bytes));                \
                            pds_[k_] = prep_ + (t0_ + k_) * (np_ + nm_);                                          \
                            pms_[k_] = pds_[k_] + np_;                                                            \
                        }                                                                                         \
                        if (vnni_) multi_##T##_avx512vnni(nb_, x_, ys_, pds_, pms_, c_, res_);                     \
                        else multi_##T##_avx512bw(nb_, x_, ys_, pds_, pms_, c_, res_);                             \
                        for (size_t k_ = 0; k_ < c_; k_++) (out)[(t0_ + k_) * (ldo) + r_] = res_[k_];              \
                    }                                                                                             \
                }                                                                                                 \
                free(prep_);                                                                                      \
                return;                                                                                           \
            }                                                                                                     \
            return;                                                                                               \
        }                                                                                                         \
        for (size_t t_ = 0; t_ < (count); t_++)                                                                   \
            ROWS(n, w, row_bytes, rows, (const uint8_t *)(a) + t_ * (a_bytes), (out) + t_ * (ldo)); \
    } while (0)
#else
#define LOCO_DISPATCH_MULTI(T, XT, YT, ROWS, n, w, row_bytes, rows, a, a_bytes, count, out, ldo)                       \
    do {                                                                                                          \
        for (size_t t_ = 0; t_ < (count); t_++)                                                                   \
            ROWS(n, w, row_bytes, rows, (const uint8_t *)(a) + t_ * (a_bytes), (out) + t_ * (ldo)); \
    } while (0)
#endif

void loco_vec_dot_multi_q4_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    LOCO_DISPATCH_MULTI(q4_0, blk_q4_0, blk_q8_0, loco_vec_dot_rows_q4_0_q8_0, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
void loco_vec_dot_multi_q5_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    LOCO_DISPATCH_MULTI(q5_0, blk_q5_0, blk_q8_0, loco_vec_dot_rows_q5_0_q8_0, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
void loco_vec_dot_multi_q8_0_q8_0(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    LOCO_DISPATCH_MULTI(q8_0, blk_q8_0, blk_q8_0, loco_vec_dot_rows_q8_0_q8_0, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
void loco_vec_dot_multi_q4_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    LOCO_DISPATCH_MULTI(q4_1, blk_q4_1, blk_q8_1, loco_vec_dot_rows_q4_1_q8_1, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
void loco_vec_dot_multi_q5_1_q8_1(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    LOCO_DISPATCH_MULTI(q5_1, blk_q5_1, blk_q8_1, loco_vec_dot_rows_q5_1_q8_1, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
