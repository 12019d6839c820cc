// AVX-512 dot products for the 32-value formats. Included twice by dot.c, with and without VNNI:
// LOCO_AVX512_TARGET names the target features, LOCO_AVX512_NAME(x) suffixes every function and
// LOCO_DPBUSD(acc, u, s) adds sums of four u8 * s8 products to int32 lanes (vpdpbusd, or
// vpmaddubsw + vpmaddwd without VNNI: every pair of products used here stays below 2^15).
//
// Two blocks per 512-bit register: bytes 0..31 are block i's 32 values in element order, bytes
// 32..63 block i+1's, so int32 lanes 0..7 sum block i and lanes 8..15 block i+1; the float scale
// vector carries each block's d_w * d_a in its half.

#define A512 __attribute__((target(LOCO_AVX512_TARGET)))

/// Activations of two blocks: [a0.qs | a1.qs].
A512 static inline __m512i LOCO_AVX512_NAME(act_pair)(const int8_t *a0, const int8_t *a1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a0)),
                              _mm256_loadu_si256((const __m256i *)a1), 1);
}

/// Nibbles of two blocks as bytes: [lo(q0) | hi(q0) | lo(q1) | hi(q1)].
A512 static inline __m512i LOCO_AVX512_NAME(nibble_pair)(const uint8_t *q0, const uint8_t *q1) {
    __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)q0));
    z = _mm512_mask_broadcast_i32x4(z, 0xFF00, _mm_loadu_si128((const __m128i *)q1));
    z = _mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

/// The Q5 fifth bits of two blocks as a byte mask in element order.
static inline __mmask64 LOCO_AVX512_NAME(bit4_pair)(const uint8_t *qh0, const uint8_t *qh1) {
    uint32_t b0, b1;
    memcpy(&b0, qh0, 4);
    memcpy(&b1, qh1, 4);
    return (__mmask64)b0 | (__mmask64)b1 << 32;
}

/// Products of half pairs: lane 2k of the result is half(lo_k) * half(hi_k), where word k of the
/// input holds lo_k | hi_k << 16; odd lanes are zero. (Packing in general registers and one
/// conversion avoids _cvtsh_ss, whose vpinsrw merges into a live register.)
A512 static inline __m256 LOCO_AVX512_NAME(half_products4)(uint32_t p0, uint32_t p1, uint32_t p2, uint32_t p3) {
    const __m128i h = _mm_set_epi64x((long long)(p2 | (uint64_t)p3 << 32), (long long)(p0 | (uint64_t)p1 << 32));
    const __m256 v = _mm256_cvtph_ps(h);
    return _mm256_maskz_mul_ps(0x55, v, _mm256_movehdup_ps(v));
}

static inline uint32_t LOCO_AVX512_NAME(pack_halves)(uint16_t lo, uint16_t hi) { return lo | (uint32_t)hi << 16; }

/// Scale vectors for two register pairs from half_products4: lanes 0 and 2 (blocks i, i+1), then
/// lanes 4 and 6 (blocks i+2, i+3), each spread over eight int32 lanes.
A512 static inline __m512 LOCO_AVX512_NAME(spread_scales)(__m256 s, int first) {
    const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi32(first), _mm256_set1_epi32(first + 2), 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(s));
}

A512 static inline float LOCO_AVX512_NAME(hsum_256)(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Int32 sums of two blocks, one format each (block 0 in lanes 0..7, block 1 in lanes 8..15).

A512 static inline __m512i LOCO_AVX512_NAME(pair_q4_0)(const blk_q4_0 *x0, const blk_q4_0 *x1, const blk_q8_0 *y0, const blk_q8_0 *y1) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i a = LOCO_AVX512_NAME(act_pair)(y0->qs, y1->qs);
    const __m512i q = LOCO_AVX512_NAME(nibble_pair)(x0->qs, x1->qs);
    return _mm512_sub_epi32(LOCO_DPBUSD(zero, q, a), LOCO_DPBUSD(zero, _mm512_set1_epi8(8), a));
}

