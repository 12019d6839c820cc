// Dot products of one weight row in a 256-value format (Q2_K ... Q6_K, TQ1_0, TQ2_0) with
// activations quantized to Q8_K.
//
// Every variant computes a super-block's sum exactly in integers: the sub-block scales multiply
// integer sub-block sums, offsets (Q3_K's -4, Q6_K's -32, TQ's -1) and the mins of Q2_K/Q4_K/Q5_K
// go through the activation block sums (bsums). Then, in float:
//   sum += (half(d_w) * d_a) * isum - (half(dmin_w) * d_a) * mins.
// The variants differ only in the order of those float additions. Activations must come from
// loco_quantize_row_q8_K (|q| <= 127, bsums filled).
#include "CKernels.h"
#include "row_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

#define F16(h) loco_f16_to_f32_scalar(h)

// MARK: - Scalar

static float dot_q2_K_scalar(size_t nb, const blk_q2_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *sc = x[i].scales;
        int mins = 0;
        for (int j = 0; j < 16; j++) mins += y[i].bsums[j] * (sc[j] >> 4);
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int8_t *a = y[i].qs + 128 * h + 32 * j;
                for (int half = 0; half < 2; half++) {
                    int s = 0;
                    for (int l = 16 * half; l < 16 * half + 16; l++) s += a[l] * ((q[l] >> (2 * j)) & 3);
                    isum += (sc[8 * h + 2 * j + half] & 0xF) * s;
                }
            }
        }
        sum += (F16(x[i].d) * y[i].d) * (float)isum - (F16(x[i].dmin) * y[i].d) * (float)mins;
    }
    return sum;
}

static float dot_q3_K_scalar(size_t nb, const blk_q3_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const int8_t *a = y[i].qs + 128 * h + 32 * j;
                const uint8_t bit = (uint8_t)(1u << (4 * h + j));
                for (int half = 0; half < 2; half++) {
                    int s = 0;
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        s += a[l] * (((q[l] >> (2 * j)) & 3) - ((x[i].hmask[l] & bit) ? 0 : 4));
                    }
                    const int k = 8 * h + 2 * j + half;
                    isum += (loco_byte(k < 8 ? lo : hi, k & 7) - 32) * s;
                }
            }
        }
        sum += (F16(x[i].d) * y[i].d) * (float)isum;
    }
    return sum;
}

/// Q4_K and Q5_K share everything but the fifth bit (`qh` null for Q4_K).
static inline float dot_k4_scalar(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs,
                                  const uint8_t *qh, const blk_q8_K *y, float sum) {
    uint64_t sc, m;
    loco_unpack_scales_k4(scales, &sc, &m);
    int isum = 0, mins = 0;
    for (int j = 0; j < 8; j++) {
        const uint8_t *q = qs + 32 * (j / 2);
        const int8_t *a = y->qs + 32 * j;
        int s = 0;
        for (int l = 0; l < 32; l++) {
            int v = (j & 1) ? (q[l] >> 4) : (q[l] & 0xF);
            if (qh && (qh[l] >> j) & 1) v += 16;
            s += v * a[l];
        }
        isum += loco_byte(sc, j) * s;
        mins += loco_byte(m, j) * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return sum + ((F16(d) * y->d) * (float)isum - (F16(dmin) * y->d) * (float)mins);
}

static float dot_q4_K_scalar(size_t nb, const blk_q4_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) sum = dot_k4_scalar(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, &y[i], sum);
    return sum;
}

static float dot_q5_K_scalar(size_t nb, const blk_q5_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) sum = dot_k4_scalar(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, &y[i], sum);
    return sum;
}

static float dot_q6_K_scalar(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *a = y[i].qs + 128 * h;
            int s[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                s[is + 0] += a[l + 0] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                s[is + 2] += a[l + 32] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                s[is + 4] += a[l + 64] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                s[is + 6] += a[l + 96] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
            for (int k = 0; k < 8; k++) isum += x[i].scales[8 * h + k] * s[k];
        }
        sum += (F16(x[i].d) * y[i].d) * (float)isum;
    }
    return sum;
}

/// Trit `k` (0...4) of a TQ1_0 byte: the byte times 3^k modulo 256, then its top base-3 digit.
static inline int tq1_trit(uint8_t byte, int k) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t q = (uint8_t)(byte * pow3[k]);
    return ((uint16_t)q * 3) >> 8;
}

