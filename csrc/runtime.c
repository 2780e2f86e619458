/* runtime.c: the OpenMP thread count the kernels run with.
 * MINICNN_NUM_THREADS (or else OMP_NUM_THREADS) sets it; the Python side calls
 * minicnn_set_num_threads once when the extension loads. */
#include "minicnn.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int minicnn_openmp_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void minicnn_set_num_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}
