// NEON dequantizers, included by dequantize.c on ARM64 (one variant: the dot product
// instructions do not help here). As in dequantize_simd.h, quant values are decoded 16 at a time
// into the bytes of a register, converted exactly to float, then scaled with the scalar code's
// float operations: a separate multiply and add or subtract (vmulq/vaddq, never the fused vfmaq
// or vmlaq), so every output has the scalar code's bits.

/// y[0..15] = (float)q * d, then + m (ADD), - m (SUB) or nothing (MUL).
enum { DQ_NEON_MUL, DQ_NEON_ADD, DQ_NEON_SUB };

static inline void dq_neon_put(float *y, int8x16_t q, float d, float m, int op) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    float32x4_t v[4] = {
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vcvtq_f32_s32(vmovl_high_s16(lo)),
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vcvtq_f32_s32(vmovl_high_s16(hi)),
    };
    const float32x4_t dv = vdupq_n_f32(d), mv = vdupq_n_f32(m);
    for (int k = 0; k < 4; k++) {
        v[k] = vmulq_f32(v[k], dv);
        if (op == DQ_NEON_ADD) v[k] = vaddq_f32(v[k], mv);
        if (op == DQ_NEON_SUB) v[k] = vsubq_f32(v[k], mv);
        vst1q_f32(y + 4 * k, v[k]);
    }
}

static inline uint8x16_t dq_neon_load(const void *p) { return vld1q_u8((const uint8_t *)p); }
static inline int8x16_t dq_neon_s8(uint8x16_t q) { return vreinterpretq_s8_u8(q); }
static inline uint8x16_t dq_neon_low_nibbles(uint8x16_t q) { return vandq_u8(q, vdupq_n_u8(0x0F)); }
static inline uint8x16_t dq_neon_high_nibbles(uint8x16_t q) { return vshrq_n_u8(q, 4); }
/// Each byte shifted right by `s` (0...6), keeping its two low bits.
static inline uint8x16_t dq_neon_two_bits(uint8x16_t q, int s) {
    return vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)-s)), vdupq_n_u8(3));
}

/// Bytes equal to `value` where `bits & mask` is set, else 0.
static inline uint8x16_t dq_neon_select(uint8x16_t bits, uint8_t mask, uint8_t value) {
    return vandq_u8(vtstq_u8(bits, vdupq_n_u8(mask)), vdupq_n_u8(value));
}

/// 16 bits -> 16 bytes, bit j -> byte j: 0x10 where set (the Q5 formats' fifth bit).
static inline uint8x16_t dq_neon_bit4_bytes(uint32_t bits16) {
    const uint8x16_t spread = vcombine_u8(vdup_n_u8((uint8_t)bits16), vdup_n_u8((uint8_t)(bits16 >> 8)));
    const uint8x16_t select = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ULL));
    return vandq_u8(vtstq_u8(spread, select), vdupq_n_u8(0x10));
}

static void dequantize_q4_0_neon(const blk_q4_0 *x, float *y, size_t nb) {
    const uint8x16_t eight = vdupq_n_u8(8);
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_neon(x[i].d);
        const uint8x16_t q = dq_neon_load(x[i].qs);
        dq_neon_put(y, dq_neon_s8(vsubq_u8(dq_neon_low_nibbles(q), eight)), d, 0, DQ_NEON_MUL);
        dq_neon_put(y + 16, dq_neon_s8(vsubq_u8(dq_neon_high_nibbles(q), eight)), d, 0, DQ_NEON_MUL);
    }
}

static void dequantize_q4_1_neon(const blk_q4_1 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_neon(x[i].d), m = loco_half_neon(x[i].m);
        const uint8x16_t q = dq_neon_load(x[i].qs);
        dq_neon_put(y, dq_neon_s8(dq_neon_low_nibbles(q)), d, m, DQ_NEON_ADD);
        dq_neon_put(y + 16, dq_neon_s8(dq_neon_high_nibbles(q)), d, m, DQ_NEON_ADD);
    }
}