static float dot_tq1_0_scalar(size_t nb, const blk_tq1_0 *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const int8_t *a = y[i].qs;
        int isum = 0;
        for (int k = 0; k < 5; k++) {
            for (int m = 0; m < 32; m++) isum += (tq1_trit(x[i].qs[m], k) - 1) * a[32 * k + m];
            for (int m = 0; m < 16; m++) isum += (tq1_trit(x[i].qs[32 + m], k) - 1) * a[160 + 16 * k + m];
        }
        for (int k = 0; k < 4; k++) {
            for (int j = 0; j < 4; j++) isum += (tq1_trit(x[i].qh[j], k) - 1) * a[240 + 4 * k + j];
        }
        sum += (F16(x[i].d) * y[i].d) * (float)isum;
    }
    return sum;
}

static float dot_tq2_0_scalar(size_t nb, const blk_tq2_0 *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 4; l++) {
                for (int m = 0; m < 32; m++) {
                    isum += (((x[i].qs[32 * h + m] >> (2 * l)) & 3) - 1) * y[i].qs[128 * h + 32 * l + m];
                }
            }
        }
        sum += (F16(x[i].d) * y[i].d) * (float)isum;
    }
    return sum;
}

#if defined(__x86_64__)

// MARK: - AVX2
//
// 32 values per register. vpmaddubsw pairs stay below 2^15 (weights <= 63 against |a| <= 127),
// so sub-block scales can multiply the int16 pair sums directly with vpmaddwd.

#define LOCO_TARGET_AVX2 "avx2,fma,f16c"
#define A2 __attribute__((target(LOCO_TARGET_AVX2)))

A2 static inline float hsum_ps_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

A2 static inline int hsum_epi32_256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// int16 scales: the first 8 lanes `lo`, the last 8 `hi` (two 16-value sub-blocks in a register).
A2 static inline __m256i scales_2x8(int lo, int hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)lo)), _mm_set1_epi16((short)hi), 1);
}

/// Bytes equal to `value` where `bits & mask` is set, else 0.
A2 static inline __m256i select_bits(__m256i bits, uint8_t mask, uint8_t value) {
    const __m256i m = _mm256_set1_epi8((char)mask);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bits, m), m), _mm256_set1_epi8((char)value));
}

A2 static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// Sum over the super-block of scale(sub-block) * dot, for 16-value sub-blocks: `u` holds 32
/// unsigned weights (two sub-blocks with scales s0, s1), `a` the activations.
A2 static inline __m256i scaled_dot_16(__m256i u, __m256i a, int s0, int s1) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), scales_2x8(s0, s1));
}

A2 static float dot_q2_K_avx2(size_t nb, const blk_q2_K *x, const blk_q8_K *y) {
    __m256 acc = _mm256_setzero_ps();
    float minsum = 0.0f;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const uint8_t *sc = x[i].scales;
        int mins = 0;
        for (int j = 0; j < 16; j++) mins += y[i].bsums[j] * (sc[j] >> 4);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = load256(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                const int k = 8 * h + 2 * j;
                isum = _mm256_add_epi32(isum, scaled_dot_16(u, load256(y[i].qs + 128 * h + 32 * j), sc[k] & 0xF, sc[k + 1] & 0xF));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].d) * y[i].d), _mm256_cvtepi32_ps(isum), acc);
        minsum += (loco_half_f16c(x[i].dmin) * y[i].d) * (float)mins;
    }
    return hsum_ps_256(acc) - minsum;
}

A2 static float dot_q3_K_avx2(size_t nb, const blk_q3_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        int sc[16], corr = 0;
        for (int k = 0; k < 16; k++) {
            sc[k] = loco_byte(k < 8 ? lo : hi, k & 7) - 32;
            corr += sc[k] * y[i].bsums[k];
        }
        const __m256i hm = load256(x[i].hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = load256(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                // value + 4 = low two bits | 4 where the hmask bit is set; the 4s come back out below.
                __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                u = _mm256_or_si256(u, select_bits(hm, (uint8_t)(1u << (4 * h + j)), 4));
                const int k = 8 * h + 2 * j;
                isum = _mm256_add_epi32(isum, scaled_dot_16(u, load256(y[i].qs + 128 * h + 32 * j), sc[k], sc[k + 1]));
            }
        }
        const int total = hsum_epi32_256(isum) - 4 * corr;
        sum += (loco_half_f16c(x[i].d) * y[i].d) * (float)total;
    }
    return sum;
}

