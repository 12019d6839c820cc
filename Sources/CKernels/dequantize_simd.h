// SIMD dequantizers, included twice by dequantize.c: LOCO_DQ_TARGET names the target features,
// LOCO_DQ_NAME(x) suffixes every function, LOCO_DQ_WIDE picks 512-bit stores (else 2 x 256).
// Quant values are decoded 16 at a time into the bytes of a 128-bit register, converted exactly to
// float, then scaled with the same float operations as the scalar code.

#define A __attribute__((target(LOCO_DQ_TARGET)))
#define N(name) LOCO_DQ_NAME(name)

/// y[0..15] = (float)q * d, then + m (ADD), - m (SUB) or nothing (MUL).
enum { N(MUL), N(ADD), N(SUB) };

#if LOCO_DQ_WIDE
A static inline void N(put)(float *y, __m128i q, float d, float m, int op) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(d));
    if (op == N(ADD)) v = _mm512_add_ps(v, _mm512_set1_ps(m));
    if (op == N(SUB)) v = _mm512_sub_ps(v, _mm512_set1_ps(m));
    _mm512_storeu_ps(y, v);
}
#else
A static inline void N(put)(float *y, __m128i q, float d, float m, int op) {
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), dv);
    __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), dv);
    if (op == N(ADD)) { v0 = _mm256_add_ps(v0, mv); v1 = _mm256_add_ps(v1, mv); }
    if (op == N(SUB)) { v0 = _mm256_sub_ps(v0, mv); v1 = _mm256_sub_ps(v1, mv); }
    _mm256_storeu_ps(y, v0);
    _mm256_storeu_ps(y + 8, v1);
}
#endif

A static inline __m128i N(load)(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
A static inline __m128i N(low_nibbles)(__m128i q) { return _mm_and_si128(q, _mm_set1_epi8(0x0F)); }
A static inline __m128i N(high_nibbles)(__m128i q) { return _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F)); }
/// Each byte shifted right by `s` (0...6), keeping its two low bits.
A static inline __m128i N(two_bits)(__m128i q, int s) { return _mm_and_si128(_mm_srli_epi16(q, s), _mm_set1_epi8(3)); }

/// Bytes equal to `value` where `bits & mask` is set, else 0.
A static inline __m128i N(select)(__m128i bits, uint8_t mask, uint8_t value) {
    const __m128i m = _mm_set1_epi8((char)mask);
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(bits, m), m), _mm_set1_epi8((char)value));
}

/// 16 bits -> 16 bytes, bit j -> byte j: 0x10 where set (the Q5 formats' fifth bit).
A static inline __m128i N(bit4_bytes)(uint32_t bits16) {
    const __m128i spread = _mm_shuffle_epi8(_mm_set1_epi16((short)bits16), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    const __m128i select = _mm_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(spread, select), select), _mm_set1_epi8(0x10));
}

A static void N(dequantize_q4_0)(const blk_q4_0 *x, float *y, size_t nb) {
    const __m128i eight = _mm_set1_epi8(8);
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_f16c(x[i].d);
        const __m128i q = N(load)(x[i].qs);
        N(put)(y, _mm_sub_epi8(N(low_nibbles)(q), eight), d, 0, N(MUL));
        N(put)(y + 16, _mm_sub_epi8(N(high_nibbles)(q), eight), d, 0, N(MUL));
    }
}

A static void N(dequantize_q4_1)(const blk_q4_1 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_f16c(x[i].d), m = loco_half_f16c(x[i].m);
        const __m128i q = N(load)(x[i].qs);
        N(put)(y, N(low_nibbles)(q), d, m, N(ADD));
        N(put)(y + 16, N(high_nibbles)(q), d, m, N(ADD));
    }
}

