// Dequantize a row to floats, bit-identical with ggml's dequantize_row_* (ggml-quants.c, built
// without fused multiply-add): every variant performs the same float operations in the same order
// (integer -> float conversions are exact; a block's or sub-block's scale products are computed
// once, as ggml does, e.g. Q4_K's d*sc and dmin*m, then y = (d*sc) * q - dmin*m).
#include "CKernels.h"
#include "row_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

#define F16(h) loco_f16_to_f32_scalar(h)

// MARK: - Scalar

static void dequantize_q4_0_scalar(const blk_q4_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = F16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequantize_q4_1_scalar(const blk_q4_1 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = F16(x[i].d), m = F16(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline int q5_value(const uint8_t qs[16], const uint8_t qh4[4], int j) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const int nibble = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return nibble | (int)(((qh >> j) & 1) << 4);
}

static void dequantize_q5_0_scalar(const blk_q5_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = F16(x[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)(q5_value(x[i].qs, x[i].qh, j) - 16) * d;
    }
}

static void dequantize_q5_1_scalar(const blk_q5_1 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = F16(x[i].d), m = F16(x[i].m);
        for (int j = 0; j < 32; j++) y[j] = (float)q5_value(x[i].qs, x[i].qh, j) * d + m;
    }
}

static void dequantize_q8_0_scalar(const blk_q8_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = F16(x[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

static void dequantize_q2_K_scalar(const blk_q2_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        const float d = F16(x[i].d), min = F16(x[i].dmin);
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[8 * h + 2 * j + half];
                    const float dl = d * (float)(sc & 0xF), ml = min * (float)(sc >> 4);
                    for (int l = 16 * half; l < 16 * half + 16; l++) *y++ = dl * (float)((q[l] >> (2 * j)) & 3) - ml;
                }
            }
        }
    }
}

static void dequantize_q3_K_scalar(const blk_q3_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        const float d = F16(x[i].d);
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const uint8_t bit = (uint8_t)(1u << (4 * h + j));
                for (int half = 0; half < 2; half++) {
                    const int k = 8 * h + 2 * j + half;
                    const float dl = d * (float)(loco_byte(k < 8 ? lo : hi, k & 7) - 32);
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        *y++ = dl * (float)(((q[l] >> (2 * j)) & 3) - ((x[i].hmask[l] & bit) ? 0 : 4));
                    }
                }
            }
        }
    }
}

static inline void dequantize_k4_scalar(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qs,
                                        const uint8_t *qh, float *y) {
    const float d = F16(dh), min = F16(dminh);
    uint64_t sc, m;
    loco_unpack_scales_k4(scales, &sc, &m);
    for (int j = 0; j < 8; j++) {
        const float dl = d * (float)loco_byte(sc, j), ml = min * (float)loco_byte(m, j);
        const uint8_t *q = qs + 32 * (j / 2);
        for (int l = 0; l < 32; l++) {
            int v = (j & 1) ? (q[l] >> 4) : (q[l] & 0xF);
            if (qh && (qh[l] >> j) & 1) v += 16;
            *y++ = dl * (float)v - ml;
        }
    }
}

static void dequantize_q4_K_scalar(const blk_q4_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) dequantize_k4_scalar(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, y + 256 * i);
}

static void dequantize_q5_K_scalar(const blk_q5_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) dequantize_k4_scalar(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, y + 256 * i);
}