/// One Q4_K / Q5_K super-block (`dd`: its half d and dmin side by side) against block i of
/// `count` (at most 4) activation rows: adds d * y.d * (the scaled sub-block sums) to `acc[t]` and
/// dmin * y.d * (the scaled minimum sums) to `accm[t]`, both lane by lane (the caller sums the
/// lanes once, at the end of the row). The weights unpack once for all inputs; each input gets
/// the same operations whatever `count` is, so the one-row kernel and the several-input kernel
/// give the same bits.
A2 __attribute__((always_inline)) static inline void k4_block_avx2(const uint16_t *dd, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                    const blk_q8_K *const *y, size_t i, int count, __m256 *acc, __m256 *accm) {
    uint64_t sc, m;
    loco_unpack_scales_k4(scales, &sc, &m);
    // The eight sub-block scales as int16, in both halves; a byte shuffle puts sub-block j's in
    // every lane (one instruction where a broadcast from a general register takes three).
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i bits = qh ? load256(qh) : _mm256_setzero_si256();
    __m256i isum[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int g = 0; g < 4; g++) {
        const __m256i q = load256(qs + 32 * g);
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, select_bits(bits, (uint8_t)(1u << (2 * g)), 16));
            hi = _mm256_or_si256(hi, select_bits(bits, (uint8_t)(2u << (2 * g)), 16));
        }
        const __m256i slo = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(((4 * g + 1) << 8) | (4 * g))));
        const __m256i shi = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(((4 * g + 3) << 8) | (4 * g + 2))));
        for (int t = 0; t < count; t++) {
            const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(y[t][i].qs + 64 * g)), slo);
            const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(y[t][i].qs + 64 * g + 32)), shi);
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(plo, phi));
        }
    }
    // sum_j m_j (bsums[2j] + bsums[2j+1]) in integers: each min twice, against the 16 sums.
    const __m128i m8 = _mm_cvtsi64_si128((long long)m);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    // d and dmin as floats (lanes 0 and 1), times each input's scale below: the products the
    // one-value conversions gave.
    uint32_t pair;
    memcpy(&pair, dd, 4);
    const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)pair));
    for (int t = 0; t < count; t++) {
        const __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[t][i].bsums), m16);
        const __m128 scale = _mm_mul_ps(dm, _mm_set1_ps(y[t][i].d));
        acc[t] = _mm256_fmadd_ps(_mm256_broadcastss_ps(scale), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        accm[t] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(scale)), _mm256_cvtepi32_ps(mins), accm[t]);
    }
}

/// Q4_K (`qh_offset` 0) or Q5_K rows (blocks of `block_bytes`: d, dmin, scales, [qh,] qs) against
/// `count` (at most 4) activation rows: out[t * ldo + r].
A2 __attribute__((always_inline)) static inline void k4_rows_avx2(size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, size_t block_bytes, int has_qh,
                                   const blk_q8_K *const *y, int count, float *out, size_t ldo) {
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *x = w + r * row_bytes;
        __m256 acc[4], accm[4];
        for (int t = 0; t < 4; t++) acc[t] = accm[t] = _mm256_setzero_ps();
        for (size_t i = 0; i < nb; i++) {
            const uint8_t *b = x + i * block_bytes;
            loco_prefetch(b, block_bytes);
            k4_block_avx2((const uint16_t *)b, b + 4, b + (has_qh ? 48 : 16), has_qh ? b + 16 : NULL, y, i, count, acc, accm);
        }
        for (int t = 0; t < count; t++) out[t * ldo + r] = hsum_ps_256(acc[t]) - hsum_ps_256(accm[t]);
    }
}

A2 static float dot_q4_K_avx2(size_t nb, const blk_q4_K *x, const blk_q8_K *y) {
    float out;
    k4_rows_avx2(nb, (const uint8_t *)x, 0, 1, sizeof *x, 0, &y, 1, &out, 0);
    return out;
}

