// Quantized matrix products of many input rows (prefill): every weight format is unpacked, a few
// rows at a time, into one common "panel" form, and one integer kernel multiplies panels.
//
// The common form writes each weight value as `scale * q + min` with q an unsigned byte and scale
// and min shared by a group of 16 values (every ggml format fits: a 32-value block is two groups
// with the same scale; Q4_0's `d * (q - 8)` is scale d, min -8d; Q8_0's signed q is q + 128 with
// min -128d; Q6_K's `d * sc * (q - 32)` is scale d*sc, min -32*d*sc; ...). Activations keep the
// bytes ggml's activation quantizers made (Q8_0, Q8_1 or Q8_K): signed q, a float scale, and per
// group the sum the minimum multiplies. Then
//
//   dot(w, a) = sum over lanes of 4 values: isum * wscale * ascale  +  sum over groups: wmin * asum
//
// where each isum (four u8 * s8 products) is exact in int32. Only the float rounding differs
// from the row-by-row dot products (same integers, same scales, other order and grouping), which
// is why this path serves Numerics.fast only.
//
#include "CKernels.h"
#include "row_kernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// A panel row of n values (n padded to Kp, a multiple of 64, with zeros) is a run of chunks of
// 64m values, m = 4 while 256 values remain, then 2 while 128 remain, then 1. A chunk is m steps
// of 64 bytes and then 16 lane scales (floats): int32 lane l of the chunk covers its values
// 4m*l ..< 4m*(l+1), step s holding values 4m*l + 4s ..< 4m*l + 4s + 4 in bytes 4l ..< 4l + 4.
// A lane's 4m values lie in one group of 16, so one scale serves them all, and the kernel sums
// the m steps in integers before it converts and scales once a chunk. The group terms follow the
// chunks (Kp/16 floats, padded to a multiple of 16). Everything is 64-byte aligned when the panel is.
#define F16(h) loco_f16_to_f32_scalar(h)

static size_t padded_values(size_t n) { return (n + 63) / 64 * 64; }
static size_t padded_groups(size_t n) { return (padded_values(n) / 16 + 15) / 16 * 16; }
/// Steps of the chunk starting at value `v` of a row padded to `kp` values.
static size_t chunk_steps(size_t v, size_t kp) { return kp - v >= 256 ? 4 : kp - v >= 128 ? 2 : 1; }

size_t loco_panel_row_bytes(size_t n) {
    const size_t kp = padded_values(n);
    size_t chunks = 0;
    for (size_t v = 0; v < kp; v += 64 * chunk_steps(v, kp)) chunks++;
    return kp + 64 * chunks + padded_groups(n) * 4;
}

/// Writes one panel row from n values q, n/16 group scales and n/16 group terms.
static void lay_out(size_t n, const uint8_t *q, const float *group_scale, const float *group_term, uint8_t *row) {
    const size_t kp = padded_values(n);
    uint8_t *out = row;
    for (size_t v0 = 0; v0 < kp;) {
        const size_t m = chunk_steps(v0, kp);
        float *scales = (float *)(out + 64 * m);
        for (size_t l = 0; l < 16; l++) {
            const size_t lane = v0 + 4 * m * l;
            for (size_t s = 0; s < m; s++) {
                const size_t v = lane + 4 * s;
                uint32_t word = 0;
                if (v < n) memcpy(&word, q + v, 4);
                memcpy(out + 64 * s + 4 * l, &word, 4);
            }
            scales[l] = lane < n ? group_scale[lane / 16] : 0.0f;
        }
        out += 64 * m + 64;
        v0 += 64 * m;
    }
    float *terms = (float *)out;
    const size_t groups = padded_groups(n);
    for (size_t g = 0; g < groups; g++) terms[g] = g < n / 16 ? group_term[g] : 0.0f;
}

// MARK: - Weights: q, group scale and group minimum of every format

