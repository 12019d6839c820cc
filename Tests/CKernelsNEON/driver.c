// Checks the NEON kernels of Sources/CKernels against the scalar code, on an ARM64 CPU or under
// qemu-aarch64 (scripts/test-neon.sh builds and runs it). Every variant the CPU offers runs:
// scalar (feature mask 0), `neon` (LOCO_CPU_NEON) and `neondot` (NEON + DOTPROD).
//
// Rules, as Sources/CKernels/README.md states them: quantizers byte-identical, dequantizers and
// conversions bit-identical, dot products within (n + 4) * 2^-24 * M of the scalar result
// (M = sum |w_i a_i|), the exp-based activations and the float products within stated bounds.
// With a fixture directory argument (made by the script from the committed ggml fixtures), the
// quantizer bytes, dequantized bits and dot products are also compared with ggml's.
//
//   driver [FIXTURE_DIR]      prints "N passed, M failed"; exit status 1 on any failure.
#include "CKernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0, reported = 0;

static void check(int ok, const char *what, const char *variant) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    if (reported++ < 40) printf("FAIL %s [%s]\n", what, variant);
}

// MARK: - Variants

typedef struct { const char *name; uint32_t mask; } Variant;
static Variant variants[3];
static int variant_count = 0;

static void find_variants(void) {
    loco_set_cpu_feature_mask(0xFFFFFFFFu);
    const uint32_t cpu = loco_cpu_features();
    const Variant all[3] = {{"scalar", 0}, {"neon", LOCO_CPU_NEON}, {"neondot", LOCO_CPU_NEON | LOCO_CPU_DOTPROD}};
    for (int i = 0; i < 3; i++) {
        if ((all[i].mask & cpu) == all[i].mask) variants[variant_count++] = all[i];
    }
}

// MARK: - Random data (splitmix64)