A2 static float dot_q5_K_avx2(size_t nb, const blk_q5_K *x, const blk_q8_K *y) {
    float out;
    k4_rows_avx2(nb, (const uint8_t *)x, 0, 1, sizeof *x, 1, &y, 1, &out, 0);
    return out;
}

/// Byte shuffles of a Q6_K half's eight int16 scales: row k puts scale 2k in the first eight
/// lanes and 2k + 1 in the last eight.
static const uint8_t q6_scale_pick[4][32] __attribute__((aligned(32))) = {
#define PICK(k) {4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, \
                 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,      \
                 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3}
    PICK(0), PICK(1), PICK(2), PICK(3)
#undef PICK
};

/// Q6_K rows against `count` (at most 4) activation rows: out[t * ldo + r]. The weights unpack
/// once for all inputs; each input gets the same operations whatever `count` is.
A2 __attribute__((always_inline)) static inline void q6_rows_avx2(size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, const blk_q8_K *const *y,
                                   int count, float *out, size_t ldo) {
    for (size_t r = 0; r < rows; r++) {
        const blk_q6_K *x = (const blk_q6_K *)(w + r * row_bytes);
        __m256 acc[4];
        for (int t = 0; t < 4; t++) acc[t] = _mm256_setzero_ps();
        for (size_t i = 0; i < nb; i++) {
            loco_prefetch(&x[i], sizeof x[i]);
            // The 16 scales as int16: sub-blocks 0-7 in both halves of `half[0]`, 8-15 in `half[1]`.
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
            const __m256i half[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11)};
            __m256i isum[4];
            for (int t = 0; t < count; t++) {
                // The -32 of every value, through the bsums, kept in lanes.
                const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[t][i].bsums), sc16);
                isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
            }
            for (int h = 0; h < 2; h++) {
                const __m256i ql0 = load256(x[i].ql + 64 * h), ql1 = load256(x[i].ql + 64 * h + 32);
                const __m256i qh = load256(x[i].qh + 32 * h);
                // Unsigned 6-bit values (the -32 comes back through the bsums).
                __m256i u[4];
                loco_q6_K_unpack_avx2(ql0, ql1, qh, u);
                for (int k = 0; k < 4; k++) {
                    const __m256i scale = _mm256_shuffle_epi8(half[h], load256(q6_scale_pick[k]));
                    for (int t = 0; t < count; t++)
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(u[k], load256(y[t][i].qs + 128 * h + 32 * k)), scale));
                }
            }
            const float d = loco_half_f16c(x[i].d);
            for (int t = 0; t < count; t++)
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[t][i].d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        }
        for (int t = 0; t < count; t++) out[t * ldo + r] = hsum_ps_256(acc[t]);
    }
}

A2 static float dot_q6_K_avx2(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    float out;
    q6_rows_avx2(nb, (const uint8_t *)x, 0, 1, &y, 1, &out, 0);
    return out;
}

/// Several inputs per weight row (K formats, AVX2): up to four at a time, the weights unpacked once.
A2 static void multi_k_avx2(int type, size_t nb, const uint8_t *w, size_t row_bytes, size_t rows, const uint8_t *a, size_t a_bytes,
                            size_t count, float *out, size_t ldo) {
    for (size_t t0 = 0; t0 < count; t0 += 4) {
        const int c = count - t0 < 4 ? (int)(count - t0) : 4;
        const blk_q8_K *y[4];
        for (int t = 0; t < c; t++) y[t] = (const blk_q8_K *)(a + (t0 + t) * a_bytes);
        float *o = out + t0 * ldo;
        // Specialized per input count, so each input's operations are those of the one-row kernel.
        switch (type * 8 + c) {
        case 0 * 8 + 1: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q4_K), 0, y, 1, o, ldo); break;
        case 0 * 8 + 2: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q4_K), 0, y, 2, o, ldo); break;
        case 0 * 8 + 3: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q4_K), 0, y, 3, o, ldo); break;
        case 0 * 8 + 4: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q4_K), 0, y, 4, o, ldo); break;
        case 1 * 8 + 1: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q5_K), 1, y, 1, o, ldo); break;
        case 1 * 8 + 2: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q5_K), 1, y, 2, o, ldo); break;
        case 1 * 8 + 3: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q5_K), 1, y, 3, o, ldo); break;
        case 1 * 8 + 4: k4_rows_avx2(nb, w, row_bytes, rows, sizeof(blk_q5_K), 1, y, 4, o, ldo); break;
        case 2 * 8 + 1: q6_rows_avx2(nb, w, row_bytes, rows, y, 1, o, ldo); break;
        case 2 * 8 + 2: q6_rows_avx2(nb, w, row_bytes, rows, y, 2, o, ldo); break;
        case 2 * 8 + 3: q6_rows_avx2(nb, w, row_bytes, rows, y, 3, o, ldo); break;
        default: q6_rows_avx2(nb, w, row_bytes, rows, y, 4, o, ldo); break;
        }
    }
}