/// Decodes one weight row of `type` into unsigned values q, group scales and group minimums.
/// Returns 0 for a type without a panel form.
static int unpack_weights(int type, const void *row, size_t n, uint8_t *q, float *sc, float *mn) {
    switch (type) {
    case 2: { // Q4_0
        const blk_q4_0 *x = row;
        for (size_t i = 0; i < n / 32; i++, q += 32) {
            const float d = F16(x[i].d);
            for (int j = 0; j < 16; j++) { q[j] = x[i].qs[j] & 0xF; q[j + 16] = x[i].qs[j] >> 4; }
            sc[2 * i] = sc[2 * i + 1] = d;
            mn[2 * i] = mn[2 * i + 1] = -8.0f * d;
        }
        return 1;
    }
    case 3: { // Q4_1
        const blk_q4_1 *x = row;
        for (size_t i = 0; i < n / 32; i++, q += 32) {
            for (int j = 0; j < 16; j++) { q[j] = x[i].qs[j] & 0xF; q[j + 16] = x[i].qs[j] >> 4; }
            sc[2 * i] = sc[2 * i + 1] = F16(x[i].d);
            mn[2 * i] = mn[2 * i + 1] = F16(x[i].m);
        }
        return 1;
    }
    case 6: case 7: { // Q5_0, Q5_1
        const size_t stride = type == 6 ? sizeof(blk_q5_0) : sizeof(blk_q5_1);
        for (size_t i = 0; i < n / 32; i++, q += 32) {
            const uint8_t *b = (const uint8_t *)row + i * stride;
            uint32_t qh;
            float d, m;
            const uint8_t *qs;
            if (type == 6) {
                const blk_q5_0 *x = (const blk_q5_0 *)b;
                memcpy(&qh, x->qh, 4);
                qs = x->qs;
                d = F16(x->d);
                m = -16.0f * d;
            } else {
                const blk_q5_1 *x = (const blk_q5_1 *)b;
                memcpy(&qh, x->qh, 4);
                qs = x->qs;
                d = F16(x->d);
                m = F16(x->m);
            }
            for (int j = 0; j < 16; j++) {
                q[j] = (uint8_t)((qs[j] & 0xF) | ((qh >> j) & 1) << 4);
                q[j + 16] = (uint8_t)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4);
            }
            sc[2 * i] = sc[2 * i + 1] = d;
            mn[2 * i] = mn[2 * i + 1] = m;
        }
        return 1;
    }
    case 8: { // Q8_0
        const blk_q8_0 *x = row;
        for (size_t i = 0; i < n / 32; i++, q += 32) {
            const float d = F16(x[i].d);
            for (int j = 0; j < 32; j++) q[j] = (uint8_t)(x[i].qs[j] + 128);
            sc[2 * i] = sc[2 * i + 1] = d;
            mn[2 * i] = mn[2 * i + 1] = -128.0f * d;
        }
        return 1;
    }
    case 10: { // Q2_K
        const blk_q2_K *x = row;
        for (size_t i = 0; i < n / 256; i++) {
            const float d = F16(x[i].d), dmin = F16(x[i].dmin);
            for (int h = 0; h < 2; h++) {
                const uint8_t *qs = x[i].qs + 32 * h;
                for (int j = 0; j < 4; j++) {
                    for (int l = 0; l < 32; l++) *q++ = (qs[l] >> (2 * j)) & 3;
                    for (int half = 0; half < 2; half++) {
                        const uint8_t s = x[i].scales[8 * h + 2 * j + half];
                        *sc++ = d * (float)(s & 0xF);
                        *mn++ = -dmin * (float)(s >> 4);
                    }
                }
            }
        }
        return 1;
    }
    case 11: { // Q3_K
        const blk_q3_K *x = row;
        for (size_t i = 0; i < n / 256; i++) {
            const float d = F16(x[i].d);
            uint64_t lo, hi;
            loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
            for (int h = 0; h < 2; h++) {
                const uint8_t *qs = x[i].qs + 32 * h;
                for (int j = 0; j < 4; j++) {
                    const uint8_t bit = (uint8_t)(1u << (4 * h + j));
                    for (int l = 0; l < 32; l++) *q++ = (uint8_t)(((qs[l] >> (2 * j)) & 3) + ((x[i].hmask[l] & bit) ? 4 : 0));
                    for (int half = 0; half < 2; half++) {
                        const int k = 8 * h + 2 * j + half;
                        const float dl = d * (float)(loco_byte(k < 8 ? lo : hi, k & 7) - 32);
                        *sc++ = dl;
                        *mn++ = -4.0f * dl;
                    }
                }
            }
        }
        return 1;
    }
    case 12: case 13: { // Q4_K, Q5_K
        for (size_t i = 0; i < n / 256; i++) {
            const uint8_t *scales, *qs, *qh = NULL;
            uint16_t dh, dminh;
            if (type == 12) {
                const blk_q4_K *x = (const blk_q4_K *)row + i;
                scales = x->scales; qs = x->qs; dh = x->d; dminh = x->dmin;
            } else {
                const blk_q5_K *x = (const blk_q5_K *)row + i;
                scales = x->scales; qs = x->qs; qh = x->qh; dh = x->d; dminh = x->dmin;
            }
            const float d = F16(dh), dmin = F16(dminh);
            uint64_t s6, m6;
            loco_unpack_scales_k4(scales, &s6, &m6);
            // Sub-blocks j and j + 1 share 32 bytes (low and high nibbles); branch-free so it vectorizes.
            for (int j = 0; j < 8; j += 2, q += 64) {
                const uint8_t *b = qs + 16 * j;
                if (qh) {
                    for (int l = 0; l < 32; l++) {
                        q[l] = (uint8_t)((b[l] & 0xF) | ((qh[l] >> j) & 1) << 4);
                        q[l + 32] = (uint8_t)((b[l] >> 4) | ((qh[l] >> (j + 1)) & 1) << 4);
                    }
                } else {
                    for (int l = 0; l < 32; l++) {
                        q[l] = b[l] & 0xF;
                        q[l + 32] = b[l] >> 4;
                    }
                }
                for (int k = j; k < j + 2; k++) {
                    const float dl = d * (float)loco_byte(s6, k), ml = -dmin * (float)loco_byte(m6, k);
                    *sc++ = dl; *sc++ = dl;
                    *mn++ = ml; *mn++ = ml;
                }
            }
        }
        return 1;
    }
    case 14: { // Q6_K
        const blk_q6_K *x = row;
        for (size_t i = 0; i < n / 256; i++, q += 256) {
            const float d = F16(x[i].d);
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
                uint8_t *y = q + 128 * h;
                for (int l = 0; l < 32; l++) {
                    y[l + 0] = (uint8_t)((ql[l] & 0xF) | ((qh[l] & 3) << 4));
                    y[l + 32] = (uint8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                    y[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                    y[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
                }
                // Groups of 16 in value order: y[0..15] is scales[8h + 0], y[16..31] scales[8h + 1], ...
                for (int g = 0; g < 8; g++) {
                    const float dl = d * (float)x[i].scales[8 * h + g];
                    *sc++ = dl;
                    *mn++ = -32.0f * dl;
                }
            }
        }
        return 1;
    }
    case 34: case 35: { // TQ1_0, TQ2_0: trits 0, 1, 2 stand for -1, 0, 1
        float *y = malloc(256 * sizeof(float));
        if (!y) return 0;
        const size_t stride = type == 34 ? sizeof(blk_tq1_0) : sizeof(blk_tq2_0);
        for (size_t i = 0; i < n / 256; i++, q += 256) {
            const uint8_t *b = (const uint8_t *)row + i * stride;
            const uint16_t dh = type == 34 ? ((const blk_tq1_0 *)b)->d : ((const blk_tq2_0 *)b)->d;
            // Decoding through the exact dequantizer with d = 1 gives the trits as -1, 0, 1.
            uint8_t copy[sizeof(blk_tq1_0) > sizeof(blk_tq2_0) ? sizeof(blk_tq1_0) : sizeof(blk_tq2_0)];
            memcpy(copy, b, stride);
            const uint16_t one = 0x3C00;
            memcpy(copy + stride - 2, &one, 2);
            if (type == 34) loco_dequantize_row_tq1_0(copy, y, 256);
            else loco_dequantize_row_tq2_0(copy, y, 256);
            for (int l = 0; l < 256; l++) q[l] = (uint8_t)((int)y[l] + 1);
            const float d = F16(dh);
            for (int g = 0; g < 16; g++) { *sc++ = d; *mn++ = -d; }
        }
        free(y);
        return 1;
    }
    default:
        return 0;
    }
}

int loco_panel_supports(int type) {
    switch (type) {
    case 2: case 3: case 6: case 7: case 8: case 10: case 11: case 12: case 13: case 14: case 34: case 35: return 1;
    default: return 0;
    }
}

// MARK: - Activations

void loco_panel_activations(int format, const void *a, size_t row_bytes, size_t rows, size_t n, void *panel) {
    const size_t out_bytes = loco_panel_row_bytes(n);
    int8_t *q = malloc(n);
    float *sc = malloc(n / 16 * sizeof(float)), *sum = malloc(n / 16 * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *row = (const uint8_t *)a + r * row_bytes;
        if (format == 0 || format == 1) { // Q8_0, Q8_1
            const size_t stride = format == 0 ? sizeof(blk_q8_0) : sizeof(blk_q8_1);
            for (size_t i = 0; i < n / 32; i++) {
                const uint8_t *b = row + i * stride;
                uint16_t dh, sh = 0;
                memcpy(&dh, b, 2);
                if (format == 1) memcpy(&sh, b + 2, 2);
                const int8_t *qs = (const int8_t *)(b + stride - 32);
                memcpy(q + 32 * i, qs, 32);
                const float d = F16(dh);
                sc[2 * i] = sc[2 * i + 1] = d;
                if (format == 0) {
                    for (int g = 0; g < 2; g++) {
                        int s = 0;
                        for (int l = 0; l < 16; l++) s += qs[16 * g + l];
                        sum[2 * i + g] = d * (float)s;
                    }
                } else {
                    // The `_1` minimum multiplies the block sum ggml stored, rounded to a half.
                    sum[2 * i] = F16(sh);
                    sum[2 * i + 1] = 0.0f;
                }
            }
        } else { // Q8_K
            const blk_q8_K *x = (const blk_q8_K *)row;
            for (size_t i = 0; i < n / 256; i++) {
                memcpy(q + 256 * i, x[i].qs, 256);
                for (int g = 0; g < 16; g++) {
                    sc[16 * i + g] = x[i].d;
                    sum[16 * i + g] = x[i].d * (float)x[i].bsums[g];
                }
            }
        }
        lay_out(n, (const uint8_t *)q, sc, sum, (uint8_t *)panel + r * out_bytes);
    }
    free(q);
    free(sc);
    free(sum);
}

/// The Q8_1 activation panel pairs with weights whose minimum covers a whole 32-value block: the
/// block sum sits in the first group's term and the second's is zero, so the weight's minimum
/// (the same in both groups) counts once. Every `_1` weight format repeats its minimum in both.

// MARK: - Tiles

#define TILE 4
/// Weight rows unpacked at a time, and the activation bytes one column block of a product may
/// take (they stay in L2 while every tile of the row block passes over them).
#define BLOCK_ROWS 32
#define BLOCK_ACTIVATION_BYTES (192 * 1024)

static void tile_scalar(size_t kp, size_t groups, const uint8_t *const w[TILE], const uint8_t *const a[TILE],
                        float out[TILE][TILE]) {
    for (int r = 0; r < TILE; r++) {
        for (int c = 0; c < TILE; c++) {
            float acc = 0;
            size_t offset = 0;
            for (size_t v0 = 0; v0 < kp;) {
                const size_t m = chunk_steps(v0, kp);
                const uint8_t *wq = w[r] + offset;
                const int8_t *aq = (const int8_t *)(a[c] + offset);
                const float *ws = (const float *)(wq + 64 * m), *as = (const float *)(a[c] + offset + 64 * m);
                for (int l = 0; l < 16; l++) {
                    int32_t isum = 0;
                    for (size_t s = 0; s < m; s++)
                        for (int k = 0; k < 4; k++) isum += (int32_t)wq[64 * s + 4 * l + k] * (int32_t)aq[64 * s + 4 * l + k];
                    acc += (float)isum * (ws[l] * as[l]);
                }
                offset += 64 * m + 64;
                v0 += 64 * m;
            }
            const float *wm = (const float *)(w[r] + offset), *am = (const float *)(a[c] + offset);
            for (size_t g = 0; g < groups; g++) acc += wm[g] * am[g];
            out[r][c] = acc;
        }
    }
}

#if defined(__x86_64__)
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/// One chunk of m steps for the whole tile: integer sums over the chunk, then one conversion
/// and one scaled add per lane.
#define LOCO_TILE_CHUNK(M)                                                                                    \
    do {                                                                                                      \
        __m512 ws[TILE];                                                                                      \
        for (int r = 0; r < TILE; r++) ws[r] = _mm512_load_ps((const float *)(w[r] + offset + 64 * (M)));     \
        for (int c = 0; c < TILE; c++) {                                                                      \
            const __m512 as = _mm512_load_ps((const float *)(a[c] + offset + 64 * (M)));                      \
            __m512i isum[TILE];                                                                               \
            for (int r = 0; r < TILE; r++) isum[r] = _mm512_setzero_si512();                                  \
            for (int s = 0; s < (M); s++) {                                                                   \
                const __m512i aq = _mm512_load_si512((const void *)(a[c] + offset + 64 * s));                 \
                for (int r = 0; r < TILE; r++)                                                                \
                    isum[r] = _mm512_dpbusd_epi32(isum[r], _mm512_load_si512((const void *)(w[r] + offset + 64 * s)), aq); \
            }                                                                                                 \
            for (int r = 0; r < TILE; r++)                                                                    \
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(ws[r], as), acc[r][c]); \
        }                                                                                                     \
        offset += 64 * (M) + 64;                                                                              \
    } while (0)

