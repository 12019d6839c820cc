// K-quant dot products in the float order of llama.cpp's CPU backend (ggml-cpu as
// llama-cpp-python builds it here: GCC, AVX2 + FMA + AVX-512 + VNNI), for Numerics.llamaCpp.
//
// The integer sums are exact in every order; what these kernels reproduce is where the integers
// are converted to float, which float lanes they go to, which multiply-adds are fused, and in what
// order the lanes are added. Each order has a portable scalar version (with fmaf) and, on x86, for
// Q4_K and Q6_K an AVX2 one; both give the same bits, so the result does not depend on the CPU's
// features. Checked against ggml's own MUL_MAT (Tests/TensorTests/GGMLNumericsTests.swift) and end
// to end (ReleaseParityTests: bit-identical logits).
//
// Orders reproduced:
//   - vec_dot (below 8 input rows): Q3_K, Q5_K, Q6_K. Eight int32 lanes per super-block, lane k
//     holding bytes 4k..4k+3 of every 32-value group times that group's sub-block scale (ggml's
//     vpmaddubsw + vpmaddwd layout), for Q6_K minus 32 * (bsums[2k] * scale[2k] + bsums[2k+1] *
//     scale[2k+1]); then acc[k] = fma(d_a * d_w, lane, acc[k]); the lanes added as
//     (a0+a4 + a2+a6) + (a1+a5 + a3+a7). Q3_K has signed values (no bsums term); Q5_K adds a
//     scalar chain for the mins, m = fma(-(d_a * dmin_w), mins, m), added last.
//   - tiled (ggml-cpu/tiled, batches of 8 and more): per super-block the whole integer sum s,
//     r = (float)s * d_w, then acc = fma(r, d_a, acc), super-blocks in order. Q3_K, Q6_K; Q5_K
//     with its mins m (integer) in between: r = fma(-dmin_w, (float)m, (float)s * d_w).
//   - repacked Q4_K (`q4_K_8x8`, matrices with a multiple of 8 rows): two accumulators, one for
//     the scaled sums and one for the mins, acc = fma((float)isum, d_w * d_a, acc) and
//     acc_m = fma((float)imins, dmin_w * d_a, acc_m); result acc - acc_m. `gemv` (one token and
//     the last count % 4 rows of a batch) takes each super-block's sums whole; `gemm` (batch rows
//     in groups of 4) takes them per 64 values (two sub-blocks), four multiply-adds a super-block.
//   - repacked Q2_K (`q2_K_8x8`, chosen when the CPU has AVX-512): the same with 16-value
//     sub-blocks, `gemm` per 128 values (two multiply-adds a super-block).
#include "CKernels.h"
#include "row_kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

#define F16(h) loco_f16_to_f32_scalar(h)

// MARK: - Q6_K

/// Super-block `x` . `y` as ggml's AVX2 vec_dot splits it into 8 int32 lanes.
static inline void q6_K_lanes_scalar(const blk_q6_K *x, const blk_q8_K *y, int32_t lane[8]) {
    for (int k = 0; k < 8; k++) {
        lane[k] = -32 * (y->bsums[2 * k] * x->scales[2 * k] + y->bsums[2 * k + 1] * x->scales[2 * k + 1]);
    }
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        for (int g = 0; g < 4; g++) {
            // Group g: 32 values; ql low nibbles of bytes 0..31 (g 0), 32..63 (g 1), high nibbles
            // (g 2, 3); qh bits 2g, 2g+1.
            const int8_t *a = y->qs + 128 * h + 32 * g;
            for (int b = 0; b < 32; b++) {
                const uint8_t l = ql[b + 32 * (g & 1)];
                const int u = ((g < 2 ? l & 0xF : l >> 4) | (((qh[b] >> (2 * g)) & 3) << 4));
                lane[b / 4] += x->scales[8 * h + 2 * g + b / 16] * u * a[b];
            }
        }
    }
}