static uint64_t rng_state;
static uint64_t next(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float unit(void) { return (float)(next() >> 40) / (float)(1 << 24); }
static float signed_unit(void) { return unit() * 2 - 1; }

static float from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t bits_of(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/// Activations with block magnitudes from 1e-3 to 1e2, halfway values and ties of opposite signs
/// (as KernelTests.activations), then the edge cases of `edge`: 1 zero blocks, 2 huge values,
/// 3 a subnormal maximum, 4 infinities and NaNs.
static void activations(float *x, size_t n, uint64_t seed, int edge) {
    rng_state = seed;
    for (size_t b = 0; b < n / 32; b++) {
        const float scale = powf(10.0f, unit() * 5 - 3);
        for (int j = 0; j < 32; j++) x[32 * b + j] = signed_unit() * scale;
    }
    if (n >= 512) {
        for (int j = 0; j < 32; j++) x[j] = (float)((int)(next() % 120) - 60) + 0.5f;
        x[0] = 127;
        x[256 + 5] = -1000;
        x[256 + 77] = 1000;
    }
    if (n >= 256) {
        for (int j = 32; j < 64; j++) x[j] = 0;  // a zero Q8_0 block
        x[100] = -x[101];                          // ties of opposite sign
    }
    for (size_t i = 0; i < n && edge; i++) {
        switch (edge) {
        case 1: if (i % 256 < 128) x[i] = 0; break;
        case 2: if (i % 37 == 0) x[i] = (i % 2 ? -3e38f : 3e38f); break;
        case 3: x[i] = (i % 5 == 0) ? 0.0f : from_bits((uint32_t)(next() % 0x7FFFFF)) * (i % 2 ? -1 : 1); break;
        case 4:
            if (i % 53 == 0) x[i] = INFINITY;
            if (i % 71 == 0) x[i] = -INFINITY;
            if (i % 61 == 0) x[i] = from_bits(0x7FC00000u | (uint32_t)(next() & 0x3FFFFF));
            if (i % 67 == 0) x[i] = from_bits(0xFF800001u | (uint32_t)(next() & 0x3FFFFF));  // signaling
            break;
        }
    }
}

// MARK: - Formats

typedef float (*DotFn)(size_t, const void *, const void *);
typedef void (*DequantFn)(const void *, float *, size_t);
typedef void (*QuantFn)(const float *, void *, size_t);

typedef struct {
    const char *name;
    int block_values, block_bytes;
    int halves[2], half_count;
    int quants_lo, quants_hi;  // bytes holding the quants of a format with a minimum, else 0, 0
    int activation;            // 0 Q8_0, 1 Q8_1, 2 Q8_K
    DotFn dot;
    DequantFn dequantize;
    // The panel form's minimum (scale * q + min with q >= 0): the value of bytes lo..<hi set to `fill`.
    int panel_lo, panel_hi, panel_fill;
} Format;

static const Format formats[] = {
    {"q4_0", 32, 18, {0}, 1, 0, 0, 0, loco_vec_dot_q4_0_q8_0, loco_dequantize_row_q4_0, 2, 18, 0x00},
    {"q4_1", 32, 20, {0, 2}, 2, 4, 20, 1, loco_vec_dot_q4_1_q8_1, loco_dequantize_row_q4_1, 4, 20, 0x00},
    {"q5_0", 32, 22, {0}, 1, 0, 0, 0, loco_vec_dot_q5_0_q8_0, loco_dequantize_row_q5_0, 2, 22, 0x00},
    {"q5_1", 32, 24, {0, 2}, 2, 4, 24, 1, loco_vec_dot_q5_1_q8_1, loco_dequantize_row_q5_1, 4, 24, 0x00},
    {"q8_0", 32, 34, {0}, 1, 0, 0, 0, loco_vec_dot_q8_0_q8_0, loco_dequantize_row_q8_0, 2, 34, 0x80},
    {"q2_K", 256, 84, {80, 82}, 2, 16, 80, 2, loco_vec_dot_q2_K_q8_K, loco_dequantize_row_q2_K, 16, 80, 0x00},
    {"q3_K", 256, 110, {108}, 1, 0, 0, 2, loco_vec_dot_q3_K_q8_K, loco_dequantize_row_q3_K, 0, 96, 0x00},
    {"q4_K", 256, 144, {0, 2}, 2, 16, 144, 2, loco_vec_dot_q4_K_q8_K, loco_dequantize_row_q4_K, 16, 144, 0x00},
    {"q5_K", 256, 176, {0, 2}, 2, 16, 176, 2, loco_vec_dot_q5_K_q8_K, loco_dequantize_row_q5_K, 16, 176, 0x00},
    {"q6_K", 256, 210, {208}, 1, 0, 0, 2, loco_vec_dot_q6_K_q8_K, loco_dequantize_row_q6_K, 0, 192, 0x00},
    {"tq1_0", 256, 54, {52}, 1, 0, 0, 2, loco_vec_dot_tq1_0_q8_K, loco_dequantize_row_tq1_0, 0, 52, 0x00},
    {"tq2_0", 256, 66, {64}, 1, 0, 0, 2, loco_vec_dot_tq2_0_q8_K, loco_dequantize_row_tq2_0, 0, 64, 0x00},
};
enum { FORMAT_COUNT = sizeof formats / sizeof formats[0] };

static const struct { const char *name; int block_values, block_bytes; QuantFn quantize; DequantFn dequantize; } acts[3] = {
    {"q8_0", 32, 34, loco_quantize_row_q8_0, loco_dequantize_row_q8_0},
    {"q8_1", 32, 36, loco_quantize_row_q8_1, NULL},
    {"q8_K", 256, 292, loco_quantize_row_q8_K, loco_dequantize_row_q8_K},
};

static size_t act_bytes(int a, size_t n) { return n / acts[a].block_values * acts[a].block_bytes; }

/// Random blocks with half scales of either sign between 1e-3 and 5e-2 (`special`: also
/// subnormal, zero, infinite and NaN halves now and then, for the bit-identity checks).
static uint8_t *weights(const Format *f, size_t blocks, uint64_t seed, int special) {
    rng_state = seed;
    uint8_t *w = malloc(blocks * f->block_bytes);
    for (size_t i = 0; i < blocks * f->block_bytes; i++) w[i] = (uint8_t)next();
    for (size_t b = 0; b < blocks; b++) {
        for (int h = 0; h < f->half_count; h++) {
            uint16_t half;
            float v = (0.001f + unit() * 0.049f) * ((next() & 1) ? -1.0f : 1.0f);
            loco_f32_to_f16_row(&v, &half, 1);
            if (special) {
                static const uint16_t odd[] = {0x0001, 0x83FF, 0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0x7C01, 0xFD55, 0x7BFF};
                if (next() % 4 == 0) half = odd[next() % (sizeof odd / sizeof odd[0])];
            }
            memcpy(w + b * f->block_bytes + f->halves[h], &half, 2);
        }
    }
    return w;
}

// MARK: - Quantizers: byte-identical

static void test_quantizers(void) {
    static const size_t sizes[] = {256, 512, 2048 + 256};
    for (size_t s = 0; s < 3; s++) {
        const size_t n = sizes[s];
        float *x = malloc(n * sizeof(float));
        for (int edge = 0; edge <= 4; edge++) {
            for (int seed = 0; seed < 4; seed++) {
                activations(x, n, n * 131 + (size_t)seed * 7 + (size_t)edge, edge);
                for (int a = 0; a < 3; a++) {
                    const size_t bytes = act_bytes(a, n);
                    uint8_t *ref = calloc(bytes, 1), *out = calloc(bytes, 1);
                    loco_set_cpu_feature_mask(0);
                    acts[a].quantize(x, ref, n);
                    for (int v = 1; v < variant_count; v++) {
                        loco_set_cpu_feature_mask(variants[v].mask);
                        memset(out, 0xA5, bytes);
                        acts[a].quantize(x, out, n);
                        char what[96];
                        snprintf(what, sizeof what, "quantize %s n=%zu edge=%d seed=%d", acts[a].name, n, edge, seed);
                        check(memcmp(ref, out, bytes) == 0, what, variants[v].name);
                    }
                    free(ref);
                    free(out);
                }
            }
        }
        free(x);
    }
    // The rounding rules themselves (scalar and SIMD alike): amax 127 gives d = 1, halves to even.
    float x[256] = {0};
    x[0] = 127; x[1] = 2.5f; x[2] = -3.5f; x[3] = 4.5f;
    for (int v = 0; v < variant_count; v++) {
        loco_set_cpu_feature_mask(variants[v].mask);
        uint8_t q[34];
        loco_quantize_row_q8_0(x, q, 32);
        check((int8_t)q[2] == 127 && (int8_t)q[3] == 2 && (int8_t)q[4] == -4 && (int8_t)q[5] == 4 && q[0] == 0 && q[1] == 0x3C,
              "q8_0 rounds half to even", variants[v].name);
        float y[256] = {0};
        y[7] = -2; y[9] = 2; y[10] = 1;
        uint8_t k[292];
        loco_quantize_row_q8_K(y, k, 256);
        check((int8_t)k[4 + 7] == -127 && (int8_t)k[4 + 9] == 127 && (int8_t)k[4 + 10] == 64, "q8_K takes the first signed maximum",
              variants[v].name);
    }
}

// MARK: - Dequantizers: bit-identical

static void test_dequantizers(void) {
    for (int fi = 0; fi < FORMAT_COUNT; fi++) {
        const Format *f = &formats[fi];
        static const size_t small[] = {1, 3, 64, 67}, large[] = {1, 3, 9, 16};
        for (int c = 0; c < 4; c++) {
            const size_t blocks = f->block_values == 32 ? small[c] : large[c];
            const size_t n = blocks * f->block_values;
            for (int special = 0; special < 2; special++) {
                uint8_t *w = weights(f, blocks, blocks * 31 + f->block_bytes + (uint64_t)special * 1000, special);
                float *ref = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
                loco_set_cpu_feature_mask(0);
                f->dequantize(w, ref, n);
                for (int v = 1; v < variant_count; v++) {
                    loco_set_cpu_feature_mask(variants[v].mask);
                    memset(out, 0xA5, n * sizeof(float));
                    f->dequantize(w, out, n);
                    char what[96];
                    snprintf(what, sizeof what, "dequantize %s blocks=%zu special=%d", f->name, blocks, special);
                    check(memcmp(ref, out, n * sizeof(float)) == 0, what, variants[v].name);
                }
                free(w); free(ref); free(out);
            }
        }
    }
    // Q8_K blocks (the activation format) dequantize too.
    const size_t n = 1024;
    float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    uint8_t *q = malloc(act_bytes(2, n));
    activations(x, n, 99, 0);
    loco_set_cpu_feature_mask(0);
    loco_quantize_row_q8_K(x, q, n);
    loco_dequantize_row_q8_K(q, ref, n);
    for (int v = 1; v < variant_count; v++) {
        loco_set_cpu_feature_mask(variants[v].mask);
        loco_dequantize_row_q8_K(q, out, n);
        check(memcmp(ref, out, n * sizeof(float)) == 0, "dequantize q8_K", variants[v].name);
    }
    free(x); free(ref); free(out); free(q);
}

// MARK: - Dot products: within (n + 4) * 2^-24 * M

/// sum (|value_i - min_i| + |min_i|) |a_i|, min_i the dequantized value with bytes lo..<hi of
/// every block set to `fill` (no minimum when hi is 0).
static double magnitude_with(const Format *f, const uint8_t *w, const float *a, size_t n, int lo, int hi, int fill) {
    const size_t blocks = n / f->block_values;
    float *values = malloc(n * sizeof(float)), *mins = calloc(n, sizeof(float));
    const uint32_t saved = loco_cpu_feature_mask();
    loco_set_cpu_feature_mask(0);
    f->dequantize(w, values, n);
    if (hi) {
        uint8_t *zeroed = malloc(blocks * f->block_bytes);
        memcpy(zeroed, w, blocks * f->block_bytes);
        for (size_t b = 0; b < blocks; b++) memset(zeroed + b * f->block_bytes + lo, fill, (size_t)(hi - lo));
        f->dequantize(zeroed, mins, n);
        free(zeroed);
    }
    loco_set_cpu_feature_mask(saved);
    double m = 0;
    for (size_t i = 0; i < n; i++) m += (fabs((double)values[i] - mins[i]) + fabs((double)mins[i])) * fabs((double)a[i]);
    free(values);
    free(mins);
    return m;
}

/// M = sum |scale part_i a_i| + |min part_i a_i| (KernelTests.magnitude), from the scalar dequantizer.
static double magnitude(const Format *f, const uint8_t *w, const float *a, size_t n) {
    return magnitude_with(f, w, a, n, f->quants_lo, f->quants_hi, 0);
}

static double dot_bound(size_t n, double m) { return (double)(n + 4) * 0x1p-24 * m * 1.01; }

/// Dequantized activations (d * q); Q8_1 has no dequantizer, so its d * q is formed here.
static void activation_values(int a, const uint8_t *q, float *out, size_t n) {
    if (a == 1) {
        for (size_t b = 0; b < n / 32; b++) {
            uint16_t d;
            memcpy(&d, q + 36 * b, 2);
            for (int j = 0; j < 32; j++) out[32 * b + j] = loco_f16_to_f32_scalar(d) * (float)(int8_t)q[36 * b + 4 + j];
        }
    } else {
        const uint32_t saved = loco_cpu_feature_mask();
        loco_set_cpu_feature_mask(0);
        acts[a].dequantize(q, out, n);
        loco_set_cpu_feature_mask(saved);
    }
}

static double worst_dot = 0;

static void test_dots(void) {
    for (int fi = 0; fi < FORMAT_COUNT; fi++) {
        const Format *f = &formats[fi];
        static const size_t small[] = {1, 2, 7, 64, 67}, large[] = {1, 2, 3, 8, 9};
        for (int c = 0; c < 5; c++) {
            const size_t blocks = f->block_values == 32 ? small[c] : large[c];
            const size_t n = blocks * f->block_values;
            for (int seed = 0; seed < 3; seed++) {
                uint8_t *w = weights(f, blocks, blocks * 17 + (uint64_t)seed * 101 + f->block_bytes, 0);
                float *x = malloc(n * sizeof(float)), *av = malloc(n * sizeof(float));
                uint8_t *a = malloc(act_bytes(f->activation, n));
                activations(x, n, blocks + 7 + (uint64_t)seed * 3, seed == 2 ? 1 : 0);
                loco_set_cpu_feature_mask(0);
                acts[f->activation].quantize(x, a, n);
                activation_values(f->activation, a, av, n);
                const double m = magnitude(f, w, av, n);
                const float ref = f->dot(n, w, a);
                for (int v = 1; v < variant_count; v++) {
                    loco_set_cpu_feature_mask(variants[v].mask);
                    const float got = f->dot(n, w, a);
                    const double err = fabs((double)got - ref);
                    if (m > 0 && err / m > worst_dot) worst_dot = err / m;
                    char what[128];
                    snprintf(what, sizeof what, "dot %s blocks=%zu seed=%d: %.9g vs scalar %.9g", f->name, blocks, seed, got, ref);
                    check(err <= dot_bound(n, m), what, variants[v].name);
                }
                free(w); free(x); free(av); free(a);
            }
        }
    }
}

// MARK: - Conversions: bit-identical

static void test_conversions(void) {
    // Every half, plus a tail that is not a multiple of the vector width.
    const size_t nh = 65536 + 5;
    uint16_t *h = malloc(nh * 2);
    for (size_t i = 0; i < nh; i++) h[i] = (uint16_t)(i < 65536 ? i : 0x7C01 + i);
    float *ref = malloc(nh * sizeof(float)), *out = malloc(nh * sizeof(float));
    // Floats: random bit patterns, halfway cases, the binary16 range edges, NaN payloads.
    const size_t nf = 20000 + 3;
    float *f = malloc(nf * sizeof(float));
    rng_state = 12345;
    for (size_t i = 0; i < nf; i++) {
        const uint32_t r = (uint32_t)next();
        switch (i % 8) {
        case 0: f[i] = from_bits(r); break;                                     // anything, NaNs included
        case 1: f[i] = from_bits((r & 0x80000000u) | (0x33000000u + (r % 0x14800000u))); break;  // around the half range
        case 2: f[i] = from_bits((bits_of((float)(r % 65536)) & ~0x1FFFu) | 0x1000u); break;    // half ties
        case 3: f[i] = from_bits((r & 0x807FFFFFu) | 0x7F800000u); break;       // NaN or infinity
        case 4: f[i] = ((r & 1) ? -1.0f : 1.0f) * ldexpf((float)(r >> 8 & 0x7FF), -24 - (int)(r >> 20 & 15)); break;  // subnormal halves
        case 5: f[i] = from_bits((bits_of(65504.0f) + (r % 0x20000u)) | (r & 0x80000000u)); break;  // overflow edge
        case 6: f[i] = from_bits((r & 0xFFFF0000u) | 0x8000u); break;           // bfloat16 ties
        default: f[i] = signed_unit() * 1000; break;
        }
    }
    uint16_t *href = malloc(nf * 2), *hout = malloc(nf * 2);
    for (int v = 0; v < variant_count; v++) {
        char what[64];
        loco_set_cpu_feature_mask(variants[v].mask);
        for (size_t len = nh - 12; len <= nh; len += 4) {
            loco_f16_to_f32_row(h, out, len);
            int ok = 1;
            for (size_t i = 0; i < len; i++) ok &= bits_of(out[i]) == bits_of(loco_f16_to_f32_scalar(h[i]));
            snprintf(what, sizeof what, "f16 -> f32, %zu values", len);
            check(ok, what, variants[v].name);
            loco_bf16_to_f32_row(h, out, len);
            ok = 1;
            for (size_t i = 0; i < len; i++) ok &= bits_of(out[i]) == (uint32_t)h[i] << 16;
            snprintf(what, sizeof what, "bf16 -> f32, %zu values", len);
            check(ok, what, variants[v].name);
        }
        for (size_t len = nf - 10; len <= nf; len += 5) {
            loco_f32_to_f16_row(f, hout, len);
            int ok = 1;
            for (size_t i = 0; i < len; i++) ok &= hout[i] == loco_f32_to_f16_scalar(f[i]);
            snprintf(what, sizeof what, "f32 -> f16, %zu values", len);
            check(ok, what, variants[v].name);
            loco_set_cpu_feature_mask(0);
            loco_f32_to_bf16_row(f, href, len);
            loco_set_cpu_feature_mask(variants[v].mask);
            loco_f32_to_bf16_row(f, hout, len);
            snprintf(what, sizeof what, "f32 -> bf16, %zu values", len);
            check(memcmp(href, hout, len * 2) == 0, what, variants[v].name);
        }
    }
    (void)ref;
    free(h); free(ref); free(out); free(f); free(href); free(hout);
}

// MARK: - Activations: within bounds

static int close_to(double got, double want, double tolerance) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tolerance;
}

static void test_activations(void) {
    static const size_t sizes[] = {1, 3, 4, 7, 8, 16, 33, 100, 1000, 4099};
    const double u = 0x1p-24;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
        float *up = malloc(n * sizeof(float)), *dh = malloc(n * sizeof(float));
        float *dg_ref = malloc(n * sizeof(float)), *du_ref = malloc(n * sizeof(float));
        float *dg = malloc(n * sizeof(float)), *du = malloc(n * sizeof(float));
        for (int seed = 0; seed < 3; seed++) {
            rng_state = n * 7 + (size_t)seed;
            for (size_t i = 0; i < n; i++) {
                x[i] = signed_unit() * (seed == 0 ? 20 : seed == 1 ? 100 : 3);
                up[i] = signed_unit() * 4;
                dh[i] = signed_unit();
            }
            if (seed == 1 && n > 8) { x[0] = -200; x[1] = 200; x[2] = 0; x[3] = -88.5f; x[4] = 88.8f; x[5] = -87.4f; }
            // Softmax: every output within a relative (n + 16) u, the log-sum-exp within (n + 16) u of its terms.
            memcpy(ref, x, n * sizeof(float));
            loco_set_cpu_feature_mask(0);
            const float lse_ref = loco_log_softmax_f32(ref, n);
            // SwiGLU and its backward, in the scalar code.
            float *g_ref = malloc(n * sizeof(float));
            memcpy(g_ref, x, n * sizeof(float));
            loco_swiglu_f32(g_ref, up, n);
            loco_swiglu_backward_f32(x, up, dh, dg_ref, du_ref, n);
            for (int v = 1; v < variant_count; v++) {
                char what[96];
                loco_set_cpu_feature_mask(variants[v].mask);
                memcpy(out, x, n * sizeof(float));
                const float lse = loco_log_softmax_f32(out, n);
                int ok = 1;
                for (size_t i = 0; i < n; i++) ok &= close_to(out[i], ref[i], (n + 16) * u * fabs(ref[i]) + 1e-37);
                snprintf(what, sizeof what, "softmax n=%zu seed=%d", n, seed);
                check(ok, what, variants[v].name);
                float maximum = -INFINITY;
                for (size_t i = 0; i < n; i++) maximum = x[i] > maximum ? x[i] : maximum;
                snprintf(what, sizeof what, "log-sum-exp n=%zu seed=%d: %.9g vs %.9g", n, seed, lse, lse_ref);
                check(close_to(lse, lse_ref, (n + 16) * u * (fabs(maximum) + fabs((double)lse_ref - maximum) + 1)), what, variants[v].name);

                memcpy(out, x, n * sizeof(float));
                loco_swiglu_f32(out, up, n);
                ok = 1;
                for (size_t i = 0; i < n; i++) ok &= close_to(out[i], g_ref[i], 16 * u * fabs(g_ref[i]) + 1e-30);
                snprintf(what, sizeof what, "swiglu n=%zu seed=%d", n, seed);
                check(ok, what, variants[v].name);

                loco_swiglu_backward_f32(x, up, dh, dg, du, n);
                ok = 1;
                for (size_t i = 0; i < n; i++) {
                    const double sg = 1 / (1 + exp(-(double)x[i]));
                    const double mag = fabs((double)dh[i]) * (fabs((double)up[i]) * sg * (1 + fabs((double)x[i]) * (1 - sg)) + fabs((double)x[i]) * sg);
                    ok &= close_to(dg[i], dg_ref[i], 32 * u * mag + 1e-30) && close_to(du[i], du_ref[i], 32 * u * mag + 1e-30);
                }
                snprintf(what, sizeof what, "swiglu backward n=%zu seed=%d", n, seed);
                check(ok, what, variants[v].name);
            }
            // dgate may alias dh.
            for (int v = 1; v < variant_count; v++) {
                loco_set_cpu_feature_mask(variants[v].mask);
                float *alias = malloc(n * sizeof(float));
                memcpy(alias, dh, n * sizeof(float));
                loco_swiglu_backward_f32(x, up, alias, alias, du, n);
                loco_swiglu_backward_f32(x, up, dh, dg, du, n);
                check(memcmp(alias, dg, n * sizeof(float)) == 0, "swiglu backward with dgate == dh", variants[v].name);
                free(alias);
            }
            free(g_ref);
        }
        free(x); free(ref); free(out); free(up); free(dh); free(dg_ref); free(du_ref); free(dg); free(du);
    }
    // exp itself, through softmax of [x, 0-padding]: e^x for x from -87 to 0 against exp in double.
    for (int v = 1; v < variant_count; v++) {
        loco_set_cpu_feature_mask(variants[v].mask);
        double worst = 0;
        for (int i = 0; i < 4000; i++) {
            // softmax([0, t, t, t]) = 1 / (1 + 3 e^t), first lane exp(0), others exp(t).
            float t[4] = {0, -87.0f + 87.0f * i / 4000, 0, 0};
            t[2] = t[3] = t[1];
            loco_softmax_f32(t, 4);
            const double e = exp((double)(-87.0 + 87.0 * i / 4000));
            (void)e;
            const double want = (double)expf(-87.0f + 87.0f * i / 4000) / (1 + 3 * (double)expf(-87.0f + 87.0f * i / 4000));
            const double rel = fabs(t[1] - want) / want;
            if (rel > worst) worst = rel;
        }
        check(worst <= 8 * u, "exp within a few ulp (through softmax)", variants[v].name);
    }
}