/// Bytes times per-16-bit-lane constants, modulo 256 (even and odd bytes multiplied apart).
A2 static inline __m256i mul_bytes_256(__m256i x, __m256i p) {
    const __m256i even = _mm256_and_si256(_mm256_mullo_epi16(x, p), _mm256_set1_epi16(0x00FF));
    const __m256i odd = _mm256_mullo_epi16(_mm256_and_si256(x, _mm256_set1_epi16((short)0xFF00)), p);
    return _mm256_or_si256(even, odd);
}

/// Top base-3 digit of each byte: (q * 3) >> 8 = (q >= 86) + (q >= 171).
A2 static inline __m256i trits_256(__m256i q) {
    const __m256i ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8(86)), q);
    const __m256i ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8((char)171)), q);
    return _mm256_sub_epi8(_mm256_setzero_si256(), _mm256_add_epi8(ge86, ge171));
}

A2 static inline __m256i pow3_lanes(int lo, int hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)lo)), _mm_set1_epi16((short)hi), 1);
}

/// The TQ formats' float epilogue in ggml's order (its AVX2 vec_dot, which its AVX-512 builds run
/// too): lane k of the block's integer sums (bytes 4k..4k+3 of every vector, as here) minus
/// bsums[2k] + bsums[2k+1], then acc = fma(lane, d_a * d_w, acc) lane by lane. With the lanes as
/// they are, this makes the AVX2 kernels bit-identical with llama.cpp's, for no extra work.
A2 static inline __m256 tq_lanes_avx2(__m256 acc, __m256i isum, const int16_t *bsums, float d) {
    const __m256i pairs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum, pairs)), _mm256_set1_ps(d), acc);
}

A2 static float dot_tq1_0_avx2(size_t nb, const blk_tq1_0 *x, const blk_q8_K *y) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i p_qh = _mm256_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27, 1, 1, 3, 3, 9, 9, 27, 27);
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const int8_t *a = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        __m256i q = load256(x[i].qs);
        for (int k = 0; k < 5; k++) {
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(trits_256(q), load256(a + 32 * k)), ones));
            q = _mm256_add_epi8(q, _mm256_add_epi8(q, q));
        }
        // Bytes 32..47 give values 160..239 (16 per power of 3); qh gives 240..255 (4 per power).
        const __m256i r = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x[i].qs + 32)));
        uint32_t h4;
        memcpy(&h4, x[i].qh, 4);
        const __m256i rh = _mm256_inserti128_si256(r, _mm_set1_epi32((int)h4), 1);
        const __m256i v[3] = {
            mul_bytes_256(r, pow3_lanes(1, 3)),
            mul_bytes_256(r, pow3_lanes(9, 27)),
            _mm256_blend_epi32(mul_bytes_256(rh, pow3_lanes(81, 81)), mul_bytes_256(rh, p_qh), 0xF0),
        };
        for (int k = 0; k < 3; k++) {
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(trits_256(v[k]), load256(a + 160 + 32 * k)), ones));
        }
        acc = tq_lanes_avx2(acc, isum, y[i].bsums, y[i].d * loco_half_f16c(x[i].d));
    }
    return hsum_ps_256(acc);
}

A2 static float dot_tq2_0_avx2(size_t nb, const blk_tq2_0 *x, const blk_q8_K *y) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = load256(x[i].qs + 32 * h);
            for (int l = 0; l < 4; l++) {
                const __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), m3);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(u, load256(y[i].qs + 128 * h + 32 * l)), ones));
            }
        }
        acc = tq_lanes_avx2(acc, isum, y[i].bsums, y[i].d * loco_half_f16c(x[i].d));
    }
    return hsum_ps_256(acc);
}