static void dequantize_q6_K_scalar(const blk_q6_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        const float d = F16(x[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                y[l + 0] = d * (float)sc[is + 0] * (float)(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                y[l + 32] = d * (float)sc[is + 2] * (float)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                y[l + 64] = d * (float)sc[is + 4] * (float)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                y[l + 96] = d * (float)sc[is + 6] * (float)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

static void dequantize_q8_K_scalar(const blk_q8_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 256) {
        for (int j = 0; j < 256; j++) y[j] = x[i].d * (float)x[i].qs[j];
    }
}

static inline int tq1_trit(uint8_t byte, int k) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8_t q = (uint8_t)(byte * pow3[k]);
    return ((uint16_t)q * 3) >> 8;
}

static void dequantize_tq1_0_scalar(const blk_tq1_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 256) {
        const float d = F16(x[i].d);
        for (int k = 0; k < 5; k++) {
            for (int m = 0; m < 32; m++) y[32 * k + m] = (float)(tq1_trit(x[i].qs[m], k) - 1) * d;
            for (int m = 0; m < 16; m++) y[160 + 16 * k + m] = (float)(tq1_trit(x[i].qs[32 + m], k) - 1) * d;
        }
        for (int k = 0; k < 4; k++) {
            for (int j = 0; j < 4; j++) y[240 + 4 * k + j] = (float)(tq1_trit(x[i].qh[j], k) - 1) * d;
        }
    }
}

static void dequantize_tq2_0_scalar(const blk_tq2_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 256) {
        const float d = F16(x[i].d);
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 4; l++) {
                for (int m = 0; m < 32; m++) y[128 * h + 32 * l + m] = (float)(((x[i].qs[32 * h + m] >> (2 * l)) & 3) - 1) * d;
            }
        }
    }
}

#if defined(__x86_64__)

// MARK: - SIMD (AVX2 and AVX-512 stores over the same 16-value decoding)

#define LOCO_DQ_TARGET "avx2,fma,f16c"
#define LOCO_DQ_NAME(name) name##_avx2
#define LOCO_DQ_WIDE 0
#include "dequantize_simd.h"
#undef LOCO_DQ_TARGET
#undef LOCO_DQ_NAME
#undef LOCO_DQ_WIDE

#define LOCO_DQ_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"
#define LOCO_DQ_NAME(name) name##_avx512
#define LOCO_DQ_WIDE 1
#include "dequantize_simd.h"
#undef LOCO_DQ_TARGET
#undef LOCO_DQ_NAME
#undef LOCO_DQ_WIDE

#define LOCO_DISPATCH_DQ(kernel, x, y, nb)                                                          \
    do {                                                                                            \
        const uint32_t f_ = loco_cpu_features();                                                    \
        const uint32_t avx2_ = LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_F16C;                        \
        const uint32_t avx512_ = avx2_ | LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW;                      \
        if ((f_ & avx512_) == avx512_) { kernel##_avx512(x, y, nb); return; }                       \
        if ((f_ & avx2_) == avx2_) { kernel##_avx2(x, y, nb); return; }                             \
        kernel##_scalar(x, y, nb);                                                                  \
    } while (0)
#elif defined(__aarch64__)

// MARK: - NEON

#include "dequantize_neon.h"

#define LOCO_DISPATCH_DQ(kernel, x, y, nb)                                                          \
    do {                                                                                            \
        if (loco_cpu_features() & LOCO_CPU_NEON) { kernel##_neon(x, y, nb); return; }               \
        kernel##_scalar(x, y, nb);                                                                  \
    } while (0)
#else
#define LOCO_DISPATCH_DQ(kernel, x, y, nb) kernel##_scalar(x, y, nb)
#endif

// MARK: - Dispatch

void loco_dequantize_row_q4_0(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q4_0, x, y, n / 32); }
void loco_dequantize_row_q4_1(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q4_1, x, y, n / 32); }
void loco_dequantize_row_q5_0(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q5_0, x, y, n / 32); }
void loco_dequantize_row_q5_1(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q5_1, x, y, n / 32); }
void loco_dequantize_row_q8_0(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q8_0, x, y, n / 32); }
void loco_dequantize_row_q2_K(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q2_K, x, y, n / 256); }
void loco_dequantize_row_q3_K(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q3_K, x, y, n / 256); }
void loco_dequantize_row_q4_K(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q4_K, x, y, n / 256); }
void loco_dequantize_row_q5_K(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q5_K, x, y, n / 256); }
void loco_dequantize_row_q6_K(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q6_K, x, y, n / 256); }
void loco_dequantize_row_q8_K(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_q8_K, x, y, n / 256); }
void loco_dequantize_row_tq1_0(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_tq1_0, x, y, n / 256); }
void loco_dequantize_row_tq2_0(const void *x, float *y, size_t n) { LOCO_DISPATCH_DQ(dequantize_tq2_0, x, y, n / 256); }
