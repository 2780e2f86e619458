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
#include "generic.cuh"
#else

/* every argument of the two kernels, for their pieces (ranges of planes) on the thread pool */
struct NAME(lrn_args) {
    const real *x, *y, *grad_y, *scale;
    real *y_out, *scale_out, *grad_x;
    int64_t C, S, before, after;
    real coefficient, exponent;
    double k;
};

static void NAME(lrn_forward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(lrn_args) *args = context;
    const real *x = args->x;
    real *y = args->y_out, *scale = args->scale_out;
    const int64_t C = args->C, S = args->S, before = args->before, after = args->after;
    const real coefficient = args->coefficient, exponent = args->exponent;
    const double k = args->k;
    for (int64_t p = begin; p < end; p++) {
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
}

int NAME(lrn_forward)(const real *x, real *y, real *scale, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t size, double alpha, double beta, double k) {
    if (!lrn_sizes_ok(N, C, H, W, size)) return MINICNN_BAD_ARGUMENT;
    const int64_t S = H * W, before = size / 2, after = (size - 1) / 2;
    const real coefficient = (real)(alpha / (double)size), exponent = (real)-beta;
    struct NAME(lrn_args) args = {.x = x, .y_out = y, .scale_out = scale, .C = C, .S = S,
                                        .before = before, .after = after,
                                        .coefficient = coefficient, .exponent = exponent,
                                        .k = k};
    minicnn_parallel_ranges(N * C, (double)N * C * S * size,
                            NAME(lrn_forward_range), &args);
    return MINICNN_OK;
}

static void NAME(lrn_backward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(lrn_args) *args = context;
    const real *grad_y = args->grad_y, *x = args->x, *y = args->y, *scale = args->scale;
    real *grad_x = args->grad_x;
    const int64_t C = args->C, S = args->S, before = args->before, after = args->after;
    const real coefficient = args->coefficient, exponent = args->exponent;
    for (int64_t p = begin; p < end; p++) {
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
}

int NAME(lrn_backward)(const real *grad_y, const real *x, const real *y, const real *scale,
                       real *grad_x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                       double alpha, double beta, double k) {
    (void)k;  /* the forward's scale already holds it */
    if (!lrn_sizes_ok(N, C, H, W, size)) return MINICNN_BAD_ARGUMENT;
    const int64_t S = H * W, before = (size - 1) / 2, after = size / 2;
    const real coefficient = (real)(2 * alpha * beta / (double)size), exponent = (real)-beta;
    struct NAME(lrn_args) args = {.grad_y = grad_y, .x = x, .y = y, .scale = scale,
                                        .grad_x = grad_x, .C = C, .S = S, .before = before,
                                        .after = after, .coefficient = coefficient,
                                        .exponent = exponent};
    minicnn_parallel_ranges(N * C, (double)N * C * S * size,
                            NAME(lrn_backward_range), &args);
    return MINICNN_OK;
}

#endif