A static void N(dequantize_q5_0)(const blk_q5_0 *x, float *y, size_t nb) {
    const __m128i sixteen = _mm_set1_epi8(16);
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_f16c(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const __m128i q = N(load)(x[i].qs);
        N(put)(y, _mm_sub_epi8(_mm_or_si128(N(low_nibbles)(q), N(bit4_bytes)(qh & 0xFFFF)), sixteen), d, 0, N(MUL));
        N(put)(y + 16, _mm_sub_epi8(_mm_or_si128(N(high_nibbles)(q), N(bit4_bytes)(qh >> 16)), sixteen), d, 0, N(MUL));
    }
}

A static void N(dequantize_q5_1)(const blk_q5_1 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_f16c(x[i].d), m = loco_half_f16c(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        const __m128i q = N(load)(x[i].qs);
        N(put)(y, _mm_or_si128(N(low_nibbles)(q), N(bit4_bytes)(qh & 0xFFFF)), d, m, N(ADD));
        N(put)(y + 16, _mm_or_si128(N(high_nibbles)(q), N(bit4_bytes)(qh >> 16)), d, m, N(ADD));
    }
}

A static void N(dequantize_q8_0)(const blk_q8_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = loco_half_f16c(x[i].d);
        N(put)(y, N(load)(x[i].qs), d, 0, N(MUL));
        N(put)(y + 16, N(load)(x[i].qs + 16), d, 0, N(MUL));
    }
}

A static void N(dequantize_q2_K)(const blk_q2_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_f16c(x[i].d), min = loco_half_f16c(x[i].dmin);
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const uint8_t sc = x[i].scales[8 * h + 2 * j + half];
                    const float dl = d * (float)(sc & 0xF), ml = min * (float)(sc >> 4);
                    N(put)(y, N(two_bits)(N(load)(x[i].qs + 32 * h + 16 * half), 2 * j), dl, ml, N(SUB));
                }
            }
        }
    }
}

A static void N(dequantize_q3_K)(const blk_q3_K *x, float *y, size_t nb) {
    const __m128i four = _mm_set1_epi8(4);
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_f16c(x[i].d);
        uint64_t lo, hi;
        loco_unpack_scales_q3_K(x[i].scales, &lo, &hi);
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const int k = 8 * h + 2 * j + half;
                    const float dl = d * (float)(loco_byte(k < 8 ? lo : hi, k & 7) - 32);
                    __m128i u = N(two_bits)(N(load)(x[i].qs + 32 * h + 16 * half), 2 * j);
                    u = _mm_or_si128(u, N(select)(N(load)(x[i].hmask + 16 * half), (uint8_t)(1u << (4 * h + j)), 4));
                    N(put)(y, _mm_sub_epi8(u, four), dl, 0, N(MUL));
                }
            }
        }
    }
}

A static inline void N(dequantize_k4)(uint16_t dh, uint16_t dminh, const uint8_t *scales, const uint8_t *qs,
                                      const uint8_t *qh, float *y) {
    const float d = loco_half_f16c(dh), min = loco_half_f16c(dminh);
    uint64_t sc, m;
    loco_unpack_scales_k4(scales, &sc, &m);
    for (int j = 0; j < 8; j++) {
        const float dl = d * (float)loco_byte(sc, j), ml = min * (float)loco_byte(m, j);
        for (int half = 0; half < 2; half++, y += 16) {
            const __m128i q = N(load)(qs + 32 * (j / 2) + 16 * half);
            __m128i v = (j & 1) ? N(high_nibbles)(q) : N(low_nibbles)(q);
            if (qh) v = _mm_or_si128(v, N(select)(N(load)(qh + 16 * half), (uint8_t)(1u << j), 16));
            N(put)(y, v, dl, ml, N(SUB));
        }
    }
}

A static void N(dequantize_q4_K)(const blk_q4_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) N(dequantize_k4)(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, y + 256 * i);
}

A static void N(dequantize_q5_K)(const blk_q5_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) N(dequantize_k4)(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, y + 256 * i);
}

