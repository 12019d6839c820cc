// NEON half and bfloat16 conversions, included by convert.c on ARM64. Bit-identical with the
// scalar functions for every input: the hardware conversions (FCVTL, FCVTN; round to nearest even,
// exact subnormals) agree with them on numbers and infinities, and NaN lanes are rebuilt with the
// scalar rule in integers, so the result does not depend on how FPCR treats NaNs (default-NaN
// mode would otherwise drop payloads, and half -> float would set the quiet bit of a signaling NaN).

/// Eight halves -> eight floats.
static inline void f16x8_to_f32_neon(uint16x8_t h, float *dst) {
    const uint16x8_t nan = vcgtq_u16(vandq_u16(h, vdupq_n_u16(0x7FFF)), vdupq_n_u16(0x7C00));
    for (int k = 0; k < 2; k++) {
        const uint16x4_t hk = k ? vget_high_u16(h) : vget_low_u16(h);
        const uint32x4_t w = vmovl_u16(hk);
        // The scalar NaN: sign, all-ones exponent, the payload as it is.
        const uint32x4_t nan_bits = vorrq_u32(vorrq_u32(vshlq_n_u32(vandq_u32(w, vdupq_n_u32(0x8000)), 16), vdupq_n_u32(0x7F800000)),
                                              vshlq_n_u32(vandq_u32(w, vdupq_n_u32(0x3FF)), 13));
        const uint32x4_t mask = vreinterpretq_u32_s32(vmovl_s16(vreinterpret_s16_u16(k ? vget_high_u16(nan) : vget_low_u16(nan))));
        const uint32x4_t bits = vreinterpretq_u32_f32(vcvt_f32_f16(vreinterpret_f16_u16(hk)));
        vst1q_f32(dst + 4 * k, vreinterpretq_f32_u32(vbslq_u32(mask, nan_bits, bits)));
    }
}

static void f16_row_neon(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) f16x8_to_f32_neon(vld1q_u16(src + i), dst + i);
    for (; i < n; i++) dst[i] = loco_f16_to_f32_scalar(src[i]);
}

/// Four floats -> four halves.
static inline uint16x4_t f32x4_to_f16_neon(float32x4_t f) {
    const uint32x4_t x = vreinterpretq_u32_f32(f);
    const uint32x4_t abs = vandq_u32(x, vdupq_n_u32(0x7FFFFFFF));
    const uint32x4_t nan = vcgtq_u32(abs, vdupq_n_u32(0x7F800000));
    // The scalar NaN: sign, quiet, the top 10 payload bits.
    const uint32x4_t nan_bits = vorrq_u32(vorrq_u32(vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(0x8000)), vdupq_n_u32(0x7E00)),
                                          vandq_u32(vshrq_n_u32(abs, 13), vdupq_n_u32(0x3FF)));
    const uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(f));
    return vbsl_u16(vmovn_u32(nan), vmovn_u32(nan_bits), h);
}

static void f32_to_f16_row_neon(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_u16(dst + i, vcombine_u16(f32x4_to_f16_neon(vld1q_f32(src + i)), f32x4_to_f16_neon(vld1q_f32(src + i + 4))));
    }
    for (; i < n; i++) dst[i] = loco_f32_to_f16_scalar(src[i]);
}

static void bf16_row_neon(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(src + i);
        vst1q_u32((uint32_t *)(dst + i), vshll_n_u16(vget_low_u16(h), 16));
        vst1q_u32((uint32_t *)(dst + i + 4), vshll_high_n_u16(h, 16));
    }
    for (; i < n; i++) {
        const uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, sizeof bits);
    }
}

/// Four floats -> four bfloat16: round to nearest even in integers, NaNs forced quiet.
static inline uint16x4_t f32x4_to_bf16_neon(uint32x4_t x) {
    const uint32x4_t nan = vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7FFFFFFF)), vdupq_n_u32(0x7F800000));
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
    const uint16x4_t rounded = vshrn_n_u32(vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7FFF), odd)), 16);
    const uint16x4_t quiet = vorr_u16(vshrn_n_u32(x, 16), vdup_n_u16(64));
    return vbsl_u16(vmovn_u32(nan), quiet, rounded);
}

static void f32_to_bf16_row_neon(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint32x4_t a = vld1q_u32((const uint32_t *)(src + i)), b = vld1q_u32((const uint32_t *)(src + i + 4));
        vst1q_u16(dst + i, vcombine_u16(f32x4_to_bf16_neon(a), f32x4_to_bf16_neon(b)));
    }
    // The tail by the scalar rule (loco_f32_to_bf16_row's loop).
    for (; i < n; i++) {
        uint32_t x;
        memcpy(&x, src + i, sizeof x);
        if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
            dst[i] = (uint16_t)((x >> 16) | 64u);
        } else {
            dst[i] = (uint16_t)((x + (0x7FFFu + ((x >> 16) & 1u))) >> 16);
        }
    }
}
