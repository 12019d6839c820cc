// NEON activation quantizers, included by quantize_activations.c on ARM64. They replay the scalar
// code's steps lane by lane, so the bytes are the same for every input, non-finite ones included:
// NaNs are left out of the maximum, the Q8_0/Q8_1 conversion sends NaN and out-of-range values to
// INT32_MIN before saturating, and Q8_K keeps nearest_int's 1.5 * 2^23 bit trick and the plain
// (truncating) int -> int8 conversion. The dot product instructions do not help here, so there is
// one variant.

/// |v| with NaN lanes replaced by 0 (the scalar maximum skips NaNs; fmax would return them).
static inline float32x4_t loco_abs_no_nan(float32x4_t v) {
    const float32x4_t a = vabsq_f32(v);
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vcleq_f32(a, vdupq_n_f32(INFINITY))));
}

/// q8_from_rounded for 4 lanes, up to the saturation: (int32)r where r is in range, else INT32_MIN.
static inline int32x4_t loco_q8_int32(float32x4_t r) {
    const uint32x4_t in = vandq_u32(vcgeq_f32(r, vdupq_n_f32(-2147483648.0f)), vcltq_f32(r, vdupq_n_f32(2147483648.0f)));
    return vbslq_s32(in, vcvtq_s32_f32(r), vdupq_n_s32(INT32_MIN));
}

/// One 32-value block: the loaded values, the int32 quants before saturation, and amax.
static inline float quantize32_neon(const float *x, int32x4_t q[8]) {
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        m = vmaxq_f32(m, loco_abs_no_nan(v[k]));
    }
    const float amax = vmaxvq_f32(m);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int k = 0; k < 8; k++) q[k] = loco_q8_int32(vrndnq_f32(vmulq_n_f32(v[k], id)));
    return amax;
}

/// Eight vectors of int32 -> 32 int8 in element order, saturating (as the scalar clamp does).
static inline void pack32_neon(const int32x4_t q[8], int8_t *out) {
    for (int h = 0; h < 2; h++) {
        const int16x8_t a = vcombine_s16(vqmovn_s32(q[4 * h]), vqmovn_s32(q[4 * h + 1]));
        const int16x8_t b = vcombine_s16(vqmovn_s32(q[4 * h + 2]), vqmovn_s32(q[4 * h + 3]));
        vst1q_s8(out + 16 * h, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
}

static void quantize_q8_0_neon(const float *x, blk_q8_0 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        int32x4_t q[8];
        const float amax = quantize32_neon(x, q);
        y[i].d = loco_f32_to_f16_scalar(amax / 127.0f);
        pack32_neon(q, y[i].qs);
    }
}

static void quantize_q8_1_neon(const float *x, blk_q8_1 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32) {
        int32x4_t q[8];
        const float amax = quantize32_neon(x, q);
        const float d = amax / 127.0f;
        y[i].d = loco_f32_to_f16_scalar(d);
        // The int32 values before packing, wrapping like the scalar sum.
        int32x4_t s = q[0];
        for (int k = 1; k < 8; k++) s = vaddq_s32(s, q[k]);
        y[i].s = loco_f32_to_f16_scalar(d * (float)vaddvq_s32(s));
        pack32_neon(q, y[i].qs);
    }
}

static void quantize_q8_K_neon(const float *x, blk_q8_K *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += LOCO_QK_K) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int k = 0; k < LOCO_QK_K; k += 4) m = vmaxq_f32(m, loco_abs_no_nan(vld1q_f32(x + k)));
        const float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        // The signed value of the first element of largest magnitude (amax is one of them).
        int first = 0;
        while (first < LOCO_QK_K - 1 && fabsf(x[first]) != amax) first++;
        const float iscale = -127.0f / x[first];
        const float32x4_t scale = vdupq_n_f32(iscale), magic = vdupq_n_f32(12582912.0f);
        const int32x4_t mantissa = vdupq_n_s32(0x007fffff), bias = vdupq_n_s32(0x00400000), top = vdupq_n_s32(127);
        for (int g = 0; g < LOCO_QK_K; g += 16) {
            int16x4_t h[4];
            for (int k = 0; k < 4; k++) {
                const float32x4_t val = vaddq_f32(vmulq_f32(scale, vld1q_f32(x + g + 4 * k)), magic);
                const int32x4_t v = vsubq_s32(vandq_s32(vreinterpretq_s32_f32(val), mantissa), bias);
                h[k] = vmovn_s32(vminq_s32(v, top));
            }
            const int8x16_t q = vcombine_s8(vmovn_s16(vcombine_s16(h[0], h[1])), vmovn_s16(vcombine_s16(h[2], h[3])));
            vst1q_s8(y[i].qs + g, q);
            y[i].bsums[g / 16] = (int16_t)vaddlvq_s8(q);
        }
        y[i].d = 1.0f / iscale;
    }
}
