#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

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
    if (__builtin_cpu_supports("avxvnni")) f |= LOCO_CPU_AVXVNNI;
#elif defined(__aarch64__)
    f |= LOCO_CPU_NEON;
#if defined(__linux__)
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) f |= LOCO_CPU_DOTPROD;
#elif defined(__APPLE__)
    f |= LOCO_CPU_DOTPROD;  // every Apple Silicon core (A11 and later) has it
#endif
#endif
    return f;
}

static const char *environment_error = NULL;

/// The mask LOCO_CPU_FEATURES names (see CKernels.h).
static uint32_t environment_mask(void) {
    const char *value = getenv("LOCO_CPU_FEATURES");
    if (value == NULL || value[0] == 0 || strcmp(value, "native") == 0) return 0xFFFFFFFFu;
    const uint32_t avx2 = LOCO_CPU_F16C | LOCO_CPU_AVX2 | LOCO_CPU_FMA | LOCO_CPU_AVXVNNI;
    if (strcmp(value, "scalar") == 0) return 0;
    if (strcmp(value, "avx2") == 0) return avx2;
    if (strcmp(value, "avx512") == 0) return avx2 | LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW | LOCO_CPU_AVX512VNNI;
    if (strcmp(value, "neon") == 0) return LOCO_CPU_NEON;
    if (strcmp(value, "neon-dotprod") == 0) return LOCO_CPU_NEON | LOCO_CPU_DOTPROD;
    environment_error = value;
    return 0;
}

static uint32_t detected = 0;
static uint32_t env_mask = 0;
static int detected_once = 0;
// Per thread, so a test that lowers it to run one variant does not change what other threads run.
static _Thread_local uint32_t feature_mask = 0xFFFFFFFFu;

static void detect_once(void) {
    if (!__atomic_load_n(&detected_once, __ATOMIC_ACQUIRE)) {
        // Idempotent: two threads racing here compute the same values.
        uint32_t f = detect();
        uint32_t m = environment_mask();
        __atomic_store_n(&detected, f, __ATOMIC_RELAXED);
        __atomic_store_n(&env_mask, m, __ATOMIC_RELAXED);
        __atomic_store_n(&detected_once, 1, __ATOMIC_RELEASE);
    }
}

uint32_t loco_cpu_features(void) {
    detect_once();
    return __atomic_load_n(&detected, __ATOMIC_RELAXED) & __atomic_load_n(&env_mask, __ATOMIC_RELAXED) & feature_mask;
}

uint32_t loco_cpu_detected_features(void) {
    detect_once();
    return __atomic_load_n(&detected, __ATOMIC_RELAXED);
}

uint32_t loco_cpu_environment_mask(void) {
    detect_once();
    return __atomic_load_n(&env_mask, __ATOMIC_RELAXED);
}

const char *loco_cpu_features_environment_error(void) {
    detect_once();
    return environment_error;
}

void loco_set_cpu_feature_mask(uint32_t mask) { feature_mask = mask; }
uint32_t loco_cpu_feature_mask(void) { return feature_mask; }

// MARK: - OpenBLAS core selection

#if defined(__linux__) && defined(__x86_64__)
#include <dlfcn.h>

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
        // LOCO_CPU_FEATURES lowers OpenBLAS's kernels too, so an AVX2 run is one throughout.
        const uint32_t f = loco_cpu_detected_features() & loco_cpu_environment_mask();
        const uint32_t avx512 = LOCO_CPU_AVX512F | LOCO_CPU_AVX512BW | LOCO_CPU_AVX2 | LOCO_CPU_FMA;
        const uint32_t avx2 = LOCO_CPU_AVX2 | LOCO_CPU_FMA;
        const char *want = (f & avx512) == avx512 ? "SkylakeX" : (f & avx2) == avx2 ? "Haswell" : NULL;
        const int lowered = (loco_cpu_detected_features() & avx512) == avx512 && (f & avx512) != avx512;
        const int old = current && (strcmp(current, "Prescott") == 0 || strcmp(current, "Core2") == 0 ||
                                    strcmp(current, "Nehalem") == 0 || strcmp(current, "Sandybridge") == 0);
        if (current && want && (old || (lowered && strcmp(current, want) != 0))) {
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
