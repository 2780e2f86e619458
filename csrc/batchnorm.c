/* batchnorm.c: batch normalisation with batch statistics, forward and backward.
 *
 * x (N, C, H, W); per channel c, over its M = N*H*W values (sums accumulated in double):
 *
 *   forward   mean = sum x / M ; var = sum (x - mean)^2 / M (biased, two passes)
 *             invstd = 1 / sqrt(var + eps) ; y = (x - mean) * invstd * weight + bias
 *             (var is returned too: the running variance is taken from it, not from invstd)
 *   backward  xhat = (x - mean) * invstd
 *             dweight = sum dy * xhat ; dbias = sum dy                          (C,)
 *             dx = (invstd / M) * weight * (M * dy - sum dy - xhat * sum dy * xhat)
 *
 * weight / bias may be NULL (1 and 0). One loop iteration per channel: a channel's sums and its
 * elements belong to one thread. */
#ifndef real
#include "kernel.h"

static int batch_norm_sizes_ok(int64_t N, int64_t C, int64_t H, int64_t W) {
    int64_t count;
    return COUNT(&count, N, C, H, W);
}

#define GENERIC_FILE "batchnorm.c"
#include "generic.h"
#else

int NAME(batch_norm_forward)(const real *x, const real *weight, const real *bias, double eps,
                             real *y, real *mean, real *var, real *invstd, int64_t N, int64_t C,
                             int64_t H,
                             int64_t W) {
    if (!batch_norm_sizes_ok(N, C, H, W)) return MINICNN_BAD_ARGUMENT;
    const int64_t S = H * W, M = N * S;
    OMP_FOR(N * C * S)
    for (int64_t c = 0; c < C; c++) {
        accum sum = 0;
        for (int64_t n = 0; n < N; n++) {
            const real *in = x + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) sum += in[s];
        }
        const accum channel_mean = sum / M;
        accum squares = 0;
        for (int64_t n = 0; n < N; n++) {
            const real *in = x + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) {
                const accum d = in[s] - channel_mean;
                squares += d * d;
            }
        }
        const real m = (real)channel_mean;
        const real inv = (real)(1 / sqrt(squares / M + eps));
        const real scale = weight ? weight[c] : 1, shift = bias ? bias[c] : 0;
        mean[c] = m;
        var[c] = (real)(squares / M);
        invstd[c] = inv;
        for (int64_t n = 0; n < N; n++) {
            const real *in = x + (n * C + c) * S;
            real *out = y + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) out[s] = (in[s] - m) * inv * scale + shift;
        }
    }
    return MINICNN_OK;
}

int NAME(batch_norm_backward)(const real *grad_y, const real *x, const real *weight,
                              const real *mean, const real *invstd, real *grad_x,
                              real *grad_weight, real *grad_bias, int64_t N, int64_t C,
                              int64_t H, int64_t W) {
    if (!batch_norm_sizes_ok(N, C, H, W)) return MINICNN_BAD_ARGUMENT;
    const int64_t S = H * W, M = N * S;
    OMP_FOR(N * C * S)
    for (int64_t c = 0; c < C; c++) {
        const real m = mean[c], inv = invstd[c];
        accum sum_dy = 0, sum_dy_xhat = 0;
        for (int64_t n = 0; n < N; n++) {
            const real *dy = grad_y + (n * C + c) * S, *in = x + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) {
                sum_dy += dy[s];
                sum_dy_xhat += (accum)dy[s] * ((accum)(in[s] - m) * inv);
            }
        }
        grad_weight[c] = (real)sum_dy_xhat;
        grad_bias[c] = (real)sum_dy;
        const real scale = inv * (weight ? weight[c] : 1) / (real)M;
        const real total_dy = (real)sum_dy, total_dy_xhat = (real)sum_dy_xhat;
        for (int64_t n = 0; n < N; n++) {
            const real *dy = grad_y + (n * C + c) * S, *in = x + (n * C + c) * S;
            real *dx = grad_x + (n * C + c) * S;
            for (int64_t s = 0; s < S; s++) {
                const real xhat = (in[s] - m) * inv;
                dx[s] = scale * ((real)M * dy[s] - total_dy - xhat * total_dy_xhat);
            }
        }
    }
    return MINICNN_OK;
}

#endif