/// The whole integer sum of a super-block.
static inline int32_t q6_K_isum_scalar(const blk_q6_K *x, const blk_q8_K *y) {
    int32_t lane[8];
    q6_K_lanes_scalar(x, y, lane);
    int32_t s = 0;
    for (int k = 0; k < 8; k++) s += lane[k];
    return s;
}

static inline float hsum8_ggml(const float acc[8]) {
    const float r0 = acc[0] + acc[4], r1 = acc[1] + acc[5], r2 = acc[2] + acc[6], r3 = acc[3] + acc[7];
    return (r0 + r2) + (r1 + r3);
}

static float vec_dot_q6_K_scalar(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    float acc[8] = {0};
    for (size_t i = 0; i < nb; i++) {
        int32_t lane[8];
        q6_K_lanes_scalar(&x[i], &y[i], lane);
        const float d = y[i].d * F16(x[i].d);
        for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
    }
    return hsum8_ggml(acc);
}

static float tiled_dot_q6_K_scalar(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    float acc = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const float r = (float)q6_K_isum_scalar(&x[i], &y[i]) * F16(x[i].d);
        acc = fmaf(r, y[i].d, acc);
    }
    return acc;
}


// MARK: - Q4_K, repacked

/// Sub-block j's integer dot product (unsigned 4-bit weights) and the bsums of its 32 values.
static inline void q4_K_sub_scalar(const blk_q4_K *x, const blk_q8_K *y, int32_t dot[8], int32_t bsum[8]) {
    for (int j = 0; j < 8; j++) {
        const uint8_t *q = x->qs + 32 * (j / 2);
        const int8_t *a = y->qs + 32 * j;
        int32_t s = 0;
        for (int l = 0; l < 32; l++) s += ((j & 1) ? (q[l] >> 4) : (q[l] & 0xF)) * a[l];
        dot[j] = s;
        bsum[j] = y->bsums[2 * j] + y->bsums[2 * j + 1];
    }
}

/// Sums of `parts` equal parts of a super-block (1: whole, 4: 64 values each): scaled dots and mins.
static inline void q4_K_parts_scalar(const blk_q4_K *x, const blk_q8_K *y, int parts, int32_t *isum, int32_t *imin) {
    uint64_t sc, m;
    loco_unpack_scales_k4(x->scales, &sc, &m);
    int32_t dot[8], bsum[8];
    q4_K_sub_scalar(x, y, dot, bsum);
    const int per = 8 / parts;
    for (int p = 0; p < parts; p++) {
        isum[p] = 0;
        imin[p] = 0;
        for (int j = per * p; j < per * (p + 1); j++) {
            isum[p] += loco_byte(sc, j) * dot[j];
            imin[p] += loco_byte(m, j) * bsum[j];
        }
    }
}

static inline float repacked_q4_K_scalar(size_t nb, const blk_q4_K *x, const blk_q8_K *y, int parts) {
    float acc = 0.0f, acc_m = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int32_t isum[4], imin[4];
        q4_K_parts_scalar(&x[i], &y[i], parts, isum, imin);
        const float d = F16(x[i].d) * y[i].d, dm = F16(x[i].dmin) * y[i].d;
        for (int p = 0; p < parts; p++) {
            acc = fmaf((float)isum[p], d, acc);
            acc_m = fmaf((float)imin[p], dm, acc_m);
        }
    }
    return acc - acc_m;
}

static float gemv_q4_K_scalar(size_t nb, const blk_q4_K *x, const blk_q8_K *y) { return repacked_q4_K_scalar(nb, x, y, 1); }
static float gemm_q4_K_scalar(size_t nb, const blk_q4_K *x, const blk_q8_K *y) { return repacked_q4_K_scalar(nb, x, y, 4); }


// MARK: - Q3_K and Q5_K (portable C only: the lanes are computed byte by byte)

