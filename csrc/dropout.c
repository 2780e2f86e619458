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
#include "generic.cuh"
#else

struct NAME(dropout_args) {
    const real *x, *mask;
    real *y;
};

static void NAME(dropout_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(dropout_args) *a = context;
    for (int64_t i = begin; i < end; i++) a->y[i] = a->x[i] * a->mask[i];
}

int NAME(dropout_apply)(const real *x, const real *mask, real *y, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(dropout_args) args = {x, mask, y};
    minicnn_parallel_ranges(n, (double)n, NAME(dropout_range), &args);
    return MINICNN_OK;
}

#endif
