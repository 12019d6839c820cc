#ifndef C_FUZZER_DRIVER_H
#define C_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (`LLVMFuzzerRunDriver`) with `argc`/`argv` and `callback`, when the
/// executable was linked with `-sanitize=fuzzer`. Returns -1 without doing anything when libFuzzer
/// is not linked in (a plain `swift build`), so the caller can fall back to replaying files.
int gguf_fuzz_run_driver(int *_Nonnull argc, char *_Nullable *_Nullable *_Nonnull argv,
                         int (*_Nonnull callback)(const uint8_t *_Nonnull data, size_t size));

#endif