/// Q3_K super-block `x` . `y` in ggml's 8 AVX2 lanes (values -4...3, scales - 32).
static inline void q3_K_lanes_scalar(const blk_q3_K *x, const blk_q8_K *y, int32_t lane[8]) {
    uint64_t lo, hi;
    loco_unpack_scales_q3_K(x->scales, &lo, &hi);
    for (int k = 0; k < 8; k++) lane[k] = 0;
    for (int h = 0; h < 2; h++) {
        const uint8_t *q = x->qs + 32 * h;
        for (int g = 0; g < 4; g++) {
            const int8_t *a = y->qs + 128 * h + 32 * g;
            const uint8_t bit = (uint8_t)(1u << (4 * h + g));
            for (int b = 0; b < 32; b++) {
                const int v = ((q[b] >> (2 * g)) & 3) - ((x->hmask[b] & bit) ? 0 : 4);
                const int k = 8 * h + 2 * g + b / 16;
                lane[b / 4] += (loco_byte(k < 8 ? lo : hi, k & 7) - 32) * v * a[b];
            }
        }
    }
}

/// Q5_K super-block in ggml's 8 AVX2 lanes (scaled sums; the mins apart, in `*mins`).
static inline void q5_K_lanes_scalar(const blk_q5_K *x, const blk_q8_K *y, int32_t lane[8], int32_t *mins) {
    uint64_t sc, m;
    loco_unpack_scales_k4(x->scales, &sc, &m);
    for (int k = 0; k < 8; k++) lane[k] = 0;
    *mins = 0;
    for (int j = 0; j < 8; j++) {
        const uint8_t *q = x->qs + 32 * (j / 2);
        const int8_t *a = y->qs + 32 * j;
        for (int b = 0; b < 32; b++) {
            const int v = ((j & 1) ? (q[b] >> 4) : (q[b] & 0xF)) + (((x->qh[b] >> j) & 1) << 4);
            lane[b / 4] += loco_byte(sc, j) * v * a[b];
        }
        *mins += loco_byte(m, j) * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
}

static inline int32_t sum8(const int32_t lane[8]) {
    int32_t s = 0;
    for (int k = 0; k < 8; k++) s += lane[k];
    return s;
}

float loco_ggml_vec_dot_q3_K_q8_K(size_t n, const void *w, const void *a) {
    const blk_q3_K *x = w;
    const blk_q8_K *y = a;
    float acc[8] = {0};
    for (size_t i = 0; i < n / LOCO_QK_K; i++) {
        int32_t lane[8];
        q3_K_lanes_scalar(&x[i], &y[i], lane);
        const float d = y[i].d * F16(x[i].d);
        for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
    }
    return hsum8_ggml(acc);
}

float loco_ggml_tiled_dot_q3_K_q8_K(size_t n, const void *w, const void *a) {
    const blk_q3_K *x = w;
    const blk_q8_K *y = a;
    float acc = 0.0f;
    for (size_t i = 0; i < n / LOCO_QK_K; i++) {
        int32_t lane[8];
        q3_K_lanes_scalar(&x[i], &y[i], lane);
        acc = fmaf((float)sum8(lane) * F16(x[i].d), y[i].d, acc);
    }
    return acc;
}

float loco_ggml_vec_dot_q5_K_q8_K(size_t n, const void *w, const void *a) {
    const blk_q5_K *x = w;
    const blk_q8_K *y = a;
    float acc[8] = {0}, summs = 0.0f;
    for (size_t i = 0; i < n / LOCO_QK_K; i++) {
        int32_t lane[8], mins;
        q5_K_lanes_scalar(&x[i], &y[i], lane, &mins);
        const float d = y[i].d * F16(x[i].d), dmin = -y[i].d * F16(x[i].dmin);
        for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
        summs = fmaf(dmin, (float)mins, summs);
    }
    return hsum8_ggml(acc) + summs;
}

float loco_ggml_tiled_dot_q5_K_q8_K(size_t n, const void *w, const void *a) {
    const blk_q5_K *x = w;
    const blk_q8_K *y = a;
    float acc = 0.0f;
    for (size_t i = 0; i < n / LOCO_QK_K; i++) {
        int32_t lane[8], mins;
        q5_K_lanes_scalar(&x[i], &y[i], lane, &mins);
        const float r = fmaf(-F16(x[i].dmin), (float)mins, (float)sum8(lane) * F16(x[i].d));
        acc = fmaf(r, y[i].d, acc);
    }
    return acc;
}

// MARK: - Q2_K, repacked (portable C only)

/// Q2_K sums of `parts` equal parts of a super-block (1: whole, 2: 128 values each): scaled dots
/// and mins of its 16-value sub-blocks.
static inline void q2_K_parts_scalar(const blk_q2_K *x, const blk_q8_K *y, int parts, int32_t *isum, int32_t *imin) {
    for (int p = 0; p < parts; p++) isum[p] = imin[p] = 0;
    const int per = 16 / parts;
    for (int h = 0; h < 2; h++) {
        const uint8_t *q = x->qs + 32 * h;
        for (int j = 0; j < 4; j++) {
            for (int half = 0; half < 2; half++) {
                const int k = 8 * h + 2 * j + half;
                const int8_t *a = y->qs + 16 * k;
                int32_t s = 0;
                for (int l = 0; l < 16; l++) s += a[l] * ((q[16 * half + l] >> (2 * j)) & 3);
                isum[k / per] += (x->scales[k] & 0xF) * s;
                imin[k / per] += (x->scales[k] >> 4) * y->bsums[k];
            }
        }
    }
}

static inline float repacked_q2_K(size_t nb, const blk_q2_K *x, const blk_q8_K *y, int parts) {
    float acc = 0.0f, acc_m = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int32_t isum[2], imin[2];
        q2_K_parts_scalar(&x[i], &y[i], parts, isum, imin);
        const float d = F16(x[i].d) * y[i].d, dm = F16(x[i].dmin) * y[i].d;
        for (int p = 0; p < parts; p++) {
            acc = fmaf((float)isum[p], d, acc);
            acc_m = fmaf((float)imin[p], dm, acc_m);
        }
    }
    return acc - acc_m;
}

