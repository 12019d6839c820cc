// AVX-512 dot products for the 256-value formats. Included twice by dot_k.c, with and without
// VNNI (see dot_avx512_legacy.h for LOCO_AVX512_TARGET, LOCO_AVX512_NAME and LOCO_DPBUSD).
//
// A super-block is four 512-bit registers of 64 values in element order. Each vpdpbusd lane sums
// four products of unsigned weights (below 64) with activations, so a lane stays below 2^15 and
// vpmaddwd against int32 lanes holding a zero-extended 16-bit scale multiplies it exactly: the
// sub-block scales are applied in integers, and each super-block becomes one float term.

#define A512 __attribute__((target(LOCO_AVX512_TARGET)))
#define N(name) LOCO_AVX512_NAME(name)

A512 static inline __m512i N(bcast256)(const uint8_t *p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p)); }
A512 static inline __m512i N(load512)(const void *p) { return _mm512_loadu_si512(p); }

/// Per-64-bit-lane shifts: the first 256 bits by `lo`, the rest by `hi`.
A512 static inline __m512i N(shift_halves)(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi64(lo), _mm256_set1_epi64x(hi), 1);
}

/// Bytes: the first 32 `lo`, the last 32 `hi`.
A512 static inline __m512i N(byte_halves)(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi8((char)lo), _mm256_set1_epi8((char)hi), 1);
}

/// Permutation spreading scale lanes: 16-value sub-blocks (register G holds sub-blocks 4G..4G+3,
/// one per 128-bit lane) or 32-value ones (register g holds sub-blocks 2g, 2g+1).
A512 static inline __m512i N(spread_by4)(int G) {
    return _mm512_setr_epi32(4 * G, 4 * G, 4 * G, 4 * G, 4 * G + 1, 4 * G + 1, 4 * G + 1, 4 * G + 1,
                             4 * G + 2, 4 * G + 2, 4 * G + 2, 4 * G + 2, 4 * G + 3, 4 * G + 3, 4 * G + 3, 4 * G + 3);
}
A512 static inline __m512i N(spread_by8)(int g) {
    return _mm512_inserti64x4(_mm512_set1_epi32(2 * g), _mm256_set1_epi32(2 * g + 1), 1);
}

A512 static inline float N(hsum_ps_256)(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

A512 static float N(dot_q2_K)(size_t nb, const blk_q2_K *x, const blk_q8_K *y) {
    const __m512i zero = _mm512_setzero_si512(), m3 = _mm512_set1_epi8(3);
    const __m512i shifts[2] = {N(shift_halves)(0, 2), N(shift_halves)(4, 6)};
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m512i sc = _mm512_cvtepu8_epi32(_mm_and_si128(raw, _mm_set1_epi8(0x0F)));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)));
        const __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), m16);
        __m512i isum = zero;
        for (int G = 0; G < 4; G++) {
            const __m512i u = _mm512_and_si512(_mm512_srlv_epi64(N(bcast256)(x[i].qs + 32 * (G / 2)), shifts[G & 1]), m3);
            const __m512i p = LOCO_DPBUSD(zero, u, N(load512)(y[i].qs + 64 * G));
            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, _mm512_permutexvar_epi32(N(spread_by4)(G), sc)));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(loco_half_f16c(x[i].d) * y[i].d), _mm512_cvtepi32_ps(isum), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(x[i].dmin) * y[i].d), _mm256_cvtepi32_ps(mins), accm);
    }
    return _mm512_reduce_add_ps(acc) - N(hsum_ps_256)(accm);
}