static void test_matvec(void) {
    static const size_t shapes[][2] = {{1, 1}, {3, 5}, {4, 8}, {5, 17}, {7, 64}, {9, 100}, {16, 333}, {33, 19}};
    const double u = 0x1p-24;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t rows = shapes[s][0], cols = shapes[s][1];
        float *a = malloc(rows * cols * sizeof(float)), *x = malloc(cols * sizeof(float)), *xr = malloc(rows * sizeof(float));
        float *y0 = malloc((rows > cols ? rows : cols) * sizeof(float));
        float *yr = malloc((rows > cols ? rows : cols) * sizeof(float)), *yo = malloc((rows > cols ? rows : cols) * sizeof(float));
        rng_state = rows * 1000 + cols;
        for (size_t i = 0; i < rows * cols; i++) a[i] = signed_unit();
        for (size_t i = 0; i < cols; i++) x[i] = signed_unit();
        for (size_t i = 0; i < rows; i++) xr[i] = signed_unit();
        for (size_t i = 0; i < (rows > cols ? rows : cols); i++) y0[i] = signed_unit();
        const float alpha = 0.75f;
        for (int b = 0; b < 2; b++) {
            const float beta = b ? 0.5f : 0.0f;
            loco_set_cpu_feature_mask(0);
            memcpy(yr, y0, rows * sizeof(float));
            loco_matvec_f32(a, rows, cols, x, yr, alpha, beta);
            for (int v = 1; v < variant_count; v++) {
                loco_set_cpu_feature_mask(variants[v].mask);
                memcpy(yo, y0, rows * sizeof(float));
                loco_matvec_f32(a, rows, cols, x, yo, alpha, beta);
                int ok = 1;
                for (size_t r = 0; r < rows; r++) {
                    double m = fabs(beta * (double)y0[r]);
                    for (size_t c = 0; c < cols; c++) m += fabs((double)alpha * a[r * cols + c] * x[c]);
                    ok &= fabs((double)yo[r] - yr[r]) <= 2 * (cols + 4) * u * m;
                }
                char what[64];
                snprintf(what, sizeof what, "matvec %zux%zu beta=%g", rows, cols, beta);
                check(ok, what, variants[v].name);
            }
        }
        loco_set_cpu_feature_mask(0);
        memcpy(yr, y0, cols * sizeof(float));
        loco_matvec_t_f32(a, rows, cols, xr, yr, alpha);
        for (int v = 1; v < variant_count; v++) {
            loco_set_cpu_feature_mask(variants[v].mask);
            memcpy(yo, y0, cols * sizeof(float));
            loco_matvec_t_f32(a, rows, cols, xr, yo, alpha);
            int ok = 1;
            for (size_t c = 0; c < cols; c++) {
                double m = fabs((double)y0[c]);
                for (size_t r = 0; r < rows; r++) m += fabs((double)alpha * xr[r] * a[r * cols + c]);
                ok &= fabs((double)yo[c] - yr[c]) <= 2 * (rows + 4) * u * m;
            }
            char what[64];
            snprintf(what, sizeof what, "matvec_t %zux%zu", rows, cols);
            check(ok, what, variants[v].name);
        }
        free(a); free(x); free(xr); free(y0); free(yr); free(yo);
    }
}

