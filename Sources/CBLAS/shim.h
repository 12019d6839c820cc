#ifndef LOCO_CBLAS_SHIM_H
#define LOCO_CBLAS_SHIM_H
#include <cblas.h>
// OpenBLAS extensions used to keep its threads from fighting the runtime's pool.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
