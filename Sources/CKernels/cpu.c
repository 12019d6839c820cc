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

// MARK: - OpenBLAS core selection

#if defined(__linux__) && defined(__x86_64__)
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

static const char *chosen_core = NULL;
static pthread_once_t core_once = PTHREAD_ONCE_INIT;

static void select_core(void) {
    // A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model at load; one older than the
    // CPU (Debian 12's 0.3.21 on Emerald Rapids, model 207) falls back to Prescott's SSE3 kernels,
    // 4x slower than its own AVX-512 ones. Re-run its selection with the core the CPU's features
    // call for, as the OPENBLAS_CORETYPE variable would at start-up. Leave it alone when the user
    // set that variable or the library lacks the DYNAMIC_ARCH entry points.
    const char *(*corename)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    void **table = (void **)dlsym(RTLD_DEFAULT, "gotoblas");
    void (*reinit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (corename && table && reinit && !getenv("OPENBLAS_CORETYPE")) {
        const char *current = corename();
        const uint32_t f = detect();
        const uint32_t avx512 = LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW | LOCO_CPU_AVX2 | LOCO_CPU_FMA;
        const uint32_t avx2 = LOCO_CPU_AVX2 | LOCO_CPU_FMA;
        const char *want = (f & avx512) == avx512 ? "SkylakeX" : (f & avx2) == avx2 ? "Haswell" : NULL;
        if (current && want && (strcmp(current, "Prescott") == 0 || strcmp(current, "Core2") == 0 ||
                                strcmp(current, "Nehalem") == 0 || strcmp(current, "Sandybridge") == 0)) {
            setenv("OPENBLAS_CORETYPE", want, 0);
            *table = NULL;
            reinit();
            unsetenv("OPENBLAS_CORETYPE");
            chosen_core = corename();
        }
    }
}

const char *loco_openblas_select_core(void) {
    pthread_once(&core_once, select_core);
    return chosen_core;
}
#else
const char *loco_openblas_select_core(void) { return NULL; }
#endif