VNNI static void tile_vnni(size_t kp, size_t groups, const uint8_t *const w[TILE], const uint8_t *const a[TILE],
                           float out[TILE][TILE]) {
    __m512 acc[TILE][TILE];
    for (int r = 0; r < TILE; r++)
        for (int c = 0; c < TILE; c++) acc[r][c] = _mm512_setzero_ps();
    size_t offset = 0, v0 = 0;
    for (; kp - v0 >= 256; v0 += 256) LOCO_TILE_CHUNK(4);
    if (kp - v0 >= 128) { LOCO_TILE_CHUNK(2); v0 += 128; }
    if (kp - v0 >= 64) { LOCO_TILE_CHUNK(1); v0 += 64; }
    for (size_t g = 0; g < groups; g += 16) {
        for (int r = 0; r < TILE; r++) {
            const __m512 wm = _mm512_load_ps((const float *)(w[r] + offset) + g);
            for (int c = 0; c < TILE; c++) {
                acc[r][c] = _mm512_fmadd_ps(wm, _mm512_load_ps((const float *)(a[c] + offset) + g), acc[r][c]);
            }
        }
    }
    for (int r = 0; r < TILE; r++)
        for (int c = 0; c < TILE; c++) out[r][c] = _mm512_reduce_add_ps(acc[r][c]);
}