// MARK: - TQ1_0 / TQ2_0 (ggml's AVX2 vec_dot, which its AVX-512 builds run too)
//
// Eight int32 lanes per super-block, lane k holding bytes 4k..4k+3 of every 32-byte vector of
// trits against the activations they meet, minus bsums[2k] + bsums[2k+1] (the -1 of every value,
// taken back from the lanes as ggml's vpsubw does, not from the lanes the values went to); then
// acc[k] = fma((float)lane, d_a * d_w, acc[k]) (the source's multiply and add, which GCC fuses
// in llama-cpp-python's build); the lanes added as hsum8_ggml.

/// ggml's trit l (0..4) of a TQ1_0 byte: the top two bits of 3 * (q * 3^l mod 256), 0..2.
static inline int tq1_trit(uint8_t q, int l) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    return ((uint16_t)(uint8_t)(q * pow3[l]) * 3) >> 8;
}

static inline void tq1_0_lanes(const blk_tq1_0 *x, const blk_q8_K *y, int32_t lane[8]) {
    for (int k = 0; k < 8; k++) lane[k] = 0;
    // The first 32 bytes, five trits each: trit l of byte p meets activation 32 l + p.
    for (int l = 0; l < 5; l++)
        for (int p = 0; p < 32; p++) lane[p / 4] += tq1_trit(x->qs[p], l) * y->qs[32 * l + p];
    // The last 16 bytes: trits 0 and 1 in one vector (low and high halves), 2 and 3, then 4 beside
    // the four qh bytes' trits (byte i: trit i / 4 of qh[i % 4]); activations 160 on, in order.
    for (int v = 0; v < 3; v++)
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 16; i++) {
                const int trit = v == 2 && h == 1 ? tq1_trit(x->qh[i % 4], i / 4) : tq1_trit(x->qs[32 + i], 2 * v + h);
                lane[4 * h + i / 4] += trit * y->qs[160 + 32 * v + 16 * h + i];
            }
    for (int k = 0; k < 8; k++) lane[k] -= y->bsums[2 * k] + y->bsums[2 * k + 1];
}

