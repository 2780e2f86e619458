/* optim.c: the parameter updates of SGD (momentum, Nesterov), Adam / AdamW and RMSprop, in place.
 *
 * Each update is elementwise over the n elements of a parameter, in PyTorch's order of
 * operations, with every hyper-parameter first rounded to the parameter's dtype, as the
 * reference (and PyTorch) do; fma_round(a, b, c) = a * b + c rounded once. Each element's update
 * is kernels/optim_update.cuh, shared with the CUDA kernels (kernels/optim.cu).
 *
 *   SGD      g = -grad if maximize else grad ; g += weight_decay * param
 *            buf = g (first step) or momentum * buf + (1 - dampening) * g
 *            g = g + momentum * buf (Nesterov) or buf ; param -= lr * g
 *   Adam     g as above (or, decoupled, param *= 1 - lr * weight_decay)
 *            m = lerp(m, g, 1 - beta1) ; v = beta2 * v + (1 - beta2) * g * g ; v_max = max(v_max, v)
 *            param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *   RMSprop  s = alpha * s + (1 - alpha) * g * g ; a = lerp(a, g, 1 - alpha) (centered)
 *            d = sqrt(s - a * a) + eps (centered) or sqrt(s) + eps
 *            buf = momentum * buf + g / d ; param -= lr * buf   (or param -= lr * g / d)
 *
 * Optional state arrays are NULL when their option is off. Each update runs in pieces on the
 * thread pool (threadpool.c). */
#ifndef real
#include "kernel.h"
#define GENERIC_FILE "optim.c"
#include "generic.cuh"
#else

#include "optim_update.cuh"

/* element i of each update, for i in [begin, end): a piece on the thread pool */
static void NAME(sgd_range)(void *update, int64_t begin, int64_t end) {
    const struct NAME(sgd_update) u = *(const struct NAME(sgd_update) *)update;
    for (int64_t i = begin; i < end; i++) NAME(sgd_element)(&u, i);
}

static void NAME(adam_range)(void *update, int64_t begin, int64_t end) {
    const struct NAME(adam_update) u = *(const struct NAME(adam_update) *)update;
    for (int64_t i = begin; i < end; i++) NAME(adam_element)(&u, i);
}

static void NAME(rmsprop_range)(void *update, int64_t begin, int64_t end) {
    const struct NAME(rmsprop_update) u = *(const struct NAME(rmsprop_update) *)update;
    for (int64_t i = begin; i < end; i++) NAME(rmsprop_element)(&u, i);
}

int NAME(sgd_step)(real *param, const real *grad, real *momentum_buffer, int64_t n, double lr,
                   double momentum, double dampening, double weight_decay, int nesterov,
                   int maximize, int first_step) {
    if (n < 0 || (momentum != 0 && momentum_buffer == NULL)) return MINICNN_BAD_ARGUMENT;
    struct NAME(sgd_update) update = NAME(sgd_update_of)(
        param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
        first_step);
    minicnn_parallel_ranges(n, (double)n, NAME(sgd_range), &update);
    return MINICNN_OK;
}

int NAME(adam_step)(real *param, const real *grad, real *exp_avg, real *exp_avg_sq,
                    real *max_exp_avg_sq, int64_t n, int64_t step, double lr, double beta1,
                    double beta2, double eps, double weight_decay, int decoupled_weight_decay,
                    int amsgrad, int maximize) {
    if (n < 0 || step < 1 || (amsgrad && max_exp_avg_sq == NULL)) return MINICNN_BAD_ARGUMENT;
    struct NAME(adam_update) update = NAME(adam_update_of)(
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
        weight_decay, decoupled_weight_decay, amsgrad, maximize);
    minicnn_parallel_ranges(n, (double)n, NAME(adam_range), &update);
    return MINICNN_OK;
}

int NAME(rmsprop_step)(real *param, const real *grad, real *square_avg, real *grad_avg,
                       real *momentum_buffer, int64_t n, double lr, double alpha, double eps,
                       double weight_decay, double momentum, int centered, int maximize) {
    if (n < 0 || (centered && grad_avg == NULL) || (momentum > 0 && momentum_buffer == NULL))
        return MINICNN_BAD_ARGUMENT;
    struct NAME(rmsprop_update) update = NAME(rmsprop_update_of)(
        param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
        momentum, centered, maximize);
    minicnn_parallel_ranges(n, (double)n, NAME(rmsprop_range), &update);
    return MINICNN_OK;
}

#endif