// AVX2: a 64-byte step is two 256-bit halves (lanes 0-7 and 8-15), summed into one float
// accumulator per tile entry. vpmaddubsw adds two u8 * s8 products into int16 and saturates, so
// the weights' largest value picks how many steps may be summed in int16 before widening:
// narrow weights (q <= 31, |a| <= 128: 2 * 31 * 128 * 4 < 2^15) sum a whole chunk, Q6_K's
// (q <= 63) two steps, and Q8_0's (q + 128 <= 255) against the activations split into nibbles.
#define AVX2 __attribute__((target("avx2,fma,f16c")))
enum { PANEL_NARROW = 0, PANEL_Q6 = 1, PANEL_Q8 = 2 };

__attribute__((always_inline, target("avx2,fma,f16c"))) static inline void
tile_column_avx2(size_t kp, size_t groups, const uint8_t *const w[TILE], const uint8_t *a, const uint8_t *ahi, float out[TILE],
                 int mode) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[TILE];
    for (int r = 0; r < TILE; r++) acc[r] = _mm256_setzero_ps();
    size_t offset = 0;
    for (size_t v0 = 0; v0 < kp;) {
        const size_t m = chunk_steps(v0, kp);
        for (int h = 0; h < 2; h++) {
            const size_t half = 32 * (size_t)h;
            __m256i isum[TILE];
            if (mode == PANEL_NARROW) {
                __m256i p[TILE];
                for (int r = 0; r < TILE; r++) p[r] = _mm256_setzero_si256();
                for (size_t s = 0; s < m; s++) {
                    const __m256i aq = _mm256_load_si256((const __m256i *)(a + offset + 64 * s + half));
                    for (int r = 0; r < TILE; r++)
                        p[r] = _mm256_add_epi16(p[r], _mm256_maddubs_epi16(
                            _mm256_load_si256((const __m256i *)(w[r] + offset + 64 * s + half)), aq));
                }
                for (int r = 0; r < TILE; r++) isum[r] = _mm256_madd_epi16(p[r], ones);
            } else if (mode == PANEL_Q6) {
                for (int r = 0; r < TILE; r++) isum[r] = _mm256_setzero_si256();
                for (size_t s = 0; s < m; s += 2) {
                    const __m256i a0 = _mm256_load_si256((const __m256i *)(a + offset + 64 * s + half));
                    const __m256i a1 = m > 1 ? _mm256_load_si256((const __m256i *)(a + offset + 64 * (s + 1) + half))
                                             : _mm256_setzero_si256();
                    for (int r = 0; r < TILE; r++) {
                        __m256i p = _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(w[r] + offset + 64 * s + half)), a0);
                        if (m > 1)
                            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(
                                _mm256_load_si256((const __m256i *)(w[r] + offset + 64 * (s + 1) + half)), a1));
                        isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(p, ones));
                    }
                }
            } else {
                // a = 16 hi + lo with lo = a & 15 and hi = ((a ^ 0x80) >> 4) - 8 in -8..7: pairs of
                // q * lo stay within 2 * 255 * 15 and of q * hi within 2 * 255 * 8, so a whole chunk
                // (4 steps) sums in int16 as for narrow weights. `a` already holds lo and `ahi` hi
                // (split_q8_activations, once per product rather than once per weight tile).
                __m256i plo[TILE], phi[TILE];
                for (int r = 0; r < TILE; r++) plo[r] = phi[r] = _mm256_setzero_si256();
                for (size_t s = 0; s < m; s++) {
                    const __m256i lo = _mm256_load_si256((const __m256i *)(a + offset + 64 * s + half));
                    const __m256i hi = _mm256_load_si256((const __m256i *)(ahi + offset + 64 * s + half));
                    for (int r = 0; r < TILE; r++) {
                        const __m256i q = _mm256_load_si256((const __m256i *)(w[r] + offset + 64 * s + half));
                        plo[r] = _mm256_add_epi16(plo[r], _mm256_maddubs_epi16(q, lo));
                        phi[r] = _mm256_add_epi16(phi[r], _mm256_maddubs_epi16(q, hi));
                    }
                }
                for (int r = 0; r < TILE; r++)
                    isum[r] = _mm256_add_epi32(_mm256_madd_epi16(plo[r], ones), _mm256_madd_epi16(phi[r], _mm256_set1_epi16(16)));
            }
            const __m256 as = _mm256_load_ps((const float *)(a + offset + 64 * m) + 8 * h);
            for (int r = 0; r < TILE; r++) {
                const __m256i i = isum[r];
                const __m256 ws = _mm256_load_ps((const float *)(w[r] + offset + 64 * m) + 8 * h);
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(ws, as), acc[r]);
            }
        }
        offset += 64 * m + 64;
        v0 += 64 * m;
    }
    const float *am = (const float *)(a + offset);
    for (size_t g = 0; g < groups; g += 8) {
        const __m256 av = _mm256_load_ps(am + g);
        for (int r = 0; r < TILE; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_load_ps((const float *)(w[r] + offset) + g), av, acc[r]);
    }
    for (int r = 0; r < TILE; r++) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        out[r] = _mm_cvtss_f32(s);
    }
}