A512 static inline __m512i LOCO_AVX512_NAME(pair_q4_1)(const blk_q4_1 *x0, const blk_q4_1 *x1, const blk_q8_1 *y0, const blk_q8_1 *y1) {
    return LOCO_DPBUSD(_mm512_setzero_si512(), LOCO_AVX512_NAME(nibble_pair)(x0->qs, x1->qs), LOCO_AVX512_NAME(act_pair)(y0->qs, y1->qs));
}

A512 static inline __m512i LOCO_AVX512_NAME(q5_pair)(const uint8_t *qs0, const uint8_t *qh0, const uint8_t *qs1, const uint8_t *qh1) {
    const __m512i q = LOCO_AVX512_NAME(nibble_pair)(qs0, qs1);
    return _mm512_mask_add_epi8(q, LOCO_AVX512_NAME(bit4_pair)(qh0, qh1), q, _mm512_set1_epi8(16));
}

A512 static inline __m512i LOCO_AVX512_NAME(pair_q5_0)(const blk_q5_0 *x0, const blk_q5_0 *x1, const blk_q8_0 *y0, const blk_q8_0 *y1) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i a = LOCO_AVX512_NAME(act_pair)(y0->qs, y1->qs);
    const __m512i q = LOCO_AVX512_NAME(q5_pair)(x0->qs, x0->qh, x1->qs, x1->qh);
    return _mm512_sub_epi32(LOCO_DPBUSD(zero, q, a), LOCO_DPBUSD(zero, _mm512_set1_epi8(16), a));
}

A512 static inline __m512i LOCO_AVX512_NAME(pair_q5_1)(const blk_q5_1 *x0, const blk_q5_1 *x1, const blk_q8_1 *y0, const blk_q8_1 *y1) {
    const __m512i q = LOCO_AVX512_NAME(q5_pair)(x0->qs, x0->qh, x1->qs, x1->qh);
    return LOCO_DPBUSD(_mm512_setzero_si512(), q, LOCO_AVX512_NAME(act_pair)(y0->qs, y1->qs));
}

/// Signed * signed as |w| * (a with w's sign): exact while a != -128 (activations stay in +-127).
A512 static inline __m512i LOCO_AVX512_NAME(pair_q8_0)(const blk_q8_0 *x0, const blk_q8_0 *x1, const blk_q8_0 *y0, const blk_q8_0 *y1) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i w = LOCO_AVX512_NAME(act_pair)(x0->qs, x1->qs);
    const __m512i a = LOCO_AVX512_NAME(act_pair)(y0->qs, y1->qs);
    const __m512i sa = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), zero, a);
    return LOCO_DPBUSD(zero, _mm512_abs_epi8(w), sa);
}

