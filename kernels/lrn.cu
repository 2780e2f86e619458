/* lrn.cu: local response normalisation across channels, forward and backward.
 *
 * x (N, C, H, W); the window of channel c is [c - size/2, c + (size-1)/2], clipped to [0, C):
 *
 *   forward   scale_c = k + alpha / size * sum over the window of c of x_j^2
 *             y_c = x_c * scale_c^-beta
 *   backward  dx_j = dy_j * scale_j^-beta
 *                    - 2 alpha beta / size * x_j * sum_c dy_c * y_c / scale_c
 *             over the channels c whose window holds j: c in [j - (size-1)/2, j + size/2]
 *
 * One thread per element (n, c, h, w) (grid-stride), which reads the same pixel of the channels
 * of its window, in increasing channel order as the reference sums them. */
#ifndef real
#include "kernel.cuh"
#define GENERIC_FILE "lrn.cu"
#include "generic.cuh"
#else

extern "C" __global__ void NAME(lrn_forward)(const real *x, real *y, real *scale, int64 N,
                                             int64 C, int64 H, int64 W, int64 size, double alpha,
                                             double beta, double k) {
    const int64 S = H * W, before = size / 2, after = (size - 1) / 2;
    const real coefficient = (real)(alpha / (double)size), exponent = (real)-beta;
    GRID_STRIDE_LOOP(index, N * C * S) {
        const int64 n = index / (C * S), c = index / S % C, s = index % S;
        const int64 first = c - before > 0 ? c - before : 0;
        const int64 last = c + after < C - 1 ? c + after : C - 1;
        real sum = 0;
        for (int64 j = first; j <= last; j++) {
            const real value = x[(n * C + j) * S + s];
            sum += value * value;
        }
        const real window_scale = (real)k + coefficient * sum;
        scale[index] = window_scale;
        y[index] = x[index] * pow(window_scale, exponent);
    }
}

extern "C" __global__ void NAME(lrn_backward)(const real *grad_y, const real *x, const real *y,
                                              const real *scale, real *grad_x, int64 N, int64 C,
                                              int64 H, int64 W, int64 size, double alpha,
                                              double beta, double k) {
    (void)k;  /* the forward's scale already holds it */
    const int64 S = H * W, before = (size - 1) / 2, after = size / 2;
    const real coefficient = (real)(2 * alpha * beta / (double)size), exponent = (real)-beta;
    GRID_STRIDE_LOOP(index, N * C * S) {
        const int64 n = index / (C * S), c = index / S % C, s = index % S;
        const int64 first = c - before > 0 ? c - before : 0;
        const int64 last = c + after < C - 1 ? c + after : C - 1;
        real reach = 0;
        for (int64 j = first; j <= last; j++) {
            const int64 at = (n * C + j) * S + s;
            reach += grad_y[at] * y[at] / scale[at];
        }
        grad_x[index] = grad_y[index] * pow(scale[index], exponent)
                      - coefficient * x[index] * reach;
    }
}

#endif