#define LOCO_TILE_AVX2(NAME, MODE)                                                                            \
    AVX2 static void NAME(size_t kp, size_t groups, const uint8_t *const w[TILE], const uint8_t *const a[TILE], \
                          float out[TILE][TILE]) {                                                            \
        for (int c = 0; c < TILE; c++) {                                                                      \
            float column[TILE];                                                                               \
            tile_column_avx2(kp, groups, w, a[c], NULL, column, MODE);                                        \
            for (int r = 0; r < TILE; r++) out[r][c] = column[r];                                             \
        }                                                                                                     \
    }
LOCO_TILE_AVX2(tile_avx2_narrow, PANEL_NARROW)
LOCO_TILE_AVX2(tile_avx2_q6, PANEL_Q6)

/// Q8_0 weights: `a[c]` is column c's split panel row pair (lo row, then hi row, `row_bytes` apart).
AVX2 static void tile_avx2_q8(size_t kp, size_t groups, const uint8_t *const w[TILE], const uint8_t *const a[TILE],
                              size_t row_bytes, float out[TILE][TILE]) {
    for (int c = 0; c < TILE; c++) {
        float column[TILE];
        tile_column_avx2(kp, groups, w, a[c], a[c] + row_bytes, column, PANEL_Q8);
        for (int r = 0; r < TILE; r++) out[r][c] = column[r];
    }
}