A512 static float N(dot_q3_K)(size_t nb, const blk_q3_K *x, const blk_q8_K *y) {
    const __m512i zero = _mm512_setzero_si512(), m3 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
    const __m512i shifts[2] = {N(shift_halves)(0, 2), N(shift_halves)(4, 6)};
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        const __m128i s8 = _mm_sub_epi8(_mm_set_epi64x((long long)hi, (long long)lo), _mm_set1_epi8(32));
        const __m512i sc = _mm512_and_si512(_mm512_cvtepi8_epi32(s8), _mm512_set1_epi32(0xFFFF));
        const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_cvtepi8_epi16(s8));
        const __m512i hm = N(bcast256)(x[i].hmask);
        __m512i isum = zero;
        for (int G = 0; G < 4; G++) {
            // value + 4 = low two bits | 4 where the hmask bit is set; the 4s come back out below.
            __m512i u = _mm512_and_si512(_mm512_srlv_epi64(N(bcast256)(x[i].qs + 32 * (G / 2)), shifts[G & 1]), m3);
            u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(hm, N(byte_halves)(1 << (2 * G), 1 << (2 * G + 1))), u, four);
            const __m512i p = LOCO_DPBUSD(zero, u, N(load512)(y[i].qs + 64 * G));
            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, _mm512_permutexvar_epi32(N(spread_by4)(G), sc)));
        }
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 2)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(loco_half_f16c(x[i].d) * y[i].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/// Q4_K and Q5_K (`qh` null for Q4_K): adds d * isum to *acc, d_min * mins to *accm.
A512 static inline void N(dot_k4)(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                  const blk_q8_K *y, __m512 *acc, __m256 *accm) {
    const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    uint64_t sc64, m64;
    loco_unpack_scales_k4(scales, &sc64, &m64);
    const __m512i sc = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc64));
    const __m256i pairs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), _mm256_set1_epi16(1));
    const __m256i mins = _mm256_madd_epi16(pairs, _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m64)));
    const __m512i bits = qh ? N(bcast256)(qh) : zero;
    __m512i isum = zero;
    for (int g = 0; g < 4; g++) {
        __m512i u = _mm512_and_si512(_mm512_srlv_epi64(N(bcast256)(qs + 32 * g), N(shift_halves)(0, 4)), m4);
        if (qh) u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(bits, N(byte_halves)(1 << (2 * g), 2 << (2 * g))), u, sixteen);
        const __m512i p = LOCO_DPBUSD(zero, u, N(load512)(y->qs + 64 * g));
        isum = _mm512_add_epi32(isum, _mm512_madd_epi16(p, _mm512_permutexvar_epi32(N(spread_by8)(g), sc)));
    }
    *acc = _mm512_fmadd_ps(_mm512_set1_ps(loco_half_f16c(d) * y->d), _mm512_cvtepi32_ps(isum), *acc);
    *accm = _mm256_fmadd_ps(_mm256_set1_ps(loco_half_f16c(dmin) * y->d), _mm256_cvtepi32_ps(mins), *accm);
}

A512 static float N(dot_q4_K)(size_t nb, const blk_q4_K *x, const blk_q8_K *y) {
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        N(dot_k4)(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, &y[i], &acc, &accm);
    }
    return _mm512_reduce_add_ps(acc) - N(hsum_ps_256)(accm);
}

A512 static float N(dot_q5_K)(size_t nb, const blk_q5_K *x, const blk_q8_K *y) {
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        N(dot_k4)(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, &y[i], &acc, &accm);
    }
    return _mm512_reduce_add_ps(acc) - N(hsum_ps_256)(accm);
}

A512 static float N(dot_q6_K)(size_t nb, const blk_q6_K *x, const blk_q8_K *y) {
    const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i up = N(shift_halves)(4, 2), down = N(shift_halves)(0, 2);
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m512i sc = _mm512_and_si512(_mm512_cvtepi8_epi32(s8), _mm512_set1_epi32(0xFFFF));
        const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_cvtepi8_epi16(s8));
        __m512i isum = zero;
        for (int h = 0; h < 2; h++) {
            const __m512i ql = N(load512)(x[i].ql + 64 * h);
            const __m512i qh = N(bcast256)(x[i].qh + 32 * h);
            // Unsigned 6-bit values, (low nibble | two qh bits << 4); the -32 comes back below.
            // Values 0..63 of the half: ql[0..63] low nibbles, qh bits 0-1 then 2-3.
            const __m512i lo = _mm512_ternarylogic_epi32(ql, _mm512_and_si512(_mm512_sllv_epi64(qh, up), m30), m4, 0xEC);
            // Values 64..127: ql[0..63] high nibbles, qh bits 4-5 then 6-7.
            const __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_and_si512(_mm512_srlv_epi64(qh, down), m30), m4, 0xEC);
            const __m512i plo = LOCO_DPBUSD(zero, lo, N(load512)(y[i].qs + 128 * h));
            const __m512i phi = LOCO_DPBUSD(zero, hi, N(load512)(y[i].qs + 128 * h + 64));
            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(plo, _mm512_permutexvar_epi32(N(spread_by4)(2 * h), sc)));
            isum = _mm512_add_epi32(isum, _mm512_madd_epi16(phi, _mm512_permutexvar_epi32(N(spread_by4)(2 * h + 1), sc)));
        }
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(loco_half_f16c(x[i].d) * y[i].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/// Bytes times per-16-bit-lane constants, modulo 256: (x * p) keeps the even bytes, the odd ones
/// come from (x & 0xFF00) * p; ternary logic 0xEC = (a & c) | b.
A512 static inline __m512i N(mul_bytes)(__m512i x, __m512i p) {
    const __m512i odd = _mm512_mullo_epi16(_mm512_and_si512(x, _mm512_set1_epi16((short)0xFF00)), p);
    return _mm512_ternarylogic_epi32(_mm512_mullo_epi16(x, p), odd, _mm512_set1_epi16(0x00FF), 0xEC);
}

/// Top base-3 digit of each byte: (q * 3) >> 8 = (q >= 86) + (q >= 171).
A512 static inline __m512i N(trits)(__m512i q) {
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i t = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(q, _mm512_set1_epi8(86)), one);
    return _mm512_mask_add_epi8(t, _mm512_cmpge_epu8_mask(q, _mm512_set1_epi8((char)171)), t, one);
}

