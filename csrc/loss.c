/* loss.c: softmax cross-entropy from logits, fused, forward and backward.
 *
 * logits z (M, C), targets y (M,) int64, optional class weights w (C,) (NULL: all 1),
 * label smoothing eps, rows with y_i == ignore_index contribute 0:
 *
 *   forward   log p_ic = z_ic - max_c z_i - log(sum_c exp(z_ic - max_c z_i))   (no overflow)
 *             loss_i   = (1 - eps) w[y_i] (-log p_i,y_i) + eps / C sum_c w[c] (-log p_ic)
 *             (for eps = 0 the second term is left out, not multiplied by 0: a -inf logit
 *             makes its sum infinite, and PyTorch's loss stays finite there)
 *   backward  dz_ic = dloss_i ((1 - eps) w[y_i] (p_ic - [c == y_i]) + eps / C (p_ic sum(w) - w[c]))
 *
 * The forward keeps log p (M, C) for the backward. Rows are independent: one loop iteration
 * per row. */
#ifndef real
#include "kernel.h"

/* every target a class in [0, C) or the ignore index */
static int targets_ok(const int64_t *target, int64_t M, int64_t C, int64_t ignore_index) {
    for (int64_t i = 0; i < M; i++) {
        if (target[i] != ignore_index && (target[i] < 0 || target[i] >= C)) return 0;
    }
    return 1;
}

#define GENERIC_FILE "loss.c"
#include "generic.cuh"
#else

/* every argument of the two kernels, for their pieces (ranges of rows) on the thread pool */
struct NAME(loss_args) {
    const real *logits, *grad_loss, *log_probs, *weight;
    const int64_t *target;
    int64_t ignore_index, C;
    double label_smoothing;
    accum weight_sum;
    real *loss, *out;
};

static void NAME(softmax_cross_entropy_forward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(loss_args) *args = context;
    const real *logits = args->logits, *weight = args->weight;
    const int64_t *target = args->target;
    const int64_t ignore_index = args->ignore_index, C = args->C;
    const double label_smoothing = args->label_smoothing;
    real *loss = args->loss, *log_probs = args->out;
    for (int64_t i = begin; i < end; i++) {
        const real *z = logits + i * C;
        real *logp = log_probs + i * C;
        real zmax = z[0];
        for (int64_t c = 1; c < C; c++) zmax = z[c] > zmax ? z[c] : zmax;
        accum sum_exp = 0;
        for (int64_t c = 0; c < C; c++) sum_exp += exp(z[c] - zmax);
        const real log_sum_exp = (real)log(sum_exp);
        accum smooth = 0;  /* sum_c w[c] (-log p_ic) */
        for (int64_t c = 0; c < C; c++) {
            logp[c] = (z[c] - zmax) - log_sum_exp;
            smooth -= (accum)logp[c] * (weight ? weight[c] : 1);
        }
        if (target[i] == ignore_index) {
            loss[i] = 0;
            continue;
        }
        const int64_t t = target[i];
        const accum nll = -(accum)logp[t] * (weight ? weight[t] : 1);
        loss[i] = (real)(label_smoothing > 0 ? (1 - label_smoothing) * nll + label_smoothing / C * smooth
                                             : nll);
    }
}

int NAME(softmax_cross_entropy_forward)(const real *logits, const int64_t *target,
                                        const real *weight, int64_t ignore_index,
                                        double label_smoothing, real *loss, real *log_probs,
                                        int64_t M, int64_t C) {
    int64_t count;
    if (!COUNT(&count, M, C) || !targets_ok(target, M, C, ignore_index))
        return MINICNN_BAD_ARGUMENT;
    struct NAME(loss_args) args = {.logits = logits, .target = target, .weight = weight,
                                         .ignore_index = ignore_index,
                                         .label_smoothing = label_smoothing, .loss = loss,
                                         .out = log_probs, .C = C};
    minicnn_parallel_ranges(M, count, NAME(softmax_cross_entropy_forward_range), &args);
    return MINICNN_OK;
}

static void NAME(softmax_cross_entropy_backward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(loss_args) *args = context;
    const real *grad_loss = args->grad_loss, *log_probs = args->log_probs;
    const real *weight = args->weight;
    const int64_t *target = args->target;
    const int64_t ignore_index = args->ignore_index, C = args->C;
    const double label_smoothing = args->label_smoothing;
    const accum weight_sum = args->weight_sum;
    real *grad_logits = args->out;
    for (int64_t i = begin; i < end; i++) {
        const real *logp = log_probs + i * C;
        real *dz = grad_logits + i * C;
        if (target[i] == ignore_index) {
            for (int64_t c = 0; c < C; c++) dz[c] = 0;
            continue;
        }
        const int64_t t = target[i];
        const accum target_weight = weight ? weight[t] : 1;
        for (int64_t c = 0; c < C; c++) {
            const accum p = exp((accum)logp[c]);
            const accum nll = target_weight * (p - (c == t));
            const accum smooth = p * weight_sum - (weight ? weight[c] : 1);
            dz[c] = (real)(grad_loss[i] * ((1 - label_smoothing) * nll + label_smoothing / C * smooth));
        }
    }
}

int NAME(softmax_cross_entropy_backward)(const real *grad_loss, const real *log_probs,
                                         const int64_t *target, const real *weight,
                                         int64_t ignore_index, double label_smoothing,
                                         real *grad_logits, int64_t M, int64_t C) {
    int64_t count;
    if (!COUNT(&count, M, C) || !targets_ok(target, M, C, ignore_index))
        return MINICNN_BAD_ARGUMENT;
    accum weight_sum = 0;
    for (int64_t c = 0; c < C; c++) weight_sum += weight ? weight[c] : 1;
    struct NAME(loss_args) args = {.grad_loss = grad_loss, .log_probs = log_probs,
                                         .target = target, .weight = weight,
                                         .ignore_index = ignore_index,
                                         .label_smoothing = label_smoothing,
                                         .weight_sum = weight_sum, .out = grad_logits, .C = C};
    minicnn_parallel_ranges(M, count, NAME(softmax_cross_entropy_backward_range), &args);
    return MINICNN_OK;
}

#endif