// MARK: - Panel products

static const int panel_types[] = {2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 34, 35};

static const Format *format_of_type(int type) {
    static const int ids[FORMAT_COUNT] = {2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 34, 35};
    for (int i = 0; i < FORMAT_COUNT; i++) if (ids[i] == type) return &formats[i];
    return NULL;
}

static void test_panel(void) {
    for (size_t t = 0; t < sizeof panel_types / sizeof panel_types[0]; t++) {
        const Format *f = format_of_type(panel_types[t]);
        static const size_t widths32[] = {32, 96, 320, 544}, widths256[] = {256, 512, 768, 1280};
        for (int wi = 0; wi < 4; wi++) {
            const size_t n = f->block_values == 32 ? widths32[wi] : widths256[wi];
            const size_t rows = 6, count = 5, wrb = n / f->block_values * f->block_bytes;
            uint8_t *w = weights(f, rows * n / f->block_values, n * 3 + t, 0);
            const int af = f->activation;
            const size_t arb = act_bytes(af, n);
            uint8_t *a = malloc(count * arb);
            float *x = malloc(n * sizeof(float)), *av = malloc(n * sizeof(float));
            loco_set_cpu_feature_mask(0);
            for (size_t c = 0; c < count; c++) {
                activations(x, n, n + c * 13, 0);
                acts[af].quantize(x, a + c * arb, n);
            }
            const size_t prb = loco_panel_row_bytes(n);
            uint8_t *panel = aligned_alloc(64, (count * prb + 63) / 64 * 64);
            loco_panel_activations(af, a, arb, count, n, panel);
            float *ref = calloc(count * rows, sizeof(float)), *out = calloc(count * rows, sizeof(float));
            int ok = loco_panel_gemm(panel_types[t], w, wrb, 0, rows, n, panel, count, ref, rows);
            check(ok, "panel gemm runs (scalar)", "scalar");
            for (int v = 1; v < variant_count; v++) {
                loco_set_cpu_feature_mask(variants[v].mask);
                char what[96];
                snprintf(what, sizeof what, "panel preferred with %s", variants[v].name);
                check(loco_panel_preferred() == 1, what, variants[v].name);
                memset(out, 0, count * rows * sizeof(float));
                ok = loco_panel_gemm(panel_types[t], w, wrb, 0, rows, n, panel, count, out, rows);
                int good = ok;
                for (size_t c = 0; c < count && good; c++) {
                    activation_values(af, a + c * arb, av, n);
                    for (size_t r = 0; r < rows; r++) {
                        // The panel splits each weight into scale * q + min, so the min terms
                        // count in M too (magnitude does that); one more rounding of the scales.
                        const double m = magnitude_with(f, w + r * wrb, av, n, f->panel_lo, f->panel_hi, f->panel_fill);
                        const double err = fabs((double)out[c * rows + r] - ref[c * rows + r]);
                        good &= err <= 2 * dot_bound(n, m);
                    }
                }
                snprintf(what, sizeof what, "panel gemm %s n=%zu", f->name, n);
                check(good, what, variants[v].name);
            }
            free(w); free(a); free(x); free(av); free(panel); free(ref); free(out);
        }
    }
}

