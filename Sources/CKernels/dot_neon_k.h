// NEON dot products of the 256-value formats, included twice by dot_k.c (see dot_neon.h for
// LOCO_NEON_NAME, LOCO_NEON_ATTR and LOCO_SDOT). Each 16-value sub-block is one register of
// signed weight bytes; its int32 lanes are multiplied by the sub-block scale in integers
// (vmlaq_n_s32, exact), so a super-block's sum is one exact integer, and the float step is the
// scalar code's own expression: these variants return the scalar code's bits.

#define A LOCO_NEON_ATTR
#define N(name) LOCO_NEON_NAME(name)

/// `isum` plus scale * (the 16 products of w and a).
A static inline int32x4_t N(scaled16)(int32x4_t isum, int8x16_t w, const int8_t *a, int scale) {
    return vmlaq_n_s32(isum, LOCO_SDOT(vdupq_n_s32(0), w, vld1q_s8(a)), scale);
}

A static float N(dot_q2_K)(size_t nb, const blk_q2_K *x, const blk_q8_K *y) {
    const uint8x16_t three = vdupq_n_u8(3);
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *sc = x[i].scales;
        // The mins through the bsums: 16 int16 products, summed in int32.
        const uint8x16_t m = vshrq_n_u8(vld1q_u8(sc), 4);
        const int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m))), m1 = vreinterpretq_s16_u16(vmovl_high_u8(m));
        const int16x8_t b0 = vld1q_s16(y[i].bsums), b1 = vld1q_s16(y[i].bsums + 8);
        int32x4_t mv = vmull_s16(vget_low_s16(b0), vget_low_s16(m0));
        mv = vmlal_high_s16(mv, b0, m0);
        mv = vmlal_s16(mv, vget_low_s16(b1), vget_low_s16(m1));
        mv = vmlal_high_s16(mv, b1, m1);
        const int mins = vaddvq_s32(mv);
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            const int8_t *a = y[i].qs + 128 * h;
            for (int j = 0; j < 4; j++, a += 32) {
                isum = N(scaled16)(isum, vreinterpretq_s8_u8(vandq_u8(q0, three)), a, sc[8 * h + 2 * j] & 0xF);
                isum = N(scaled16)(isum, vreinterpretq_s8_u8(vandq_u8(q1, three)), a + 16, sc[8 * h + 2 * j + 1] & 0xF);
                q0 = vshrq_n_u8(q0, 2);
                q1 = vshrq_n_u8(q1, 2);
            }
        }
        const float d = y[i].d;
        sum += (loco_half_neon(x[i].d) * d) * (float)vaddvq_s32(isum) - (loco_half_neon(x[i].dmin) * d) * (float)mins;
    }
    return sum;
}

A static float N(dot_q3_K)(size_t nb, const blk_q3_K *x, const blk_q8_K *y) {
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            const int8_t *a = y[i].qs + 128 * h;
            for (int j = 0; j < 4; j++, a += 32) {
                // Two bits minus 4 where the high bit is clear (wrapping bytes read as signed).
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + j)));
                const uint8x16_t w0 = vsubq_u8(vandq_u8(q0, three), vbicq_u8(four, vtstq_u8(hm0, bit)));
                const uint8x16_t w1 = vsubq_u8(vandq_u8(q1, three), vbicq_u8(four, vtstq_u8(hm1, bit)));
                const int k = 8 * h + 2 * j;
                isum = N(scaled16)(isum, vreinterpretq_s8_u8(w0), a, loco_byte(k < 8 ? lo : hi, k & 7) - 32);
                isum = N(scaled16)(isum, vreinterpretq_s8_u8(w1), a + 16, loco_byte(k < 8 ? lo : hi, (k + 1) & 7) - 32);
                q0 = vshrq_n_u8(q0, 2);
                q1 = vshrq_n_u8(q1, 2);
            }
        }
        sum += (loco_half_neon(x[i].d) * y[i].d) * (float)vaddvq_s32(isum);
    }
    return sum;
}