/// The activation panel row `a` as two rows for the Q8_0 tile: `lo` (a copy of `a`, its signed
/// bytes replaced by their low nibbles) and `hi` (the bytes' ((a ^ 0x80) >> 4) - 8; the rest unused).
AVX2 static void split_q8_activations(size_t kp, size_t row_bytes, const uint8_t *a, uint8_t *lo, uint8_t *hi) {
    memcpy(lo, a, row_bytes);
    const __m256i nibble = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8), high = _mm256_set1_epi8((char)0x80);
    size_t offset = 0;
    for (size_t v0 = 0; v0 < kp;) {
        const size_t m = chunk_steps(v0, kp);
        for (size_t b = offset; b < offset + 64 * m; b += 32) {
            const __m256i aq = _mm256_load_si256((const __m256i *)(a + b));
            _mm256_store_si256((__m256i *)(lo + b), _mm256_and_si256(aq, nibble));
            _mm256_store_si256((__m256i *)(hi + b),
                               _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(_mm256_xor_si256(aq, high), 4), nibble), eight));
        }
        offset += 64 * m + 64;
        v0 += 64 * m;
    }
}
#endif

#if defined(__aarch64__)
typedef void (*loco_tile_fn)(size_t, size_t, const uint8_t *const[TILE], const uint8_t *const[TILE], float[TILE][TILE]);