// MARK: - ggml fixtures

static void *read_all(const char *dir, const char *name, size_t *size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    fseek(file, 0, SEEK_END);
    const long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    void *data = malloc(length > 0 ? (size_t)length : 1);
    if (fread(data, 1, (size_t)length, file) != (size_t)length) { free(data); fclose(file); return NULL; }
    fclose(file);
    if (size) *size = (size_t)length;
    return data;
}

static void test_kernel_fixture(const char *dir) {
    size_t size;
    char *meta = read_all(dir, "kernels/meta.txt", &size);
    if (!meta) { check(0, "kernel fixture: meta.txt missing", "-"); return; }
    size_t n = 0, dequantized = 0, rows = 0;
    int act_rows = 0;
    sscanf(meta, "%zu %zu %d %zu", &n, &dequantized, &act_rows, &rows);
    free(meta);
    char name[256], what[160];
    for (int r = 0; r < act_rows; r++) {
        snprintf(name, sizeof name, "kernels/act%d.f32", r);
        float *x = read_all(dir, name, NULL);
        for (int a = 0; a < 3; a++) {
            snprintf(name, sizeof name, "kernels/act%d.%s", r, acts[a].name);
            uint8_t *want = read_all(dir, name, &size);
            uint8_t *got = calloc(size, 1);
            for (int v = 0; v < variant_count; v++) {
                loco_set_cpu_feature_mask(variants[v].mask);
                memset(got, 0, size);
                acts[a].quantize(x, got, n);
                snprintf(what, sizeof what, "ggml fixture: %s bytes of activation row %d", acts[a].name, r);
                check(size == act_bytes(a, n) && memcmp(got, want, size) == 0, what, variants[v].name);
            }
            free(want);
            free(got);
        }
        free(x);
    }
    for (int fi = 0; fi < FORMAT_COUNT; fi++) {
        const Format *f = &formats[fi];
        snprintf(name, sizeof name, "kernels/%s.deq", f->name);
        float *want = read_all(dir, name, NULL);
        snprintf(name, sizeof name, "kernels/%s.dots", f->name);
        uint32_t *dots = read_all(dir, name, NULL);
        float *got = malloc(n * sizeof(float)), *av = malloc(n * sizeof(float));
        for (size_t r = 0; r < rows; r++) {
            snprintf(name, sizeof name, "kernels/%s.row%zu", f->name, r);
            uint8_t *w = read_all(dir, name, NULL);
            for (int v = 0; v < variant_count; v++) {
                loco_set_cpu_feature_mask(variants[v].mask);
                if (r == 0) {
                    f->dequantize(w, got, dequantized);
                    snprintf(what, sizeof what, "ggml fixture: %s dequantized bits", f->name);
                    check(memcmp(got, want, dequantized * sizeof(float)) == 0, what, variants[v].name);
                }
                for (int k = 0; k < act_rows; k++) {
                    snprintf(name, sizeof name, "kernels/act%d.%s", k, acts[f->activation].name);
                    uint8_t *a = read_all(dir, name, NULL);
                    activation_values(f->activation, a, av, n);
                    const double m = magnitude(f, w, av, n);
                    const float result = f->dot(n, w, a);
                    const double expected = from_bits(dots[r * (size_t)act_rows + (size_t)k]);
                    snprintf(what, sizeof what, "ggml fixture: %s dot row %zu activations %d: %.9g vs ggml %.9g", f->name, r, k, result,
                             expected);
                    check(fabs(result - expected) <= dot_bound(n, m), what, variants[v].name);
                    free(a);
                }
            }
            free(w);
        }
        free(want); free(dots); free(got); free(av);
    }
}

