// NEON panel tiles, included twice by gemm_panel.c on ARM64: LOCO_NEON_NAME(x) suffixes the
// function, LOCO_NEON_ATTR is its target attribute, LOCO_SDOT_LANES(acc, w, a) adds the products
// of bytes 4l..4l+3 to int32 lane l (`sdot`, or an emulation with that exact grouping: here each
// lane has its own scale). Weights are unsigned bytes and NEON's dot product is signed by signed,
// so the kernel multiplies w - 128 and adds 128 times the lane's activation sum back: exact.

#define A LOCO_NEON_ATTR
#define N(name) LOCO_NEON_NAME(name)

/// One chunk of `m` steps of the tile: integer lane sums, then one conversion and one scaled add
/// per lane (folded into one float vector per tile entry).
A static inline void N(tile_chunk)(size_t m, size_t offset, const uint8_t *const w[TILE], const uint8_t *const a[TILE],
                                   float32x4_t acc[TILE][TILE]) {
    const int8x16_t bias = vdupq_n_s8(-128), ones = vdupq_n_s8(1);
    for (int c = 0; c < TILE; c++) {
        const float *as = (const float *)(a[c] + offset + 64 * m);
        // 128 * (sum of each lane's activations), shared by the four weight rows.
        int32x4_t corr[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
        for (size_t s = 0; s < m; s++)
            for (int v = 0; v < 4; v++) corr[v] = LOCO_SDOT_LANES(corr[v], ones, vld1q_s8((const int8_t *)(a[c] + offset + 64 * s + 16 * v)));
        for (int r = 0; r < TILE; r++) {
            const float *ws = (const float *)(w[r] + offset + 64 * m);
            int32x4_t isum[4];
            for (int v = 0; v < 4; v++) isum[v] = vshlq_n_s32(corr[v], 7);
            for (size_t s = 0; s < m; s++) {
                for (int v = 0; v < 4; v++) {
                    const int8x16_t wq = veorq_s8(vld1q_s8((const int8_t *)(w[r] + offset + 64 * s + 16 * v)), bias);
                    isum[v] = LOCO_SDOT_LANES(isum[v], wq, vld1q_s8((const int8_t *)(a[c] + offset + 64 * s + 16 * v)));
                }
            }
            for (int v = 0; v < 4; v++)
                acc[r][c] = vfmaq_f32(acc[r][c], vcvtq_f32_s32(isum[v]), vmulq_f32(vld1q_f32(ws + 4 * v), vld1q_f32(as + 4 * v)));
        }
    }
}

A static void N(tile)(size_t kp, size_t groups, const uint8_t *const w[TILE], const uint8_t *const a[TILE], float out[TILE][TILE]) {
    float32x4_t acc[TILE][TILE];
    for (int r = 0; r < TILE; r++)
        for (int c = 0; c < TILE; c++) acc[r][c] = vdupq_n_f32(0.0f);
    size_t offset = 0;
    for (size_t v0 = 0; v0 < kp;) {
        const size_t m = chunk_steps(v0, kp);
        N(tile_chunk)(m, offset, w, a, acc);
        offset += 64 * m + 64;
        v0 += 64 * m;
    }
    for (size_t g = 0; g < groups; g += 4) {
        for (int r = 0; r < TILE; r++) {
            const float32x4_t wm = vld1q_f32((const float *)(w[r] + offset) + g);
            for (int c = 0; c < TILE; c++) acc[r][c] = vfmaq_f32(acc[r][c], wm, vld1q_f32((const float *)(a[c] + offset) + g));
        }
    }
    for (int r = 0; r < TILE; r++)
        for (int c = 0; c < TILE; c++) out[r][c] = vaddvq_f32(acc[r][c]);
}

#undef N
#undef A