#define LOCO_NEON_ATTR __attribute__((target("dotprod")))
#define LOCO_NEON_NAME(name) name##_neondot
#define LOCO_SDOT_LANES(acc, w, a) vdotq_s32(acc, w, a)
#include "gemm_panel_neon.h"
#undef LOCO_NEON_ATTR
#undef LOCO_NEON_NAME
#undef LOCO_SDOT_LANES

/// sdot without the instruction: lane l gets the products of bytes 4l..4l+3, as sdot's.
static inline int32x4_t loco_sdot_lanes_emulated(int32x4_t acc, int8x16_t w, int8x16_t a) {
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(a)), hi = vmull_high_s8(w, a);
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
}

#define LOCO_NEON_ATTR
#define LOCO_NEON_NAME(name) name##_neon
#define LOCO_SDOT_LANES(acc, w, a) loco_sdot_lanes_emulated(acc, w, a)
#include "gemm_panel_neon.h"
#undef LOCO_NEON_ATTR
#undef LOCO_NEON_NAME
#undef LOCO_SDOT_LANES

/// The NEON tile the feature mask allows, or NULL.
static loco_tile_fn neon_tile(void) {
    const uint32_t f = loco_cpu_features();
    if ((f & (LOCO_CPU_NEON | LOCO_CPU_DOTPROD)) == (LOCO_CPU_NEON | LOCO_CPU_DOTPROD)) return tile_neondot;
    if (f & LOCO_CPU_NEON) return tile_neon;
    return NULL;
}
#endif

static int use_vnni(void) {
    const uint32_t need = LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW | LOCO_CPU_AVX512VNNI;
    return (loco_cpu_features() & need) == need;
}

static int use_avx2(void) {
    const uint32_t need = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;
    return (loco_cpu_features() & need) == need;
}

int loco_panel_preferred(void) {
#if defined(__aarch64__)
    if (neon_tile()) return 1;
#endif
    return use_vnni() || use_avx2();
}

// MARK: - Products

int loco_panel_lay_out_weights(int type, const void *w, size_t w_row_bytes, size_t row_start, size_t row_count, size_t n,
                               void *laid) {
    if (!loco_panel_supports(type) || n % 32 != 0 || ((type >= 10) && n % 256 != 0)) return 0;
    const size_t row_bytes = loco_panel_row_bytes(n);
    uint8_t *q = malloc(n);
    float *sc = malloc(n / 16 * sizeof(float)), *mn = malloc(n / 16 * sizeof(float));
    if (!q || !sc || !mn) {
        free(q); free(sc); free(mn);
        return 0;
    }
    for (size_t r = row_start; r < row_start + row_count; r++) {
        unpack_weights(type, (const uint8_t *)w + r * w_row_bytes, n, q, sc, mn);
        lay_out(n, q, sc, mn, (uint8_t *)laid + r * row_bytes);
    }
    free(q); free(sc); free(mn);
    return 1;
}

static int panel_gemm(int type, const void *w, size_t w_row_bytes, const uint8_t *laid, size_t row_start, size_t row_count,
                      size_t n, const void *panel, size_t count, float *out, size_t ldo);

int loco_panel_gemm(int type, const void *w, size_t w_row_bytes, size_t row_start, size_t row_count, size_t n,
                    const void *panel, size_t count, float *out, size_t ldo) {
    return panel_gemm(type, w, w_row_bytes, NULL, row_start, row_count, n, panel, count, out, ldo);
}

int loco_panel_gemm_laid(int type, const void *laid, size_t row_start, size_t row_count, size_t n,
                         const void *panel, size_t count, float *out, size_t ldo) {
    return panel_gemm(type, NULL, 0, laid, row_start, row_count, n, panel, count, out, ldo);
}

