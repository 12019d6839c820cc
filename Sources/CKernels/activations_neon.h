// NEON activations, included by activations.c on ARM64: the same exp as exp256 (clamped range,
// two-part ln 2 reduction, degree-6 Taylor polynomial, 2^k in two halves), four lanes at a time.
// Like the AVX2 code these are not bit-identical with the scalar code (expf, a double sum in
// softmax, another float order in the products); the tests bound the differences.

static inline float32x4_t exp128_neon(float32x4_t x) {
    // 2^k built in the exponent field needs k in [-126, 127] (see exp256); NaN stays NaN.
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654f)), vdupq_n_f32(88.72284f));
    const float32x4_t k = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(LOG2E)));
    float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(LN2_HI));
    r = vfmsq_f32(r, k, vdupq_n_f32(LN2_LO));
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t ki = vcvtq_s32_f32(k);
    const int32x4_t half = vshrq_n_s32(ki, 1);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(half, vdupq_n_s32(127)), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ki, half), vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

static float softmax_neon(float *x, size_t n) {
    float maximum = -INFINITY;
    for (size_t i = 0; i < n; i++) maximum = x[i] > maximum ? x[i] : maximum;
    const float32x4_t m = vdupq_n_f32(maximum);
    float32x4_t vsum = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = exp128_neon(vsubq_f32(vld1q_f32(x + i), m));
        vst1q_f32(x + i, e);
        vsum = vaddq_f32(vsum, e);
    }
    float sum = vaddvq_f32(vsum);
    for (; i < n; i++) {
        x[i] = expf(x[i] - maximum);
        sum += x[i];
    }
    const float32x4_t inverse = vdupq_n_f32(1.0f / sum);
    for (i = 0; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), inverse));
    for (; i < n; i++) x[i] *= vgetq_lane_f32(inverse, 0);
    return maximum + logf(sum);
}

static void swiglu_neon(float *gate, const float *up, size_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t g = vld1q_f32(gate + i);
        const float32x4_t e = exp128_neon(vnegq_f32(g));
        vst1q_f32(gate + i, vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), vld1q_f32(up + i)));
    }
    swiglu_scalar(gate + i, up + i, n - i);
}

static void swiglu_backward_neon(const float *gate, const float *up, const float *dh, float *dgate, float *dup, size_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t g = vld1q_f32(gate + i), d = vld1q_f32(dh + i);
        const float32x4_t s = vdivq_f32(one, vaddq_f32(one, exp128_neon(vnegq_f32(g))));
        const float32x4_t ds = vmulq_f32(d, s);
        vst1q_f32(dup + i, vmulq_f32(ds, g));
        const float32x4_t slope = vfmaq_f32(one, g, vsubq_f32(one, s));
        vst1q_f32(dgate + i, vmulq_f32(vmulq_f32(ds, vld1q_f32(up + i)), slope));
    }
    swiglu_backward_scalar(gate + i, up + i, dh + i, dgate + i, dup + i, n - i);
}

static void matvec_neon(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha, float beta) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = a + r * cols;
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
        size_t c = 0;
        for (; c + 8 <= cols; c += 8) {
            acc0 = vfmaq_f32(acc0, vld1q_f32(row + c), vld1q_f32(x + c));
            acc1 = vfmaq_f32(acc1, vld1q_f32(row + c + 4), vld1q_f32(x + c + 4));
        }
        float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
        for (; c < cols; c++) sum += row[c] * x[c];
        y[r] = (beta == 0 ? 0 : beta * y[r]) + alpha * sum;
    }
}

static void matvec_t_neon(const float *a, size_t rows, size_t cols, const float *x, float *y, float alpha) {
    size_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        // Four output vectors stay in registers over all rows.
        float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
        for (size_t r = 0; r < rows; r++) {
            const float w = alpha * x[r];
            for (int v = 0; v < 4; v++) acc[v] = vfmaq_n_f32(acc[v], vld1q_f32(a + r * cols + c + 4 * v), w);
        }
        for (int v = 0; v < 4; v++) vst1q_f32(y + c + 4 * v, vaddq_f32(vld1q_f32(y + c + 4 * v), acc[v]));
    }
    for (; c + 4 <= cols; c += 4) {
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (size_t r = 0; r < rows; r++) acc = vfmaq_n_f32(acc, vld1q_f32(a + r * cols + c), alpha * x[r]);
        vst1q_f32(y + c, vaddq_f32(vld1q_f32(y + c), acc));
    }
    for (; c < cols; c++) {
        float sum = 0;
        for (size_t r = 0; r < rows; r++) sum += alpha * x[r] * a[r * cols + c];
        y[c] += sum;
    }
}
