/* runtime.c: the OpenMP thread count the kernels run with.
 *
 * MINICNN_NUM_THREADS (or else OMP_NUM_THREADS) sets it: the Python side reads them and calls
 * minicnn_set_num_threads once when the extension loads. Every kernel names the count in its
 * `num_threads` clause, so it holds in whichever Python thread calls the kernel. */
#include "kernel.h"

#ifdef _OPENMP
#include <omp.h>

static int minicnn_threads = 0;  /* 0 until set: OpenMP's own default */
#endif

int minicnn_openmp_threads(void) {
#ifdef _OPENMP
    return minicnn_threads > 0 ? minicnn_threads : omp_get_max_threads();
#else
    return 1;
#endif
}

void minicnn_set_num_threads(int n) {
#ifdef _OPENMP
    minicnn_threads = n > 0 ? n : 0;
#else
    (void)n;
#endif
}

int minicnn_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