/// Q4_K and Q5_K share everything but the fifth bit (`qh` null for Q4_K).
A static inline float N(dot_k4)(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs,
                                const uint8_t *qh, const blk_q8_K *y, float sum) {
    uint64_t sc, m;
    loco_unpack_scales_k4(scales, &sc, &m);
    const uint8x16_t low = vdupq_n_u8(0x0F), sixteen = vdupq_n_u8(0x10);
    const uint8x16_t h0 = qh ? vld1q_u8(qh) : vdupq_n_u8(0), h1 = qh ? vld1q_u8(qh + 16) : vdupq_n_u8(0);
    int32x4_t isum = vdupq_n_s32(0);
    int mins = 0;
    for (int j = 0; j < 8; j += 2) {
        // Sub-block j is the low nibbles of 32 bytes, sub-block j + 1 their high nibbles.
        const uint8x16_t q0 = vld1q_u8(qs + 16 * j), q1 = vld1q_u8(qs + 16 * j + 16);
        uint8x16_t l0 = vandq_u8(q0, low), l1 = vandq_u8(q1, low), u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
        if (qh) {
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << j)), bu = vdupq_n_u8((uint8_t)(2u << j));
            l0 = vorrq_u8(l0, vandq_u8(vtstq_u8(h0, bl), sixteen));
            l1 = vorrq_u8(l1, vandq_u8(vtstq_u8(h1, bl), sixteen));
            u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(h0, bu), sixteen));
            u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(h1, bu), sixteen));
        }
        const int8_t *a = y->qs + 32 * j;
        int32x4_t p = LOCO_SDOT(LOCO_SDOT(vdupq_n_s32(0), vreinterpretq_s8_u8(l0), vld1q_s8(a)), vreinterpretq_s8_u8(l1), vld1q_s8(a + 16));
        isum = vmlaq_n_s32(isum, p, loco_byte(sc, j));
        p = LOCO_SDOT(LOCO_SDOT(vdupq_n_s32(0), vreinterpretq_s8_u8(u0), vld1q_s8(a + 32)), vreinterpretq_s8_u8(u1), vld1q_s8(a + 48));
        isum = vmlaq_n_s32(isum, p, loco_byte(sc, j + 1));
    }
    for (int j = 0; j < 8; j++) mins += loco_byte(m, j) * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    return sum + ((loco_half_neon(d) * y->d) * (float)vaddvq_s32(isum) - (loco_half_neon(dmin) * y->d) * (float)mins);
}

A static float N(dot_q4_K)(size_t nb, const blk_q4_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) sum = N(dot_k4)(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, &y[i], sum);
    return sum;
}

A static float N(dot_q5_K)(size_t nb, const blk_q5_K *x, const blk_q8_K *y) {
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) sum = N(dot_k4)(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, &y[i], sum);
    return sum;
}

A static float N(dot_q6_K)(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    const uint8x16_t low = vdupq_n_u8(0x0F), top = vdupq_n_u8(0x30);
    const int8x16_t thirty_two = vdupq_n_s8(32);
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *a = y[i].qs + 128 * h, *sc = x[i].scales + 8 * h;
            for (int half = 0; half < 2; half++) {
                // Values 32k + l (l in this half): ql[l] or ql[l + 32] (k odd), low nibble for
                // k < 2, high for k >= 2, and bits 2k, 2k + 1 of qh[l] as bits 4 and 5.
                const int l = 16 * half;
                const uint8x16_t l0 = vld1q_u8(ql + l), l1 = vld1q_u8(ql + 32 + l), hb = vld1q_u8(qh + l);
                const uint8x16_t v0 = vorrq_u8(vandq_u8(l0, low), vandq_u8(vshlq_n_u8(hb, 4), top));
                const uint8x16_t v1 = vorrq_u8(vandq_u8(l1, low), vandq_u8(vshlq_n_u8(hb, 2), top));
                const uint8x16_t v2 = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, top));
                const uint8x16_t v3 = vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), top));
                isum = N(scaled16)(isum, vsubq_s8(vreinterpretq_s8_u8(v0), thirty_two), a + l, sc[half]);
                isum = N(scaled16)(isum, vsubq_s8(vreinterpretq_s8_u8(v1), thirty_two), a + 32 + l, sc[2 + half]);
                isum = N(scaled16)(isum, vsubq_s8(vreinterpretq_s8_u8(v2), thirty_two), a + 64 + l, sc[4 + half]);
                isum = N(scaled16)(isum, vsubq_s8(vreinterpretq_s8_u8(v3), thirty_two), a + 96 + l, sc[6 + half]);
            }
        }
        sum += (loco_half_neon(x[i].d) * y[i].d) * (float)vaddvq_s32(isum);
    }
    return sum;
}

