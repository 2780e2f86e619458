/* dropout.cu: applying a dropout mask.
 *
 *   forward and backward   y = x * mask        (n elements)
 *
 * The mask (entries 0 or 1 / (1 - p), inverted dropout) is drawn by NumPy from minicnn's
 * generator and copied to the GPU, so every kernel set sees the same mask for the same seed;
 * the backward applies the same mask to dy. One thread per element (grid-stride). */
#ifndef real
#include "kernel.cuh"
#define GENERIC_FILE "dropout.cu"
#include "generic.cuh"
#else

extern "C" __global__ void NAME(dropout_apply)(const real *x, const real *mask, real *y, int64 n) {
    GRID_STRIDE_LOOP(i, n) y[i] = x[i] * mask[i];
}

#endif
