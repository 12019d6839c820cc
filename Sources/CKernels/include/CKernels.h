#ifndef LOCO_CKERNELS_H
#define LOCO_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features the kernels dispatch on, as a bit set.
enum {
    LOCO_CPU_F16C = 1 << 0,
    LOCO_CPU_AVX2 = 1 << 1,
    LOCO_CPU_FMA = 1 << 2,
    LOCO_CPU_AVX512F = 1 << 3,
    LOCO_CPU_AVX512BW = 1 << 4,
    LOCO_CPU_AVX512VNNI = 1 << 5,
    LOCO_CPU_NEON = 1 << 6,
};

/// The features of this CPU that the kernels may use (detected once).
uint32_t loco_cpu_features(void);

/// Features the dispatchers are allowed to use: detected features masked by this value.
/// Tests lower it to run every variant the CPU can run; 0 forces the portable scalar paths.
void loco_set_cpu_feature_mask(uint32_t mask);
uint32_t loco_cpu_feature_mask(void);

/// IEEE binary16 -> binary32, exact for every input (NaN payloads kept, subnormals expanded).
void loco_f16_to_f32_row(const uint16_t *src, float *dst, size_t count);
/// bfloat16 -> binary32 (a 16-bit shift, exact).
void loco_bf16_to_f32_row(const uint16_t *src, float *dst, size_t count);

/// The portable scalar conversion the SIMD variants are checked against.
float loco_f16_to_f32_scalar(uint16_t h);

/// binary32 -> binary16, rounded to nearest even (ggml's GGML_FP32_TO_FP16 with F16C); NaNs
/// become quiet NaNs keeping the sign and the top payload bits.
void loco_f32_to_f16_row(const float *src, uint16_t *dst, size_t count);
uint16_t loco_f32_to_f16_scalar(float f);
/// binary32 -> bfloat16, rounded to nearest even, NaNs forced quiet (ggml_compute_fp32_to_bf16).
void loco_f32_to_bf16_row(const float *src, uint16_t *dst, size_t count);

#ifdef __cplusplus
}
#endif

#endif