/// Top base-3 digit of each byte minus one: ((q * 3) >> 8) - 1 = (q >= 86) + (q >= 171) - 1.
A static inline int8x16_t N(trits_minus_one)(uint8x16_t q) {
    const int8x16_t ge86 = vreinterpretq_s8_u8(vcgeq_u8(q, vdupq_n_u8(86)));
    const int8x16_t ge171 = vreinterpretq_s8_u8(vcgeq_u8(q, vdupq_n_u8(171)));
    return vsubq_s8(vdupq_n_s8(-1), vaddq_s8(ge86, ge171));
}

A static float N(dot_tq1_0)(size_t nb, const blk_tq1_0 *x, const blk_q8_K *y) {
    static const uint8_t pow3[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t times3 = vdupq_n_u8(3), p = vld1q_u8(pow3);
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const int8_t *a = y[i].qs;
        uint8x16_t q0 = vld1q_u8(x[i].qs), q1 = vld1q_u8(x[i].qs + 16), r = vld1q_u8(x[i].qs + 32);
        int32x4_t isum = vdupq_n_s32(0);
        for (int k = 0; k < 5; k++) {
            // Trit k of a byte is the top digit of the byte times 3^k (modulo 256).
            isum = LOCO_SDOT(isum, N(trits_minus_one)(q0), vld1q_s8(a + 32 * k));
            isum = LOCO_SDOT(isum, N(trits_minus_one)(q1), vld1q_s8(a + 32 * k + 16));
            isum = LOCO_SDOT(isum, N(trits_minus_one)(r), vld1q_s8(a + 160 + 16 * k));
            q0 = vmulq_u8(q0, times3);
            q1 = vmulq_u8(q1, times3);
            r = vmulq_u8(r, times3);
        }
        // qh[0..3] times 1, 3, 9, 27, four bytes each: values 240..255.
        uint32_t h4;
        memcpy(&h4, x[i].qh, 4);
        const uint8x16_t hq = vmulq_u8(vreinterpretq_u8_u32(vdupq_n_u32(h4)), p);
        isum = LOCO_SDOT(isum, N(trits_minus_one)(hq), vld1q_s8(a + 240));
        sum += (loco_half_neon(x[i].d) * y[i].d) * (float)vaddvq_s32(isum);
    }
    return sum;
}

A static float N(dot_tq2_0)(size_t nb, const blk_tq2_0 *x, const blk_q8_K *y) {
    const uint8x16_t three = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    float sum = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            const int8_t *a = y[i].qs + 128 * h;
            for (int l = 0; l < 4; l++, a += 32) {
                isum = LOCO_SDOT(isum, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q0, three)), one), vld1q_s8(a));
                isum = LOCO_SDOT(isum, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q1, three)), one), vld1q_s8(a + 16));
                q0 = vshrq_n_u8(q0, 2);
                q1 = vshrq_n_u8(q1, 2);
            }
        }
        sum += (loco_half_neon(x[i].d) * y[i].d) * (float)vaddvq_s32(isum);
    }
    return sum;
}

#undef N
#undef A