// The loop shared by all five: four blocks per iteration, two accumulators; an odd last block is
// paired with itself and its copy gets scale 0. With MINS set, MS(i) packs block i's m and s halves
// and their products are added (the `_1` formats).
#define LOCO_DOT_BODY(FORMAT, MINS, MS)                                                                \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                                 \
    __m256 accm = _mm256_setzero_ps();                                                             \
    size_t i = 0;                                                                                  \
    for (; i + 4 <= nb; i += 4) {                                                                  \
        loco_prefetch(&x[i], 4 * sizeof x[i]);                                                     \
        const __m256 s = LOCO_AVX512_NAME(half_products4)(LOCO_DS(i), LOCO_DS(i + 1), LOCO_DS(i + 2), LOCO_DS(i + 3)); \
        const __m512i p0 = LOCO_AVX512_NAME(pair_##FORMAT)(&x[i], &x[i + 1], &y[i], &y[i + 1]);    \
        const __m512i p1 = LOCO_AVX512_NAME(pair_##FORMAT)(&x[i + 2], &x[i + 3], &y[i + 2], &y[i + 3]); \
        acc0 = _mm512_fmadd_ps(LOCO_AVX512_NAME(spread_scales)(s, 0), _mm512_cvtepi32_ps(p0), acc0); \
        acc1 = _mm512_fmadd_ps(LOCO_AVX512_NAME(spread_scales)(s, 4), _mm512_cvtepi32_ps(p1), acc1); \
        if (MINS) accm = _mm256_add_ps(accm, LOCO_AVX512_NAME(half_products4)(MS(i), MS(i + 1), MS(i + 2), MS(i + 3))); \
    }                                                                                              \
    for (; i < nb; i += 2) {                                                                       \
        const size_t j = i + 1 < nb ? i + 1 : i;                                                   \
        const __m256 s = LOCO_AVX512_NAME(half_products4)(LOCO_DS(i), j > i ? LOCO_DS(j) : 0, 0, 0); \
        const __m512i p = LOCO_AVX512_NAME(pair_##FORMAT)(&x[i], &x[j], &y[i], &y[j]);              \
        acc0 = _mm512_fmadd_ps(LOCO_AVX512_NAME(spread_scales)(s, 0), _mm512_cvtepi32_ps(p), acc0); \
        if (MINS) accm = _mm256_add_ps(accm, LOCO_AVX512_NAME(half_products4)(MS(i), j > i ? MS(j) : 0, 0, 0)); \
    }                                                                                              \
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + (MINS ? LOCO_AVX512_NAME(hsum_256)(accm) : 0.0f)

#define LOCO_DS(i) LOCO_AVX512_NAME(pack_halves)(x[i].d, y[i].d)
#define LOCO_MS(i) LOCO_AVX512_NAME(pack_halves)(x[i].m, y[i].s)
#define LOCO_NO_MS(i) 0u

A512 static float LOCO_AVX512_NAME(dot_q4_0)(size_t nb, const blk_q4_0 *x, const blk_q8_0 *y) { LOCO_DOT_BODY(q4_0, 0, LOCO_NO_MS); }
A512 static float LOCO_AVX512_NAME(dot_q5_0)(size_t nb, const blk_q5_0 *x, const blk_q8_0 *y) { LOCO_DOT_BODY(q5_0, 0, LOCO_NO_MS); }
A512 static float LOCO_AVX512_NAME(dot_q8_0)(size_t nb, const blk_q8_0 *x, const blk_q8_0 *y) { LOCO_DOT_BODY(q8_0, 0, LOCO_NO_MS); }
A512 static float LOCO_AVX512_NAME(dot_q4_1)(size_t nb, const blk_q4_1 *x, const blk_q8_1 *y) { LOCO_DOT_BODY(q4_1, 1, LOCO_MS); }
A512 static float LOCO_AVX512_NAME(dot_q5_1)(size_t nb, const blk_q5_1 *x, const blk_q8_1 *y) { LOCO_DOT_BODY(q5_1, 1, LOCO_MS); }

#undef LOCO_DS
#undef LOCO_MS
#undef LOCO_NO_MS
#undef LOCO_DOT_BODY
// Several activation rows against one weight row: each weight pair is unpacked once and every
// activation runs the float steps of LOCO_DOT_BODY in its order (its own accumulators, the same
// scale products, conversions, fused adds and final sums), so each result has the bits of the
// one-row kernel. The integer sums are exact whichever way they are formed, and a scale product
// is the same float however it is formed: the activations' half scales are converted once per
// call (loco_multi_prepare) and multiplied by the weight's here, lane for lane where
// half_products4 and spread_scales put them (+0 where those put +0). WQ(x0, x1) prepares a weight
// pair, COMBINE(wq, a) forms the int32 sums with an activation pair.
#define LOCO_MULTI_MAX 4
#define LOCO_MULTI_BODY(WQ, COMBINE, MINS)                                                              \
    __m512 acc0[LOCO_MULTI_MAX], acc1[LOCO_MULTI_MAX];                                                 \
    __m256 accm[LOCO_MULTI_MAX];                                                                       \
    for (size_t k = 0; k < count; k++) {                                                               \
        acc0[k] = _mm512_setzero_ps(); acc1[k] = _mm512_setzero_ps(); accm[k] = _mm256_setzero_ps();   \
    }                                                                                                  \
    size_t i = 0, v = 0;                                                                               \
    for (; i + 4 <= nb; i += 4, v++) {                                                                 \
        loco_prefetch(&x[i], 4 * sizeof x[i]);                                                         \
        const __m512i w0 = WQ(&x[i], &x[i + 1]), w1 = WQ(&x[i + 2], &x[i + 3]);                        \
        const float d0 = loco_half_f16c(x[i].d), d1 = loco_half_f16c(x[i + 1].d);                       \
        const float d2 = loco_half_f16c(x[i + 2].d), d3 = loco_half_f16c(x[i + 3].d);                   \
        const __m512 x0 = _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);              \
        const __m512 x1 = _mm512_insertf32x8(_mm512_set1_ps(d2), _mm256_set1_ps(d3), 1);              \
        __m256 xm = _mm256_setzero_ps();                                                               \
        if (MINS) xm = _mm256_setr_ps(loco_half_f16c(((const uint16_t *)&x[i])[1]), 0, loco_half_f16c(((const uint16_t *)&x[i + 1])[1]), 0, \
                                      loco_half_f16c(((const uint16_t *)&x[i + 2])[1]), 0, loco_half_f16c(((const uint16_t *)&x[i + 3])[1]), 0); \
        for (size_t k = 0; k < count; k++) {                                                           \
            const YT *y = ys[k];                                                                       \
            const float *pd = pds[k] + 16 * (i / 2);                                                   \
            const __m512i p0 = COMBINE(w0, LOCO_AVX512_NAME(act_pair)(y[i].qs, y[i + 1].qs));          \
            const __m512i p1 = COMBINE(w1, LOCO_AVX512_NAME(act_pair)(y[i + 2].qs, y[i + 3].qs));      \
            acc0[k] = _mm512_fmadd_ps(_mm512_mul_ps(x0, _mm512_loadu_ps(pd)), _mm512_cvtepi32_ps(p0), acc0[k]); \
            acc1[k] = _mm512_fmadd_ps(_mm512_mul_ps(x1, _mm512_loadu_ps(pd + 16)), _mm512_cvtepi32_ps(p1), acc1[k]); \
            if (MINS) accm[k] = _mm256_add_ps(accm[k], _mm256_maskz_mul_ps(0x55, xm, _mm256_loadu_ps(pms[k] + 8 * v))); \
        }                                                                                              \
    }                                                                                                  \
    for (; i < nb; i += 2, v++) {                                                                      \
        const size_t j = i + 1 < nb ? i + 1 : i;                                                       \
        const __m512i w0 = WQ(&x[i], &x[j]);                                                           \
        const __m512 x0 = _mm512_insertf32x8(_mm512_set1_ps(loco_half_f16c(x[i].d)), _mm256_set1_ps(loco_half_f16c(x[j].d)), 1); \
        __m256 xm = _mm256_setzero_ps();                                                               \
        if (MINS) xm = _mm256_setr_ps(loco_half_f16c(((const uint16_t *)&x[i])[1]), 0,                 \
                                      j > i ? loco_half_f16c(((const uint16_t *)&x[j])[1]) : 0.0f, 0, 0, 0, 0, 0); \
        for (size_t k = 0; k < count; k++) {                                                           \
            const YT *y = ys[k];                                                                       \
            const __m512 sc = _mm512_maskz_mul_ps(j > i ? 0xFFFF : 0x00FF, x0, _mm512_loadu_ps(pds[k] + 16 * (i / 2))); \
            const __m512i p = COMBINE(w0, LOCO_AVX512_NAME(act_pair)(y[i].qs, y[j].qs));               \
            acc0[k] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(p), acc0[k]);                             \
            if (MINS) accm[k] = _mm256_add_ps(accm[k], _mm256_maskz_mul_ps(0x55, xm, _mm256_loadu_ps(pms[k] + 8 * v))); \
        }                                                                                              \
    }                                                                                                  \
    for (size_t k = 0; k < count; k++)                                                                 \
        out[k] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[k], acc1[k])) + (MINS ? LOCO_AVX512_NAME(hsum_256)(accm[k]) : 0.0f)

