#include "CKernels.h"

static uint32_t detect(void) {
    uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("f16c")) f |= LOCO_CPU_F16C;
    if (__builtin_cpu_supports("avx2")) f |= LOCO_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= LOCO_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= LOCO_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= LOCO_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vnni")) f |= LOCO_CPU_AVX512VNNI;
#elif defined(__aarch64__)
    f |= LOCO_CPU_NEON;
#endif
    return f;
}

static uint32_t detected = 0;
static int detected_once = 0;
// Per thread, so a test that lowers it to run one variant does not change what other threads run.
static _Thread_local uint32_t feature_mask = 0xFFFFFFFFu;

uint32_t loco_cpu_features(void) {
    if (!__atomic_load_n(&detected_once, __ATOMIC_ACQUIRE)) {
        uint32_t f = detect();
        __atomic_store_n(&detected, f, __ATOMIC_RELAXED);
        __atomic_store_n(&detected_once, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&detected, __ATOMIC_RELAXED) & feature_mask;
}

void loco_set_cpu_feature_mask(uint32_t mask) { feature_mask = mask; }
uint32_t loco_cpu_feature_mask(void) { return feature_mask; }
