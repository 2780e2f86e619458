/* minicnn.h: every C kernel of minicnn, the one header that cffi reads (csrc/build_ckernels.py).
 *
 * Conventions: arrays are C-contiguous NCHW; sizes and indices are int64_t; each kernel exists
 * for float32 (_f32) and float64 (_f64). The Python wrappers in minicnn/backend/ckernels.py
 * validate every argument before calling in, and each kernel re-checks its sizes and returns
 * a nonzero status instead of touching memory when they make no sense.
 * Lines starting with '#' are skipped by cffi.
 */
#include <stdint.h>

/* runtime.c: OpenMP threads */
int minicnn_openmp_threads(void);
void minicnn_set_num_threads(int n);
