/* optim.cu: the parameter updates of SGD (momentum, Nesterov), Adam / AdamW and RMSprop, in place.
 *
 * Each update is elementwise over the n elements of a parameter, in PyTorch's order of
 * operations, with every hyper-parameter first rounded to the parameter's dtype, as the
 * reference (and PyTorch) do; fma_round(a, b, c) = a * b + c rounded once (optim_update.cuh,
 * which holds each element's update, shared with csrc/optim.c).
 *
 *   SGD      g = -grad if maximize else grad ; g += weight_decay * param
 *            buf = g (first step) or momentum * buf + (1 - dampening) * g
 *            g = g + momentum * buf (Nesterov) or buf ; param -= lr * g
 *   Adam     g as above (or, decoupled (AdamW), param *= 1 - lr * weight_decay)
 *            m = lerp(m, g, 1 - beta1) ; v = beta2 * v + (1 - beta2) * g * g
 *            v_max = max(v_max, v) (amsgrad), which replaces v below
 *            param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *   RMSprop  s = alpha * s + (1 - alpha) * g * g ; a = lerp(a, g, 1 - alpha) (centered)
 *            d = sqrt(s - a * a) + eps (centered) or sqrt(s) + eps
 *            buf = momentum * buf + g / d ; param -= lr * buf   (or param -= lr * g / d)
 *
 * Optional state arrays are NULL when their option is off. One thread per element. */
#ifndef real
#include "kernel.cuh"
#define GENERIC_FILE "optim.cu"
#include "generic.cuh"
#else

#include "optim_update.cuh"

extern "C" __global__ void NAME(sgd_step)(real *param, const real *grad, real *momentum_buffer,
                                          int64 n, double lr, double momentum, double dampening,
                                          double weight_decay, int nesterov, int maximize,
                                          int first_step) {
    const struct NAME(sgd_update) update = NAME(sgd_update_of)(
        param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize,
        first_step);
    GRID_STRIDE_LOOP(i, n) NAME(sgd_element)(&update, i);
}

extern "C" __global__ void NAME(adam_step)(real *param, const real *grad, real *exp_avg,
                                           real *exp_avg_sq, real *max_exp_avg_sq, int64 n,
                                           int64 step, double lr, double beta1, double beta2,
                                           double eps, double weight_decay,
                                           int decoupled_weight_decay, int amsgrad, int maximize) {
    const struct NAME(adam_update) update = NAME(adam_update_of)(
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
        weight_decay, decoupled_weight_decay, amsgrad, maximize);
    GRID_STRIDE_LOOP(i, n) NAME(adam_element)(&update, i);
}

extern "C" __global__ void NAME(rmsprop_step)(real *param, const real *grad, real *square_avg,
                                              real *grad_avg, real *momentum_buffer, int64 n,
                                              double lr, double alpha, double eps,
                                              double weight_decay, double momentum, int centered,
                                              int maximize) {
    const struct NAME(rmsprop_update) update = NAME(rmsprop_update_of)(
        param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
        momentum, centered, maximize);
    GRID_STRIDE_LOOP(i, n) NAME(rmsprop_element)(&update, i);
}

#endif
