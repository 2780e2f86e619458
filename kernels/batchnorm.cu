/* batchnorm.cu: batch normalisation with batch statistics, forward and backward.
 *
 * x (N, C, H, W); per channel c, over its M = N*H*W values (sums accumulated in double):
 *
 *   forward   mean = sum x / M ; var = sum (x - mean)^2 / M (biased; two passes, as the
 *             reference and csrc/batchnorm.c)
 *             invstd = 1 / sqrt(var + eps) ; y = (x - mean) * invstd * weight + bias
 *             (var is returned too: the running variance is taken from it, not from invstd)
 *   backward  xhat = (x - mean) * invstd
 *             dweight = sum dy * xhat ; dbias = sum dy                          (C,)
 *             dx = (invstd / M) * weight * (M * dy - sum dy - xhat * sum dy * xhat)
 *
 * weight / bias may be NULL (1 and 0). One block per channel (block-stride over channels): its
 * threads stride over the channel's M values and combine their partial sums with block_sum, a
 * reduction in shared memory (blockDim.x accum values of dynamic shared memory per block). The
 * variance takes a second pass over x - mean, never E[x^2] - E[x]^2, which cancels. */
#ifndef real
#include "kernel.cuh"
#define GENERIC_FILE "batchnorm.cu"
#include "generic.cuh"
#else

extern "C" __global__ void NAME(batch_norm_forward)(const real *x, const real *weight,
                                                    const real *bias, double eps, real *y,
                                                    real *mean, real *var, real *invstd, int64 N,
                                                    int64 C, int64 H, int64 W) {
    extern __shared__ accum NAME(forward_partial_sums)[];
    const int64 S = H * W, M = N * S;
    BLOCK_STRIDE_LOOP(c, C) {
        accum sum = 0;
        THREAD_STRIDE_LOOP(e, M) sum += x[(e / S * C + c) * S + e % S];
        const accum channel_mean = block_sum(sum, NAME(forward_partial_sums)) / M;
        accum squares = 0;
        THREAD_STRIDE_LOOP(e, M) {
            const accum d = x[(e / S * C + c) * S + e % S] - channel_mean;
            squares += d * d;
        }
        squares = block_sum(squares, NAME(forward_partial_sums));
        const real m = (real)channel_mean;
        const real inv = (real)(1 / sqrt(squares / M + eps));
        const real scale = weight ? weight[c] : (real)1, shift = bias ? bias[c] : (real)0;
        if (threadIdx.x == 0) {
            mean[c] = m;
            var[c] = (real)(squares / M);
            invstd[c] = inv;
        }
        THREAD_STRIDE_LOOP(e, M) {
            const int64 at = (e / S * C + c) * S + e % S;
            y[at] = (x[at] - m) * inv * scale + shift;
        }
    }
}

extern "C" __global__ void NAME(batch_norm_backward)(const real *grad_y, const real *x,
                                                     const real *weight, const real *mean,
                                                     const real *invstd, real *grad_x,
                                                     real *grad_weight, real *grad_bias,
                                                     int64 N, int64 C, int64 H, int64 W) {
    extern __shared__ accum NAME(backward_partial_sums)[];
    const int64 S = H * W, M = N * S;
    BLOCK_STRIDE_LOOP(c, C) {
        const real m = mean[c], inv = invstd[c];
        accum sum_dy = 0, sum_dy_xhat = 0;
        THREAD_STRIDE_LOOP(e, M) {
            const int64 at = (e / S * C + c) * S + e % S;
            sum_dy += grad_y[at];
            sum_dy_xhat += (accum)grad_y[at] * ((accum)(x[at] - m) * inv);
        }
        sum_dy = block_sum(sum_dy, NAME(backward_partial_sums));
        sum_dy_xhat = block_sum(sum_dy_xhat, NAME(backward_partial_sums));
        if (threadIdx.x == 0) {
            grad_weight[c] = (real)sum_dy_xhat;
            grad_bias[c] = (real)sum_dy;
        }
        const real scale = inv * (weight ? weight[c] : (real)1) / (real)M;
        const real total_dy = (real)sum_dy, total_dy_xhat = (real)sum_dy_xhat;
        THREAD_STRIDE_LOOP(e, M) {
            const int64 at = (e / S * C + c) * S + e % S;
            const real xhat = (x[at] - m) * inv;
            /* term 1: M dy ; term 2: the mean's share, sum dy ; term 3: the variance's share */
            grad_x[at] = scale * ((real)M * grad_y[at] - total_dy - xhat * total_dy_xhat);
        }
    }
}

#endif