#undef A2

// MARK: - AVX-512, with VNNI and without

#define LOCO_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"
#define LOCO_AVX512_NAME(name) name##_avx512vnni
#define LOCO_DPBUSD(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#include "dot_avx512_k.h"
#undef LOCO_AVX512_TARGET
#undef LOCO_AVX512_NAME
#undef LOCO_DPBUSD

#define LOCO_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
#define LOCO_AVX512_NAME(name) name##_avx512bw
#define LOCO_DPBUSD(acc, u, s) _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)))
#include "dot_avx512_k.h"
#undef LOCO_AVX512_TARGET
#undef LOCO_AVX512_NAME
#undef LOCO_DPBUSD

#endif

#if defined(__aarch64__)

// MARK: - NEON, with the dot product instructions and without

#define LOCO_NEON_ATTR __attribute__((target("dotprod")))
#define LOCO_NEON_NAME(name) name##_neondot
#define LOCO_SDOT(acc, w, a) vdotq_s32(acc, w, a)
#include "dot_neon_k.h"
#undef LOCO_NEON_ATTR
#undef LOCO_NEON_NAME
#undef LOCO_SDOT

#define LOCO_NEON_ATTR
#define LOCO_NEON_NAME(name) name##_neon
#define LOCO_SDOT(acc, w, a) loco_sdot_emulated(acc, w, a)
#include "dot_neon_k.h"
#undef LOCO_NEON_ATTR
#undef LOCO_NEON_NAME
#undef LOCO_SDOT

#endif

// MARK: - Dispatch

float loco_vec_dot_q2_K_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q2_K, n / LOCO_QK_K, w, a); }
float loco_vec_dot_q3_K_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q3_K, n / LOCO_QK_K, w, a); }
float loco_vec_dot_q4_K_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q4_K, n / LOCO_QK_K, w, a); }
float loco_vec_dot_q5_K_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q5_K, n / LOCO_QK_K, w, a); }
float loco_vec_dot_q6_K_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_q6_K, n / LOCO_QK_K, w, a); }
float loco_vec_dot_tq1_0_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_tq1_0, n / LOCO_QK_K, w, a); }
float loco_vec_dot_tq2_0_q8_K(size_t n, const void *w, const void *a) { LOCO_DISPATCH(dot_tq2_0, n / LOCO_QK_K, w, a); }

/// Several inputs per weight row: the AVX2 set unpacks each super-block once for up to four
/// inputs; every other set runs its one-row kernel per entry. Either way each entry has the bits
/// its one-row product gives.
static void multi_k(int type, float (*one)(size_t, const void *, const void *), size_t n, const void *w, size_t row_bytes,
                    size_t rows, const void *a, size_t a_bytes, size_t count, float *out, size_t ldo) {
#if defined(__x86_64__)
    const uint32_t f = loco_cpu_features(), avx2 = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;
    if ((f & avx2) == avx2 && !(f & LOCO_CPU_AVX512F && f & LOCO_CPU_AVX512BW)) {
        multi_k_avx2(type, n / LOCO_QK_K, (const uint8_t *)w, row_bytes, rows, (const uint8_t *)a, a_bytes, count, out, ldo);
        return;
    }
#endif
    for (size_t t = 0; t < count; t++)
        for (size_t r = 0; r < rows; r++) out[t * ldo + r] = one(n, (const uint8_t *)w + r * row_bytes, (const uint8_t *)a + t * a_bytes);
}

void loco_vec_dot_multi_q4_K_q8_K(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    multi_k(0, loco_vec_dot_q4_K_q8_K, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
void loco_vec_dot_multi_q5_K_q8_K(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    multi_k(1, loco_vec_dot_q5_K_q8_K, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
void loco_vec_dot_multi_q6_K_q8_K(size_t n, const void *w, size_t row_bytes, size_t rows, const void *a, size_t a_bytes, size_t count,
                                  float *out, size_t ldo) {
    multi_k(2, loco_vec_dot_q6_K_q8_K, n, w, row_bytes, rows, a, a_bytes, count, out, ldo);
}
