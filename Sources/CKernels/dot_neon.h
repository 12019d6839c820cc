// NEON dot products of the 32-value formats, included twice by dot.c: LOCO_NEON_NAME(x) suffixes
// every function, LOCO_NEON_ATTR is its target attribute (dotprod, or nothing), and
// LOCO_SDOT(acc, w, a) adds the signed byte products w[i] * a[i] to int32 lanes (`sdot`, or
// loco_sdot_emulated). Weights are decoded to signed bytes (no sign trick needed: NEON multiplies
// signed by signed), each block's integer sum stays exact, and the block scale multiplies it in
// four float lanes, as the AVX2 code does in eight.

#define A LOCO_NEON_ATTR
#define N(name) LOCO_NEON_NAME(name)

/// The 32 products of one block: w0 against a[0..15], w1 against a[16..31], in int32 lanes.
A static inline int32x4_t N(dot32)(int8x16_t w0, int8x16_t w1, const int8_t *a) {
    const int32x4_t acc = LOCO_SDOT(vdupq_n_s32(0), w0, vld1q_s8(a));
    return LOCO_SDOT(acc, w1, vld1q_s8(a + 16));
}

/// Low nibbles (elements 0..15) and high nibbles (16..31) of 16 packed bytes.
A static inline uint8x16_t N(low4)(uint8x16_t q) { return vandq_u8(q, vdupq_n_u8(0x0F)); }
A static inline uint8x16_t N(high4)(uint8x16_t q) { return vshrq_n_u8(q, 4); }

/// 16 bits -> 16 bytes, bit j -> byte j: 0x10 where set (the Q5 formats' fifth bit).
A static inline uint8x16_t N(bit4_bytes)(uint32_t bits16) {
    const uint8x16_t spread = vcombine_u8(vdup_n_u8((uint8_t)bits16), vdup_n_u8((uint8_t)(bits16 >> 8)));
    const uint8x16_t select = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ULL));
    return vandq_u8(vtstq_u8(spread, select), vdupq_n_u8(0x10));
}

A static float N(dot_q4_0)(size_t nb, const blk_q4_0 *x, const blk_q8_0 *y) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    const int8x16_t eight = vdupq_n_s8(8);
    for (size_t i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(N(low4)(q)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(N(high4)(q)), eight);
        const float32x4_t s = vcvtq_f32_s32(N(dot32)(lo, hi, y[i].qs));
        acc = vfmaq_n_f32(acc, s, loco_half_neon(x[i].d) * loco_half_neon(y[i].d));
    }
    return vaddvq_f32(acc);
}

A static float N(dot_q4_1)(size_t nb, const blk_q4_1 *x, const blk_q8_1 *y) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(N(low4)(q)), hi = vreinterpretq_s8_u8(N(high4)(q));
        const float32x4_t s = vcvtq_f32_s32(N(dot32)(lo, hi, y[i].qs));
        acc = vfmaq_n_f32(acc, s, loco_half_neon(x[i].d) * loco_half_neon(y[i].d));
        mins += loco_half_neon(x[i].m) * loco_half_neon(y[i].s);
    }
    return vaddvq_f32(acc) + mins;
}

A static float N(dot_q5_0)(size_t nb, const blk_q5_0 *x, const blk_q8_0 *y) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    const int8x16_t sixteen = vdupq_n_s8(16);
    for (size_t i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(N(low4)(q), N(bit4_bytes)(qh & 0xFFFF))), sixteen);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(N(high4)(q), N(bit4_bytes)(qh >> 16))), sixteen);
        const float32x4_t s = vcvtq_f32_s32(N(dot32)(lo, hi, y[i].qs));
        acc = vfmaq_n_f32(acc, s, loco_half_neon(x[i].d) * loco_half_neon(y[i].d));
    }
    return vaddvq_f32(acc);
}

A static float N(dot_q5_1)(size_t nb, const blk_q5_1 *x, const blk_q8_1 *y) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(N(low4)(q), N(bit4_bytes)(qh & 0xFFFF)));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(N(high4)(q), N(bit4_bytes)(qh >> 16)));
        const float32x4_t s = vcvtq_f32_s32(N(dot32)(lo, hi, y[i].qs));
        acc = vfmaq_n_f32(acc, s, loco_half_neon(x[i].d) * loco_half_neon(y[i].d));
        mins += loco_half_neon(x[i].m) * loco_half_neon(y[i].s);
    }
    return vaddvq_f32(acc) + mins;
}

A static float N(dot_q8_0)(size_t nb, const blk_q8_0 *x, const blk_q8_0 *y) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (size_t i = 0; i < nb; i++) {
        const float32x4_t s = vcvtq_f32_s32(N(dot32)(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs));
        acc = vfmaq_n_f32(acc, s, loco_half_neon(x[i].d) * loco_half_neon(y[i].d));
    }
    return vaddvq_f32(acc);
}

#undef N
#undef A
