#include "CFuzzerDriver.h"

// libFuzzer's entry point for programs with their own `main` (LLVM 12 and later). SwiftPM gives an
// executable target a `main` of its own (it links `--defsym main=<module>_main`), so libFuzzer's
// `main` is never used; the Swift `main` calls this instead. Weak: absent without -sanitize=fuzzer.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

int gguf_fuzz_run_driver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