A static void N(dequantize_q6_K)(const blk_q6_K *x, float *y, size_t nb) {
    const __m128i thirty_two = _mm_set1_epi8(32);
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_f16c(x[i].d);
        for (int h = 0; h < 2; h++) {
            // Values 32k + l of this half: ql[l] (k even) or ql[l + 32] (k odd), low nibble for
            // k < 2, high for k >= 2, and bits 2k, 2k+1 of qh[l] on top.
            for (int k = 0; k < 4; k++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    const int l = 16 * half;
                    const __m128i ql = N(load)(x[i].ql + 64 * h + 32 * (k & 1) + l);
                    const __m128i top = _mm_slli_epi16(N(two_bits)(N(load)(x[i].qh + 32 * h + l), 2 * k), 4);
                    const __m128i v = _mm_or_si128(k < 2 ? N(low_nibbles)(ql) : N(high_nibbles)(ql), top);
                    N(put)(y, _mm_sub_epi8(v, thirty_two), d * (float)x[i].scales[8 * h + 2 * k + half], 0, N(MUL));
                }
            }
        }
    }
}

A static void N(dequantize_q8_K)(const blk_q8_K *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        for (int j = 0; j < 256; j += 16, y += 16) N(put)(y, N(load)(x[i].qs + j), x[i].d, 0, N(MUL));
    }
}

/// Top base-3 digit of each byte minus one: ((q * 3) >> 8) - 1 = (q >= 86) + (q >= 171) - 1.
A static inline __m128i N(trits_minus_one)(__m128i q) {
    const __m128i ge86 = _mm_cmpeq_epi8(_mm_max_epu8(q, _mm_set1_epi8(86)), q);
    const __m128i ge171 = _mm_cmpeq_epi8(_mm_max_epu8(q, _mm_set1_epi8((char)171)), q);
    return _mm_sub_epi8(_mm_set1_epi8(-1), _mm_add_epi8(ge86, ge171));
}

/// Bytes times three, modulo 256.
A static inline __m128i N(times3)(__m128i q) { return _mm_add_epi8(q, _mm_add_epi8(q, q)); }

A static void N(dequantize_tq1_0)(const blk_tq1_0 *x, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, y += 256) {
        const float d = loco_half_f16c(x[i].d);
        __m128i q0 = N(load)(x[i].qs), q1 = N(load)(x[i].qs + 16), r = N(load)(x[i].qs + 32);
        for (int k = 0; k < 5; k++) {
            N(put)(y + 32 * k, N(trits_minus_one)(q0), d, 0, N(MUL));
            N(put)(y + 32 * k + 16, N(trits_minus_one)(q1), d, 0, N(MUL));
            N(put)(y + 160 + 16 * k, N(trits_minus_one)(r), d, 0, N(MUL));
            q0 = N(times3)(q0);
            q1 = N(times3)(q1);
            r = N(times3)(r);
        }
        // qh[0..3] times 1, 3, 9, 27 (modulo 256), 4 bytes each: values 240..255.
        uint32_t h4;
        memcpy(&h4, x[i].qh, 4);
        const __m128i h = _mm_set1_epi32((int)h4);
        const __m128i p = _mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27);
        const __m128i even = _mm_and_si128(_mm_mullo_epi16(h, p), _mm_set1_epi16(0x00FF));
        const __m128i odd = _mm_mullo_epi16(_mm_and_si128(h, _mm_set1_epi16((short)0xFF00)), p);
        N(put)(y + 240, N(trits_minus_one)(_mm_or_si128(even, odd)), d, 0, N(MUL));
    }
}

A static void N(dequantize_tq2_0)(const blk_tq2_0 *x, float *y, size_t nb) {
    const __m128i one = _mm_set1_epi8(1);
    for (size_t i = 0; i < nb; i++) {
        const float d = loco_half_f16c(x[i].d);
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 4; l++) {
                for (int half = 0; half < 2; half++, y += 16) {
                    N(put)(y, _mm_sub_epi8(N(two_bits)(N(load)(x[i].qs + 32 * h + 16 * half), 2 * l), one), d, 0, N(MUL));
                }
            }
        }
    }
}

#undef N
#undef A