static inline void tq2_0_lanes(const blk_tq2_0 *x, const blk_q8_K *y, int32_t lane[8]) {
    for (int k = 0; k < 8; k++) lane[k] = 0;
    for (int j = 0; j < 64; j += 32)
        for (int l = 0; l < 4; l++)
            for (int p = 0; p < 32; p++) lane[p / 4] += ((x->qs[j + p] >> (2 * l)) & 3) * y->qs[4 * j + 32 * l + p];
    for (int k = 0; k < 8; k++) lane[k] -= y->bsums[2 * k] + y->bsums[2 * k + 1];
}

#define LOCO_TQ_VEC_DOT(T)                                                                          \
    float loco_ggml_vec_dot_##T##_q8_K(size_t n, const void *w, const void *a) {                      \
        const blk_##T *x = w;                                                                       \
        const blk_q8_K *y = a;                                                                      \
        float acc[8] = {0};                                                                         \
        for (size_t i = 0; i < n / LOCO_QK_K; i++) {                                                \
            int32_t lane[8];                                                                        \
            T##_lanes(&x[i], &y[i], lane);                                                          \
            const float d = y[i].d * F16(x[i].d);                                                   \
            for (int k = 0; k < 8; k++) acc[k] = fmaf((float)lane[k], d, acc[k]);                   \
        }                                                                                           \
        return hsum8_ggml(acc);                                                                     \
    }

LOCO_TQ_VEC_DOT(tq1_0)
LOCO_TQ_VEC_DOT(tq2_0)

float loco_ggml_gemv_dot_q2_K_q8_K(size_t n, const void *w, const void *a) { return repacked_q2_K(n / LOCO_QK_K, w, a, 1); }
float loco_ggml_gemm_dot_q2_K_q8_K(size_t n, const void *w, const void *a) { return repacked_q2_K(n / LOCO_QK_K, w, a, 2); }

#if defined(__x86_64__)

#define A2 __attribute__((target("avx2,fma,f16c")))

A2 static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// The 8 lanes of q6_K_lanes_scalar.
A2 static inline __m256i q6_K_lanes_avx2(const blk_q6_K *x, const blk_q8_K *y) {
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)x->scales);
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    // 32 * (bsums[2k] * sc[2k] + bsums[2k+1] * sc[2k+1]) in lane k.
    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(load256(y->bsums), sc16), 5);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = load256(x->ql + 64 * h), ql1 = load256(x->ql + 64 * h + 32);
        const __m256i qh = load256(x->qh + 32 * h);
        __m256i u[4];
        loco_q6_K_unpack_avx2(ql0, ql1, qh, u);
        for (int g = 0; g < 4; g++) {
            const int s = 8 * h + 2 * g;
            const __m256i scales = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(x->scales[s])),
                                                            _mm_set1_epi16(x->scales[s + 1]), 1);
            const __m256i p = _mm256_maddubs_epi16(u[g], load256(y->qs + 128 * h + 32 * g));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scales));
        }
    }
    return _mm256_sub_epi32(isum, corr);
}

A2 static inline int32_t hsum_epi32_avx2(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

A2 static inline float hsum8_ggml_avx2(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

A2 static float vec_dot_q6_K_avx2(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const float d = y[i].d * loco_half_f16c(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q6_K_lanes_avx2(&x[i], &y[i])), acc);
    }
    return hsum8_ggml_avx2(acc);
}

A2 static float tiled_dot_q6_K_avx2(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    __m128 acc = _mm_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const float r = (float)hsum_epi32_avx2(q6_K_lanes_avx2(&x[i], &y[i])) * loco_half_f16c(x[i].d);
        acc = _mm_fmadd_ss(_mm_set_ss(r), _mm_set_ss(y[i].d), acc);
    }
    return _mm_cvtss_f32(acc);
}


