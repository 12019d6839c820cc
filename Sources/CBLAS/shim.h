#ifndef LOCO_CBLAS_SHIM_H
#define LOCO_CBLAS_SHIM_H
// The BLAS seam: Accelerate on Apple platforms, OpenBLAS (Debian's libopenblas-dev, found and
// linked through pkg-config) elsewhere. Both provide the reference CBLAS interface the runtime uses.
#if defined(__APPLE__)
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
// Accelerate runs BLAS on the calling thread unless told otherwise; there are no OpenBLAS threads
// to keep from fighting the runtime's pool.
static inline void openblas_set_num_threads(int num_threads) { (void)num_threads; }
static inline int openblas_get_num_threads(void) { return 1; }
#else
#include <cblas.h>
// OpenBLAS extensions used to keep its threads from fighting the runtime's pool.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
#endif
