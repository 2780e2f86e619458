/* dropout.c: applying a dropout mask.
 *
 *   forward and backward   y = x * mask        (n elements)
 *
 * The mask (entries 0 or 1 / (1 - p), inverted dropout) is drawn by NumPy from minicnn's
 * generator, so every kernel set sees the same mask for the same seed; the backward applies
 * the same mask to dy. */
#ifndef real
#include "kernel.h"
#define GENERIC_FILE "dropout.c"
#include "generic.h"
#else

int NAME(dropout_apply)(const real *x, const real *mask, real *y, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    OMP_FOR(n)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
    return MINICNN_OK;
}

#endif