#define LOCO_WQ_NIBBLES(x0, x1) LOCO_AVX512_NAME(nibble_pair)((x0)->qs, (x1)->qs)
#define LOCO_WQ_Q5(x0, x1) LOCO_AVX512_NAME(q5_pair)((x0)->qs, (x0)->qh, (x1)->qs, (x1)->qh)
#define LOCO_WQ_Q8(x0, x1) LOCO_AVX512_NAME(act_pair)((x0)->qs, (x1)->qs)
#define LOCO_COMBINE_PLAIN(w, a) LOCO_DPBUSD(_mm512_setzero_si512(), w, a)
#define LOCO_COMBINE_8(w, a) _mm512_sub_epi32(LOCO_DPBUSD(_mm512_setzero_si512(), w, a), LOCO_DPBUSD(_mm512_setzero_si512(), _mm512_set1_epi8(8), a))
#define LOCO_COMBINE_16(w, a) _mm512_sub_epi32(LOCO_DPBUSD(_mm512_setzero_si512(), w, a), LOCO_DPBUSD(_mm512_setzero_si512(), _mm512_set1_epi8(16), a))
#define LOCO_COMBINE_SIGNED(w, a) LOCO_DPBUSD(_mm512_setzero_si512(), _mm512_abs_epi8(w), _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a))
#define YT blk_q8_0
A512 static void LOCO_AVX512_NAME(multi_q4_0)(size_t nb, const blk_q4_0 *x, const blk_q8_0 *const *ys, const float *const *pds, const float *const *pms, size_t count, float *out) { (void)pms; LOCO_MULTI_BODY(LOCO_WQ_NIBBLES, LOCO_COMBINE_8, 0); }
A512 static void LOCO_AVX512_NAME(multi_q5_0)(size_t nb, const blk_q5_0 *x, const blk_q8_0 *const *ys, const float *const *pds, const float *const *pms, size_t count, float *out) { (void)pms; LOCO_MULTI_BODY(LOCO_WQ_Q5, LOCO_COMBINE_16, 0); }
A512 static void LOCO_AVX512_NAME(multi_q8_0)(size_t nb, const blk_q8_0 *x, const blk_q8_0 *const *ys, const float *const *pds, const float *const *pms, size_t count, float *out) { (void)pms; LOCO_MULTI_BODY(LOCO_WQ_Q8, LOCO_COMBINE_SIGNED, 0); }
#undef YT
#define YT blk_q8_1
A512 static void LOCO_AVX512_NAME(multi_q4_1)(size_t nb, const blk_q4_1 *x, const blk_q8_1 *const *ys, const float *const *pds, const float *const *pms, size_t count, float *out) { LOCO_MULTI_BODY(LOCO_WQ_NIBBLES, LOCO_COMBINE_PLAIN, 1); }
A512 static void LOCO_AVX512_NAME(multi_q5_1)(size_t nb, const blk_q5_1 *x, const blk_q8_1 *const *ys, const float *const *pds, const float *const *pms, size_t count, float *out) { LOCO_MULTI_BODY(LOCO_WQ_Q5, LOCO_COMBINE_PLAIN, 1); }
#undef YT
#undef LOCO_MULTI_BODY
#undef LOCO_WQ_NIBBLES
#undef LOCO_WQ_Q5
#undef LOCO_WQ_Q8
#undef LOCO_COMBINE_PLAIN
#undef LOCO_COMBINE_8
#undef LOCO_COMBINE_16
#undef LOCO_COMBINE_SIGNED

#undef A512