static void test_block_fixture(const char *dir) {
    static const char *names[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "TQ1_0", "TQ2_0", "Q8_K"};
    static const DequantFn fns[] = {loco_dequantize_row_q4_0, loco_dequantize_row_q4_1, loco_dequantize_row_q5_0,
                                    loco_dequantize_row_q5_1, loco_dequantize_row_q8_0, loco_dequantize_row_q2_K,
                                    loco_dequantize_row_q3_K, loco_dequantize_row_q4_K, loco_dequantize_row_q5_K,
                                    loco_dequantize_row_q6_K, loco_dequantize_row_tq1_0, loco_dequantize_row_tq2_0,
                                    loco_dequantize_row_q8_K};
    char name[256], what[128];
    for (int i = 0; i < 13; i++) {
        size_t qsize, fsize;
        snprintf(name, sizeof name, "blocks/%s.q", names[i]);
        uint8_t *q = read_all(dir, name, &qsize);
        snprintf(name, sizeof name, "blocks/%s.f32", names[i]);
        float *want = read_all(dir, name, &fsize);
        if (!q || !want) {
            snprintf(what, sizeof what, "block fixture %s missing", names[i]);
            check(0, what, "-");
            free(q); free(want);
            continue;
        }
        const size_t n = fsize / sizeof(float);
        float *got = malloc(fsize);
        for (int v = 0; v < variant_count; v++) {
            loco_set_cpu_feature_mask(variants[v].mask);
            memset(got, 0xA5, fsize);
            fns[i](q, got, n);
            // A NaN the arithmetic creates (infinity * 0 in the rows with overflowing halves) is
            // the CPU's default NaN: 0xFFC00000 on x86, where the fixture was made, 0x7FC00000 on
            // ARM. Every other value must match bit for bit.
            int ok = 1;
            size_t default_nans = 0;
            for (size_t j = 0; j < n; j++) {
                const uint32_t ours = bits_of(got[j]), theirs = bits_of(want[j]);
                if (ours == 0x7FC00000u && theirs == 0xFFC00000u) default_nans++;
                else ok &= ours == theirs;
            }
            snprintf(what, sizeof what, "block fixture: %s dequantized bits (%zu values, %zu default NaNs)", names[i], n, default_nans);
            check(ok, what, variants[v].name);
        }
        free(q); free(want); free(got);
    }
    // Q8_K is ggml's quantize_row_q8_K_ref: the committed blocks of the committed input.
    size_t isize, qsize;
    float *x = read_all(dir, "blocks/input.f32", &isize);
    uint8_t *want = read_all(dir, "blocks/Q8_K.q", &qsize);
    if (x && want && isize / sizeof(float) / 256 * 292 == qsize) {
        uint8_t *got = malloc(qsize);
        for (int v = 0; v < variant_count; v++) {
            loco_set_cpu_feature_mask(variants[v].mask);
            loco_quantize_row_q8_K(x, got, isize / sizeof(float));
            check(memcmp(got, want, qsize) == 0, "block fixture: Q8_K bytes of input.f32", variants[v].name);
        }
        free(got);
    } else {
        check(0, "block fixture: input.f32 / Q8_K.q missing or mismatched", "-");
    }
    free(x);
    free(want);
}

