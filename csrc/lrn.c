/* lrn.c: local response normalisation across channels, forward and backward.
 *
 * x (N, C, H, W); the window of channel c is [c - size/2, c + (size-1)/2], clipped to [0, C):
 *
 *   forward   scale_c = k + alpha / size * sum over the window of c of x_j^2
 *             y_c = x_c * scale_c^-beta
 *   backward  dx_j = dy_j * scale_j^-beta
 *                    - 2 alpha beta / size * x_j * sum_c dy_c * y_c / scale_c
 *             over the channels c whose window holds j: c in [j - (size-1)/2, j + size/2]
 *
 * One loop iteration per (n, c) plane, which reads the planes of its window. */
#ifndef real
#include "kernel.h"

static int lrn_sizes_ok(int64_t N, int64_t C, int64_t H, int64_t W, int64_t size) {
    int64_t count;
    return COUNT(&count, N, C, H, W) && size >= 1 && size < ((int64_t)1 << 31);
}

#define GENERIC_FILE "lrn.c"
#include "generic.h"
#else

int NAME(lrn_forward)(const real *x, real *y, real *scale, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t size, double alpha, double beta, double k) {
    if (!lrn_sizes_ok(N, C, H, W, size)) return MINICNN_BAD_ARGUMENT;
    const int64_t S = H * W, before = size / 2, after = (size - 1) / 2;
    const real coefficient = (real)(alpha / (double)size), exponent = (real)-beta;
    OMP_FOR((double)N * C * S * size)
    for (int64_t p = 0; p < N * C; p++) {
        const int64_t n = p / C, c = p % C;
        const int64_t first = c - before > 0 ? c - before : 0;
        const int64_t last = c + after < C - 1 ? c + after : C - 1;
        real *out_scale = scale + p * S;
        for (int64_t s = 0; s < S; s++) out_scale[s] = 0;
        for (int64_t j = first; j <= last; j++) {
            const real *in = x + (n * C + j) * S;
            for (int64_t s = 0; s < S; s++) out_scale[s] += in[s] * in[s];
        }
        const real *in = x + p * S;
        real *out = y + p * S;
        for (int64_t s = 0; s < S; s++) {
            out_scale[s] = (real)k + coefficient * out_scale[s];
            out[s] = in[s] * pow(out_scale[s], exponent);
        }
    }
    return MINICNN_OK;
}

int NAME(lrn_backward)(const real *grad_y, const real *x, const real *y, const real *scale,
                       real *grad_x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                       double alpha, double beta, double k) {
    (void)k;  /* the forward's scale already holds it */
    if (!lrn_sizes_ok(N, C, H, W, size)) return MINICNN_BAD_ARGUMENT;
    const int64_t S = H * W, before = (size - 1) / 2, after = size / 2;
    const real coefficient = (real)(2 * alpha * beta / (double)size), exponent = (real)-beta;
    OMP_FOR((double)N * C * S * size)
    for (int64_t p = 0; p < N * C; p++) {
        const int64_t n = p / C, c = p % C;
        const int64_t first = c - before > 0 ? c - before : 0;
        const int64_t last = c + after < C - 1 ? c + after : C - 1;
        real *dx = grad_x + p * S;
        for (int64_t s = 0; s < S; s++) dx[s] = 0;  /* first the window sum ("reach") */
        for (int64_t j = first; j <= last; j++) {
            const int64_t q = (n * C + j) * S;
            for (int64_t s = 0; s < S; s++) dx[s] += grad_y[q + s] * y[q + s] / scale[q + s];
        }
        const real *dy = grad_y + p * S, *in = x + p * S, *sc = scale + p * S;
        for (int64_t s = 0; s < S; s++)
            dx[s] = dy[s] * pow(sc[s], exponent) - coefficient * in[s] * dx[s];
    }
    return MINICNN_OK;
}

#endif
