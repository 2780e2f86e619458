/* batchnorm.c: batch normalisation with batch statistics, forward and backward.
 *
 * x (N, C, H, W); per channel c, over its M = N*H*W values (sums accumulated in double):
 *
 *   forward   mean = sum x / M ; var = sum (x - mean)^2 / M (biased; two passes, as the
 *             reference: never E[x^2] - E[x]^2, which cancels)
 *             invstd = 1 / sqrt(var + eps) ; y = (x - mean) * invstd * weight + bias
 *             (var is returned too: the running variance is taken from it, not from invstd)
 *   inference y = (x - running_mean) * invstd * weight + bias, invstd given (one pass)
 *   backward  xhat = (x - mean) * invstd
 *             dweight = sum dy * xhat ; dbias = sum dy                          (C,)
 *             dx = (invstd / M) * weight * (M * dy - sum dy - xhat * sum dy * xhat)
 *
 * weight / bias may be NULL (1 and 0). One piece of work per channel range on the thread pool
 * (threadpool.c): a channel's sums and its elements belong to one thread. Each sum runs in
 * eight independent partial sums (LANES), one vector: one running sum would wait for each
 * addition to finish before the next (latency-bound, a third of memory bandwidth). The loops
 * are compiled for AVX2 and AVX-512 too (WIDE_VECTORS). */
#ifndef real
#include <string.h>

#include "kernel.h"

#define LANES 8

static int batch_norm_sizes_ok(int64_t N, int64_t C, int64_t H, int64_t W) {
    int64_t count;
    return COUNT(&count, N, C, H, W);
}

#define GENERIC_FILE "batchnorm.c"
#include "generic.cuh"
#else

/* LANES partial sums as one vector (GCC / Clang vector extensions): written as an array, the
 * compiler kept them scalar */
typedef accum NAME(accum_lanes) __attribute__((vector_size(LANES * sizeof(accum))));
typedef real NAME(real_lanes) __attribute__((vector_size(LANES * sizeof(real))));

static inline __attribute__((always_inline)) void NAME(load_lanes)(const real *v,
                                                                   NAME(accum_lanes) *out) {
    NAME(real_lanes) lanes;
    memcpy(&lanes, v, sizeof(lanes));
    *out = __builtin_convertvector(lanes, NAME(accum_lanes));
}

/* sum of v[s] - shift and of (v[s] - shift)^2 (when squares is not NULL) over s < n; inlined,
 * so that it takes the vector width of the WIDE_VECTORS loop that calls it */
static inline __attribute__((always_inline)) accum NAME(sum_shifted)(const real *v, int64_t n,
                                                                     accum shift,
                                                                     accum *squares) {
    NAME(accum_lanes) part = {0}, square = {0};
    int64_t s = 0;
    for (; s + LANES <= n; s += LANES) {
        NAME(accum_lanes) d;
        NAME(load_lanes)(v + s, &d);
        d -= shift;
        part += d;
        square += d * d;
    }
    for (; s < n; s++) {
        const accum d = (accum)v[s] - shift;
        part[0] += d;
        square[0] += d * d;
    }
    accum total = 0, total_squares = 0;
    for (int l = 0; l < LANES; l++) {
        total += part[l];
        total_squares += square[l];
    }
    if (squares) *squares = total_squares;
    return total;
}

/* sum of dy[s] and of dy[s] * (x[s] - mean) over s < n */
static inline __attribute__((always_inline)) accum NAME(sum_grad)(const real *dy, const real *x,
                                                                  int64_t n, accum mean,
                                                                  accum *dot) {
    NAME(accum_lanes) part = {0}, product = {0};
    int64_t s = 0;
    for (; s + LANES <= n; s += LANES) {
        NAME(accum_lanes) g, centered;
        NAME(load_lanes)(dy + s, &g);
        NAME(load_lanes)(x + s, &centered);
        part += g;
        product += g * (centered - mean);
    }
    for (; s < n; s++) {
        part[0] += dy[s];
        product[0] += (accum)dy[s] * ((accum)x[s] - mean);
    }
    accum total = 0, total_product = 0;
    for (int l = 0; l < LANES; l++) {
        total += part[l];
        total_product += product[l];
    }
    *dot = total_product;
    return total;
}

/* dx over one plane of n elements (see the backward above) */
static inline __attribute__((always_inline)) void NAME(grad_input_plane)(
    const real *restrict dy, const real *restrict x, real *restrict dx, int64_t n, real mean,
    real invstd, real scale, real M, real total_dy, real total_dy_xhat) {
    for (int64_t s = 0; s < n; s++) {
        const real xhat = (x[s] - mean) * invstd;
        dx[s] = scale * (M * dy[s] - total_dy - xhat * total_dy_xhat);
    }
}

struct NAME(batch_norm_args) {
    const real *x, *grad_y, *weight, *bias, *mean_in, *invstd_in;  /* *_in: given, (C,) */
    double eps;
    real *y, *mean, *var, *invstd, *grad_x, *grad_weight, *grad_bias;
    int64_t N, C, S;
};