/// Decode attention over an F16 cache (loco_attention_one_f16): each variant against the scalar
/// code, for head sizes with and without the vector path (d % 8) and a window start; outputs are
/// weighted means of values below 1 in magnitude, so 1e-5 absolute is far below a wrong lane.
static void test_attention(void) {
    static const size_t dims[] = {64, 80, 20, 128};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const size_t d = dims[di], positions = 45, stride = 2 * d;
        float *q = malloc(d * sizeof(float)), *tmp = malloc(positions * stride * sizeof(float));
        uint16_t *k = malloc(positions * stride * 2), *v = malloc(positions * stride * 2);
        float *ref = malloc(d * sizeof(float)), *out = malloc(d * sizeof(float)), *scores = malloc(positions * sizeof(float));
        rng_state = 1000 + d;
        for (size_t i = 0; i < d; i++) q[i] = signed_unit();
        for (size_t i = 0; i < positions * stride; i++) tmp[i] = signed_unit();
        loco_f32_to_f16_row(tmp, k, positions * stride);
        for (size_t i = 0; i < positions * stride; i++) tmp[i] = signed_unit();
        loco_f32_to_f16_row(tmp, v, positions * stride);
        for (size_t first = 0; first <= 10; first += 10) {
            loco_set_cpu_feature_mask(0);
            loco_attention_one_f16(q, k + d, v + d, stride, first, positions, d, 0.125f, scores, ref);
            for (int vi = 1; vi < variant_count; vi++) {
                loco_set_cpu_feature_mask(variants[vi].mask);
                loco_attention_one_f16(q, k + d, v + d, stride, first, positions, d, 0.125f, scores, out);
                int ok = 1;
                for (size_t i = 0; i < d; i++) ok &= close_to(out[i], ref[i], 1e-5);
                char what[96];
                snprintf(what, sizeof what, "attention over F16 d=%zu first=%zu", d, first);
                check(ok, what, variants[vi].name);
            }
        }
        free(q); free(tmp); free(k); free(v); free(ref); free(out); free(scores);
    }
}

int main(int argc, char **argv) {
    find_variants();
    printf("variants:");
    for (int v = 0; v < variant_count; v++) printf(" %s", variants[v].name);
    printf("\n");
    if (variant_count < 2) printf("note: no NEON variant on this CPU, only the scalar code runs\n");
    test_quantizers();
    test_dequantizers();
    test_dots();
    test_conversions();
    test_activations();
    test_matvec();
    test_panel();
    test_attention();
    if (argc > 1) {
        test_kernel_fixture(argv[1]);
        test_block_fixture(argv[1]);
    }
    loco_set_cpu_feature_mask(0xFFFFFFFFu);
    printf("largest |neon - scalar| / M over the dot products: %.3g\n", worst_dot);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