static void dequantize_q5_0_neon(const blk_q5_0 *x, float *y, size_t nb) {
    const uint8x16_t sixteen = vdupq_n_u8(16);
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_neon(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const uint8x16_t q = dq_neon_load(x[i].qs);
        const uint8x16_t lo = vorrq_u8(dq_neon_low_nibbles(q), dq_neon_bit4_bytes(qh & 0xFFFF));
        const uint8x16_t hi = vorrq_u8(dq_neon_high_nibbles(q), dq_neon_bit4_bytes(qh >> 16));
        dq_neon_put(y, dq_neon_s8(vsubq_u8(lo, sixteen)), d, 0, DQ_NEON_MUL);
        dq_neon_put(y + 16, dq_neon_s8(vsubq_u8(hi, sixteen)), d, 0, DQ_NEON_MUL);
    }
}

static void dequantize_q5_1_neon(const blk_q5_1 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_neon(x[i].d), m = loco_half_neon(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const uint8x16_t q = dq_neon_load(x[i].qs);
        dq_neon_put(y, dq_neon_s8(vorrq_u8(dq_neon_low_nibbles(q), dq_neon_bit4_bytes(qh & 0xFFFF))), d, m, DQ_NEON_ADD);
        dq_neon_put(y + 16, dq_neon_s8(vorrq_u8(dq_neon_high_nibbles(q), dq_neon_bit4_bytes(qh >> 16))), d, m, DQ_NEON_ADD);
    }
}

static void dequantize_q8_0_neon(const blk_q8_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_neon(x[i].d);
        dq_neon_put(y, vld1q_s8(x[i].qs), d, 0, DQ_NEON_MUL);
        dq_neon_put(y + 16, vld1q_s8(x[i].qs + 16), d, 0, DQ_NEON_MUL);
    }
}

static void dequantize_q2_K_neon(const blk_q2_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_neon(x[i].d), min = loco_half_neon(x[i].dmin);
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const uint8_t sc = x[i].scales[8 * h + 2 * j + half];
                    const float dl = d * (float)(sc & 0xF), ml = min * (float)(sc >> 4);
                    dq_neon_put(y, dq_neon_s8(dq_neon_two_bits(dq_neon_load(x[i].qs + 32 * h + 16 * half), 2 * j)), dl, ml, DQ_NEON_SUB);
                }
            }
        }
    }
}

static void dequantize_q3_K_neon(const blk_q3_K *x, float *y, size_t nb) {
    const uint8x16_t four = vdupq_n_u8(4);
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_neon(x[i].d);
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const int k = 8 * h + 2 * j + half;
                    const float dl = d * (float)(loco_byte(k < 8 ? lo : hi, k & 7) - 32);
                    uint8x16_t u = dq_neon_two_bits(dq_neon_load(x[i].qs + 32 * h + 16 * half), 2 * j);
                    u = vorrq_u8(u, dq_neon_select(dq_neon_load(x[i].hmask + 16 * half), (uint8_t)(1u << (4 * h + j)), 4));
                    dq_neon_put(y, dq_neon_s8(vsubq_u8(u, four)), dl, 0, DQ_NEON_MUL);
                }
            }
        }
    }
}

static inline void dequantize_k4_neon(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qs,
                                      const uint8_t *qh, float *y) {
    const float d = loco_half_neon(dh), min = loco_half_neon(dminh);
    uint64_t sc, m;
    loco_unpack_scales_k4(scales, &sc, &m);
    for (int j = 0; j < 8; j++) {
        const float dl = d * (float)loco_byte(sc, j), ml = min * (float)loco_byte(m, j);
        for (int half = 0; half < 2; half++, y += 16) {
            const uint8x16_t q = dq_neon_load(qs + 32 * (j / 2) + 16 * half);
            uint8x16_t v = (j & 1) ? dq_neon_high_nibbles(q) : dq_neon_low_nibbles(q);
            if (qh) v = vorrq_u8(v, dq_neon_select(dq_neon_load(qh + 16 * half), (uint8_t)(1u << j), 16));
            dq_neon_put(y, dq_neon_s8(v), dl, ml, DQ_NEON_SUB);
        }
    }
}

static void dequantize_q4_K_neon(const blk_q4_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) dequantize_k4_neon(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, y + 256 * i);
}

static void dequantize_q5_K_neon(const blk_q5_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) dequantize_k4_neon(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, y + 256 * i);
}