WIDE_VECTORS static void NAME(batch_norm_forward_range)(void *context, int64_t c0, int64_t c1) {
    const struct NAME(batch_norm_args) *a = context;
    const int64_t N = a->N, C = a->C, S = a->S, M = N * S;
    for (int64_t c = c0; c < c1; c++) {
        accum sum = 0, squares = 0;  /* pass 1: the mean; pass 2: the mean of (x - mean)^2 */
        for (int64_t n = 0; n < N; n++)
            sum += NAME(sum_shifted)(a->x + (n * C + c) * S, S, 0, NULL);
        const accum channel_mean = sum / M;
        for (int64_t n = 0; n < N; n++) {
            accum plane_squares;
            NAME(sum_shifted)(a->x + (n * C + c) * S, S, channel_mean, &plane_squares);
            squares += plane_squares;
        }
        const accum variance = squares / M;
        const real m = (real)channel_mean;
        const real inv = (real)(1 / sqrt(variance + a->eps));
        const real scale = a->weight ? a->weight[c] : 1, shift = a->bias ? a->bias[c] : 0;
        a->mean[c] = m;
        a->var[c] = (real)variance;
        a->invstd[c] = inv;
        for (int64_t n = 0; n < N; n++) {
            const real *in = a->x + (n * C + c) * S;
            real *out = a->y + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) out[s] = (in[s] - m) * inv * scale + shift;
        }
    }
}

int NAME(batch_norm_forward)(const real *x, const real *weight, const real *bias, double eps,
                             real *y, real *mean, real *var, real *invstd, int64_t N, int64_t C,
                             int64_t H, int64_t W) {
    if (!batch_norm_sizes_ok(N, C, H, W)) return MINICNN_BAD_ARGUMENT;
    struct NAME(batch_norm_args) args = {.x = x, .weight = weight, .bias = bias, .eps = eps,
                                         .y = y, .mean = mean, .var = var, .invstd = invstd,
                                         .N = N, .C = C, .S = H * W};
    minicnn_parallel_ranges(C, (double)N * C * H * W, NAME(batch_norm_forward_range), &args);
    return MINICNN_OK;
}

WIDE_VECTORS static void NAME(batch_norm_backward_range)(void *context, int64_t c0, int64_t c1) {
    const struct NAME(batch_norm_args) *a = context;
    const int64_t N = a->N, C = a->C, S = a->S, M = N * S;
    for (int64_t c = c0; c < c1; c++) {
        const real m = a->mean_in[c], inv = a->invstd_in[c];
        accum sum_dy = 0, sum_dy_centered = 0;
        for (int64_t n = 0; n < N; n++) {
            accum dot;
            sum_dy += NAME(sum_grad)(a->grad_y + (n * C + c) * S, a->x + (n * C + c) * S, S, m,
                                     &dot);
            sum_dy_centered += dot;
        }
        const accum sum_dy_xhat = sum_dy_centered * inv;
        a->grad_weight[c] = (real)sum_dy_xhat;
        a->grad_bias[c] = (real)sum_dy;
        const real scale = inv * (a->weight ? a->weight[c] : 1) / (real)M;
        const real total_dy = (real)sum_dy, total_dy_xhat = (real)sum_dy_xhat;
        for (int64_t n = 0; n < N; n++) {
            const int64_t plane = (n * C + c) * S;
            NAME(grad_input_plane)(a->grad_y + plane, a->x + plane, a->grad_x + plane, S, m, inv,
                                   scale, (real)M, total_dy, total_dy_xhat);
        }
    }
}

int NAME(batch_norm_backward)(const real *grad_y, const real *x, const real *weight,
                              const real *mean, const real *invstd, real *grad_x,
                              real *grad_weight, real *grad_bias, int64_t N, int64_t C,
                              int64_t H, int64_t W) {
    if (!batch_norm_sizes_ok(N, C, H, W)) return MINICNN_BAD_ARGUMENT;
    struct NAME(batch_norm_args) args = {.x = x, .grad_y = grad_y, .weight = weight,
                                         .mean_in = mean, .invstd_in = invstd, .grad_x = grad_x,
                                         .grad_weight = grad_weight, .grad_bias = grad_bias,
                                         .N = N, .C = C, .S = H * W};
    minicnn_parallel_ranges(C, (double)N * C * H * W, NAME(batch_norm_backward_range), &args);
    return MINICNN_OK;
}

/* y = (x - mean) * invstd, times weight, plus bias, in the reference's order of operations;
 * over (n, c) planes */
WIDE_VECTORS static void NAME(batch_norm_inference_range)(void *context, int64_t p0, int64_t p1) {
    const struct NAME(batch_norm_args) *a = context;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t c = p % a->C;
        const real m = a->mean_in[c], inv = a->invstd_in[c];
        const real *in = a->x + p * a->S;
        real *out = a->y + p * a->S;
        for (int64_t s = 0; s < a->S; s++) out[s] = (in[s] - m) * inv;
        if (a->weight) {
            const real scale = a->weight[c];
            for (int64_t s = 0; s < a->S; s++) out[s] = out[s] * scale;
        }
        if (a->bias) {
            const real shift = a->bias[c];
            for (int64_t s = 0; s < a->S; s++) out[s] = out[s] + shift;
        }
    }
}

int NAME(batch_norm_inference_forward)(const real *x, const real *running_mean,
                                       const real *invstd, const real *weight, const real *bias,
                                       real *y, int64_t N, int64_t C, int64_t H, int64_t W) {
    if (!batch_norm_sizes_ok(N, C, H, W)) return MINICNN_BAD_ARGUMENT;
    struct NAME(batch_norm_args) args = {.x = x, .weight = weight, .bias = bias,
                                         .mean_in = running_mean, .invstd_in = invstd, .y = y,
                                         .N = N, .C = C, .S = H * W};
    minicnn_parallel_ranges(N * C, (double)N * C * H * W, NAME(batch_norm_inference_range),
                            &args);
    return MINICNN_OK;
}

#endif