/// Weight rows come unpacked from `w` a tile at a time, or laid out already in `laid`.
static int panel_gemm(int type, const void *w, size_t w_row_bytes, const uint8_t *laid, size_t row_start, size_t row_count,
                      size_t n, const void *panel, size_t count, float *out, size_t ldo) {
    if (!loco_panel_supports(type) || n % 32 != 0 || ((type >= 10) && n % 256 != 0)) return 0;
    const size_t row_bytes = loco_panel_row_bytes(n);
    const size_t kp = padded_values(n), groups = padded_groups(n);
    uint8_t *tile = laid ? aligned_alloc(64, row_bytes) : aligned_alloc(64, BLOCK_ROWS * row_bytes);
    uint8_t *q = malloc(n);
    float *sc = malloc(n / 16 * sizeof(float)), *mn = malloc(n / 16 * sizeof(float));
    uint8_t *zero = aligned_alloc(64, row_bytes);
    if (!tile || !q || !sc || !mn || !zero) {
        free(tile); free(q); free(sc); free(mn); free(zero);
        return 0;
    }
    memset(zero, 0, row_bytes);
    const int vnni = use_vnni();
#if defined(__x86_64__)
    void (*avx2)(size_t, size_t, const uint8_t *const[TILE], const uint8_t *const[TILE], float[TILE][TILE]) = NULL;
    // Q8_0 on AVX2: every activation row split once for the whole product (two panel rows each).
    uint8_t *split = NULL;
    if (!vnni && use_avx2()) {
        if (type == 8) {
            split = aligned_alloc(64, 2 * (count + 1) * row_bytes);
            if (!split) {
                free(tile); free(q); free(sc); free(mn); free(zero);
                return 0;
            }
            for (size_t c = 0; c < count; c++)
                split_q8_activations(kp, row_bytes, (const uint8_t *)panel + c * row_bytes, split + 2 * c * row_bytes,
                                     split + (2 * c + 1) * row_bytes);
            memset(split + 2 * count * row_bytes, 0, 2 * row_bytes);  // the zero column
        } else {
            avx2 = type == 14 ? tile_avx2_q6 : tile_avx2_narrow;
        }
    }
#endif
#if defined(__aarch64__)
    const loco_tile_fn neon = neon_tile();
#endif
    // Blocked: a block of BLOCK_ROWS weight rows is unpacked once, then the activations pass
    // over it a block of columns at a time, each column block small enough to stay in L2 while
    // every weight tile of the row block meets it (rather than streaming the whole activation
    // panel from L3 or memory once per 4 weight rows). Every tile entry is computed as before.
#if defined(__x86_64__)
    const size_t column_bytes = (split ? 2 : 1) * row_bytes;
#else
    const size_t column_bytes = row_bytes;
#endif
    size_t block_cols = (BLOCK_ACTIVATION_BYTES / column_bytes) / TILE * TILE;
    if (block_cols < TILE) block_cols = TILE;
    const size_t row_end = row_start + row_count;
    for (size_t b0 = row_start; b0 < row_end; b0 += BLOCK_ROWS) {
        const size_t block_rows = row_end - b0 < BLOCK_ROWS ? row_end - b0 : BLOCK_ROWS;
        const uint8_t *block[BLOCK_ROWS];
        for (size_t r = 0; r < block_rows; r++) {
            if (laid) {
                block[r] = laid + (b0 + r) * row_bytes;
            } else {
                unpack_weights(type, (const uint8_t *)w + (b0 + r) * w_row_bytes, n, q, sc, mn);
                lay_out(n, q, sc, mn, tile + r * row_bytes);
                block[r] = tile + r * row_bytes;
            }
        }
        for (size_t cb = 0; cb < count; cb += block_cols) {
            const size_t cb_end = count - cb < block_cols ? count : cb + block_cols;
            for (size_t t0 = 0; t0 < block_rows; t0 += TILE) {
                const size_t rows = block_rows - t0 < TILE ? block_rows - t0 : TILE;
                const size_t r0 = b0 + t0;
                const uint8_t *wrow[TILE];
                for (size_t r = 0; r < TILE; r++) wrow[r] = r < rows ? block[t0 + r] : zero;
                for (size_t c0 = cb; c0 < cb_end; c0 += TILE) {
                    const size_t cols = cb_end - c0 < TILE ? cb_end - c0 : TILE;
                    const uint8_t *arow[TILE];
                    for (size_t c = 0; c < TILE; c++) arow[c] = c < cols ? (const uint8_t *)panel + (c0 + c) * row_bytes : zero;
                    float result[TILE][TILE];
#if defined(__aarch64__)
                    if (neon) neon(kp, groups, wrow, arow, result);
                    else
#endif
#if defined(__x86_64__)
                    if (vnni) tile_vnni(kp, groups, wrow, arow, result);
                    else if (avx2) avx2(kp, groups, wrow, arow, result);
                    else if (split) {
                        const uint8_t *pairs[TILE];
                        for (size_t c = 0; c < TILE; c++) pairs[c] = split + 2 * (c < cols ? c0 + c : count) * row_bytes;
                        tile_avx2_q8(kp, groups, wrow, pairs, row_bytes, result);
                    } else
#endif
                        tile_scalar(kp, groups, wrow, arow, result);
                    for (size_t c = 0; c < cols; c++)
                        for (size_t r = 0; r < rows; r++) out[(c0 + c) * ldo + r0 + r] = result[r][c];
                }
            }
        }
    }
    (void)vnni;
#if defined(__x86_64__)
    free(split);
#endif
    free(tile); free(q); free(sc); free(mn); free(zero);
    return 1;
}