static void dequantize_q6_K_neon(const blk_q6_K *x, float *y, size_t nb) {
    const uint8x16_t thirty_two = vdupq_n_u8(32);
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_neon(x[i].d);
        for (int h = 0; h < 2; h++) {
            // Values 32k + l of this half: ql[l] (k even) or ql[l + 32] (k odd), low nibble for
            // k < 2, high for k >= 2, and bits 2k, 2k+1 of qh[l] on top.
            for (int k = 0; k < 4; k++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const int l = 16 * half;
                    const uint8x16_t ql = dq_neon_load(x[i].ql + 64 * h + 32 * (k & 1) + l);
                    const uint8x16_t top = vshlq_n_u8(dq_neon_two_bits(dq_neon_load(x[i].qh + 32 * h + l), 2 * k), 4);
                    const uint8x16_t v = vorrq_u8(k < 2 ? dq_neon_low_nibbles(ql) : dq_neon_high_nibbles(ql), top);
                    // The scalar code's d * (float)sc * q: (d * sc) first.
                    dq_neon_put(y, dq_neon_s8(vsubq_u8(v, thirty_two)), d * (float)x[i].scales[8 * h + 2 * k + half], 0, DQ_NEON_MUL);
                }
            }
        }
    }
}

static void dequantize_q8_K_neon(const blk_q8_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        for (int j = 0; j < 256; j += 16, y += 16) dq_neon_put(y, vld1q_s8(x[i].qs + j), x[i].d, 0, DQ_NEON_MUL);
    }
}

/// Top base-3 digit of each byte minus one: ((q * 3) >> 8) - 1 = (q >= 86) + (q >= 171) - 1.
static inline int8x16_t dq_neon_trits_minus_one(uint8x16_t q) {
    const int8x16_t ge86 = vreinterpretq_s8_u8(vcgeq_u8(q, vdupq_n_u8(86)));
    const int8x16_t ge171 = vreinterpretq_s8_u8(vcgeq_u8(q, vdupq_n_u8(171)));
    return vsubq_s8(vdupq_n_s8(-1), vaddq_s8(ge86, ge171));
}

static void dequantize_tq1_0_neon(const blk_tq1_0 *x, float *y, size_t nb) {
    static const uint8_t pow3[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t three = vdupq_n_u8(3);
    for (size_t i = 0; i < nb; i++, y += 256) {
        const float d = loco_half_neon(x[i].d);
        uint8x16_t q0 = dq_neon_load(x[i].qs), q1 = dq_neon_load(x[i].qs + 16), r = dq_neon_load(x[i].qs + 32);
        for (int k = 0; k < 5; k++) {
            dq_neon_put(y + 32 * k, dq_neon_trits_minus_one(q0), d, 0, DQ_NEON_MUL);
            dq_neon_put(y + 32 * k + 16, dq_neon_trits_minus_one(q1), d, 0, DQ_NEON_MUL);
            dq_neon_put(y + 160 + 16 * k, dq_neon_trits_minus_one(r), d, 0, DQ_NEON_MUL);
            q0 = vmulq_u8(q0, three);
            q1 = vmulq_u8(q1, three);
            r = vmulq_u8(r, three);
        }
        // qh[0..3] times 1, 3, 9, 27 (modulo 256), 4 bytes each: values 240..255.
        uint32_t h4;
        memcpy(&h4, x[i].qh, 4);
        const uint8x16_t h = vmulq_u8(vreinterpretq_u8_u32(vdupq_n_u32(h4)), vld1q_u8(pow3));
        dq_neon_put(y + 240, dq_neon_trits_minus_one(h), d, 0, DQ_NEON_MUL);
    }
}

static void dequantize_tq2_0_neon(const blk_tq2_0 *x, float *y, size_t nb) {
    const uint8x16_t one = vdupq_n_u8(1);
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_neon(x[i].d);
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 4; l++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const uint8x16_t v = dq_neon_two_bits(dq_neon_load(x[i].qs + 32 * h + 16 * half), 2 * l);
                    dq_neon_put(y, dq_neon_s8(vsubq_u8(v, one)), d, 0, DQ_NEON_MUL);
                }
            }
        }
    }
}
