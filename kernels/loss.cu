/* loss.cu: softmax cross-entropy from logits, fused, forward and backward.
 *
 * logits z (M, C), targets y (M,) int64, optional class weights w (C,) (NULL: all 1),
 * label smoothing eps, rows with y_i == ignore_index contribute 0:
 *
 *   forward   log p_ic = z_ic - max_c z_i - log(sum_c exp(z_ic - max_c z_i))   (no overflow)
 *             loss_i   = (1 - eps) w[y_i] (-log p_i,y_i) + eps / C sum_c w[c] (-log p_ic)
 *   backward  dz_ic = dloss_i ((1 - eps) w[y_i] (p_ic - [c == y_i]) + eps / C (p_ic sum(w) - w[c]))
 *
 * For eps = 0 the forward's second term is left out, not multiplied by 0: a -inf logit makes
 * its sum infinite, and PyTorch's loss stays finite there. The forward keeps log p (M, C) for the backward. One block per row (block-stride over rows):
 * its threads stride over the C classes and meet in block_sum / block_max (blockDim.x accum
 * values of dynamic shared memory). A target outside [0, C) that is not ignore_index (which
 * the Python side refuses before the launch) gives NaN, never a read out of bounds. */
#ifndef real
#include "kernel.cuh"
#define GENERIC_FILE "loss.cu"
#include "generic.cuh"
#else

extern "C" __global__ void NAME(softmax_cross_entropy_forward)(const real *logits,
                                                               const int64 *target,
                                                               const real *weight,
                                                               int64 ignore_index,
                                                               double label_smoothing, real *loss,
                                                               real *log_probs, int64 M, int64 C) {
    extern __shared__ accum NAME(forward_row_partials)[];
    BLOCK_STRIDE_LOOP(i, M) {
        const real *z = logits + i * C;
        real *logp = log_probs + i * C;
        accum largest = -MINICNN_INFINITY;
        THREAD_STRIDE_LOOP(c, C) {
            if (z[c] > largest || isnan(z[c])) largest = z[c];
        }
        const real zmax = (real)block_max(largest, NAME(forward_row_partials));
        accum sum_exp = 0;
        THREAD_STRIDE_LOOP(c, C) sum_exp += exp(z[c] - zmax);
        const real log_sum_exp =
            (real)log(block_sum(sum_exp, NAME(forward_row_partials)));
        accum smooth = 0;  /* sum_c w[c] (-log p_ic) */
        THREAD_STRIDE_LOOP(c, C) {
            logp[c] = (z[c] - zmax) - log_sum_exp;
            smooth -= (accum)logp[c] * (weight ? weight[c] : (real)1);
        }
        smooth = block_sum(smooth, NAME(forward_row_partials));
        if (threadIdx.x == 0) {
            const int64 t = target[i];
            if (t == ignore_index) {
                loss[i] = 0;
            } else if (t < 0 || t >= C) {
                loss[i] = (real)MINICNN_NAN;
            } else {
                /* logp[t] was written by thread t % blockDim.x: block_sum's barriers order it */
                const accum nll = -(accum)logp[t] * (weight ? weight[t] : (real)1);
                loss[i] = (real)(label_smoothing > 0
                                     ? (1 - label_smoothing) * nll + label_smoothing / C * smooth
                                     : nll);
            }
        }
    }
}

extern "C" __global__ void NAME(softmax_cross_entropy_backward)(const real *grad_loss,
                                                                const real *log_probs,
                                                                const int64 *target,
                                                                const real *weight,
                                                                int64 ignore_index,
                                                                double label_smoothing,
                                                                real *grad_logits, int64 M,
                                                                int64 C) {
    extern __shared__ accum NAME(backward_row_partials)[];
    accum weights = 0;
    THREAD_STRIDE_LOOP(c, C) weights += weight ? weight[c] : (real)1;
    const accum weight_sum = block_sum(weights, NAME(backward_row_partials));
    BLOCK_STRIDE_LOOP(i, M) {
        const real *logp = log_probs + i * C;
        real *dz = grad_logits + i * C;
        const int64 t = target[i];
        if (t == ignore_index || t < 0 || t >= C) {
            const real fill = t == ignore_index ? (real)0 : (real)MINICNN_NAN;
            THREAD_STRIDE_LOOP(c, C) dz[c] = fill;
            continue;
        }
        const accum target_weight = weight ? weight[t] : (real)1;
        THREAD_STRIDE_LOOP(c, C) {
            const accum p = exp((accum)logp[c]);
            const accum nll = target_weight * (p - (c == t));
            const accum smooth = p * weight_sum - (weight ? weight[c] : (real)1);
            dz[c] = (real)(grad_loss[i] * ((1 - label_smoothing) * nll
                                           + label_smoothing / C * smooth));
        }
    }
}

#endif