/// Per 64 values g (two sub-blocks): lane g of `*isum` and `*imin` (lanes 0..3), exact integers.
A2 static inline void q4_K_parts_avx2(const blk_q4_K *x, const blk_q8_K *y, int32_t isum[4], int32_t imin[4]) {
    uint64_t sc, m;
    loco_unpack_scales_k4(x->scales, &sc, &m);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int g = 0; g < 4; g++) {
        const __m256i q = load256(x->qs + 32 * g);
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(y->qs + 64 * g)), _mm256_set1_epi16((short)loco_byte(sc, 2 * g)));
        const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(y->qs + 64 * g + 32)), _mm256_set1_epi16((short)loco_byte(sc, 2 * g + 1)));
        isum[g] = hsum_epi32_avx2(_mm256_add_epi32(plo, phi));
        imin[g] = loco_byte(m, 2 * g) * (y->bsums[4 * g] + y->bsums[4 * g + 1]) +
                  loco_byte(m, 2 * g + 1) * (y->bsums[4 * g + 2] + y->bsums[4 * g + 3]);
    }
}

A2 static float gemv_q4_K_avx2(size_t nb, const blk_q4_K *x, const blk_q8_K *y) {
    __m128 acc = _mm_setzero_ps(), acc_m = _mm_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        int32_t isum[4], imin[4];
        q4_K_parts_avx2(&x[i], &y[i], isum, imin);
        const float d = loco_half_f16c(x[i].d) * y[i].d, dm = loco_half_f16c(x[i].dmin) * y[i].d;
        const int32_t s = isum[0] + isum[1] + isum[2] + isum[3], sm = imin[0] + imin[1] + imin[2] + imin[3];
        acc = _mm_fmadd_ss(_mm_set_ss((float)s), _mm_set_ss(d), acc);
        acc_m = _mm_fmadd_ss(_mm_set_ss((float)sm), _mm_set_ss(dm), acc_m);
    }
    return _mm_cvtss_f32(acc) - _mm_cvtss_f32(acc_m);
}

A2 static float gemm_q4_K_avx2(size_t nb, const blk_q4_K *x, const blk_q8_K *y) {
    __m128 acc = _mm_setzero_ps(), acc_m = _mm_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        int32_t isum[4], imin[4];
        q4_K_parts_avx2(&x[i], &y[i], isum, imin);
        const __m128 d = _mm_set_ss(loco_half_f16c(x[i].d) * y[i].d), dm = _mm_set_ss(loco_half_f16c(x[i].dmin) * y[i].d);
        for (int g = 0; g < 4; g++) {
            acc = _mm_fmadd_ss(_mm_set_ss((float)isum[g]), d, acc);
            acc_m = _mm_fmadd_ss(_mm_set_ss((float)imin[g]), dm, acc_m);
        }
    }
    return _mm_cvtss_f32(acc) - _mm_cvtss_f32(acc_m);
}

#undef A2
#endif

// MARK: - Dispatch (AVX2 or portable C; AVX-512 variants would give the same bits, and are not needed)

#if defined(__x86_64__)
#define LOCO_DISPATCH_AVX2(kernel, ...)                                                             \
    do {                                                                                            \
        const uint32_t avx2_ = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;                        \
        if ((loco_cpu_features() & avx2_) == avx2_) return kernel##_avx2(__VA_ARGS__);              \
        return kernel##_scalar(__VA_ARGS__);                                                        \
    } while (0)
#else
#define LOCO_DISPATCH_AVX2(kernel, ...) return kernel##_scalar(__VA_ARGS__)
#endif

float loco_ggml_vec_dot_q6_K_q8_K(size_t n, const void *w, const void *a) {
    LOCO_DISPATCH_AVX2(vec_dot_q6_K, n / LOCO_QK_K, w, a);
}

float loco_ggml_tiled_dot_q6_K_q8_K(size_t n, const void *w, const void *a) {
    LOCO_DISPATCH_AVX2(tiled_dot_q6_K, n / LOCO_QK_K, w, a);
}

float loco_ggml_gemv_dot_q4_K_q8_K(size_t n, const void *w, const void *a) {
    LOCO_DISPATCH_AVX2(gemv_q4_K, n / LOCO_QK_K, w, a);
}

float loco_ggml_gemm_dot_q4_K_q8_K(size_t n, const void *w, const void *a) {
    LOCO_DISPATCH_AVX2(gemm_q4_K, n / LOCO_QK_K, w, a);
}