/// 16-bit multipliers, one per 128-bit lane.
A512 static inline __m512i N(u16_lanes)(int l0, int l1, int l2, int l3) {
    __m512i v = _mm512_castsi128_si512(_mm_set1_epi16((short)l0));
    v = _mm512_inserti32x4(v, _mm_set1_epi16((short)l1), 1);
    v = _mm512_inserti32x4(v, _mm_set1_epi16((short)l2), 2);
    return _mm512_inserti32x4(v, _mm_set1_epi16((short)l3), 3);
}

A512 static float N(dot_tq1_0)(size_t nb, const blk_tq1_0 *x, const blk_q8_K *y) {
    // Value layout: qs[0..31] times 1, 3, 9, 27, 81 give values 0..159; qs[32..47] times the same
    // give 160..239; qh[0..3] times 1, 3, 9, 27 give 240..255.
    const __m512i p0 = N(u16_lanes)(1, 1, 3, 3), p1 = N(u16_lanes)(9, 9, 27, 27), p2 = N(u16_lanes)(81, 81, 1, 3);
    const __m512i p3 = _mm512_inserti32x4(N(u16_lanes)(9, 27, 81, 0), _mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27), 3);
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        const __m512i a32 = N(bcast256)(x[i].qs);
        const __m128i r = _mm_loadu_si128((const __m128i *)(x[i].qs + 32));
        uint32_t h4;
        memcpy(&h4, x[i].qh, 4);
        const __m512i a16 = _mm512_inserti64x4(a32, _mm256_broadcastsi128_si256(r), 1);
        const __m512i r16 = _mm512_mask_set1_epi32(_mm512_broadcast_i32x4(r), 0xF000, (int)h4);
        __m512i isum = LOCO_DPBUSD(_mm512_setzero_si512(), N(trits)(N(mul_bytes)(a32, p0)), N(load512)(y[i].qs));
        isum = LOCO_DPBUSD(isum, N(trits)(N(mul_bytes)(a32, p1)), N(load512)(y[i].qs + 64));
        isum = LOCO_DPBUSD(isum, N(trits)(N(mul_bytes)(a16, p2)), N(load512)(y[i].qs + 128));
        isum = LOCO_DPBUSD(isum, N(trits)(N(mul_bytes)(r16, p3)), N(load512)(y[i].qs + 192));
        const __m256i bsum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_set1_epi16(1));
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(bsum));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(loco_half_f16c(x[i].d) * y[i].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

A512 static float N(dot_tq2_0)(size_t nb, const blk_tq2_0 *x, const blk_q8_K *y) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i shifts[2] = {N(shift_halves)(0, 2), N(shift_halves)(4, 6)};
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        loco_prefetch(&x[i], sizeof x[i]);
        __m512i isum = _mm512_setzero_si512();
        for (int G = 0; G < 4; G++) {
            const __m512i u = _mm512_and_si512(_mm512_srlv_epi64(N(bcast256)(x[i].qs + 32 * (G / 2)), shifts[G & 1]), m3);
            isum = LOCO_DPBUSD(isum, u, N(load512)(y[i].qs + 64 * G));
        }
        const __m256i bsum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_set1_epi16(1));
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(bsum));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(loco_half_f16c(x[i].d) * y[i].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

#undef N
#undef A512
