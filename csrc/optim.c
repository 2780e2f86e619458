/* optim.c: the parameter updates of SGD (momentum, Nesterov), Adam / AdamW and RMSprop, in place.
 *
 * Each update is elementwise over the n elements of a parameter, in PyTorch's order of
 * operations, with every hyper-parameter first rounded to the parameter's dtype, as the
 * reference (and PyTorch) do. fma_round(a, b, c) = a * b + c as the reference forms it: for
 * float32 in double (the product is exact) then rounded once; for float64 in two roundings.
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

static inline real NAME(fma_round)(real a, real b, real c) {
    return (real)((accum)a * (accum)b + (accum)c);
}

/* start + weight * (end - start), from the nearer end as torch.lerp does */
static inline real NAME(lerp)(real start, real end, real weight) {
    const real difference = end - start;
    return fabs(weight) < (real)0.5 ? NAME(fma_round)(weight, difference, start)
                                    : NAME(fma_round)(weight - 1, difference, end);
}

/* every argument of one update, for its pieces on the thread pool */
struct NAME(optim_args) {
    real *param, *buffer, *average, *max_average, *momentum_buffer;
    const real *grad;
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, alpha;
    int64_t step;
    int nesterov, maximize, first_step, decoupled_weight_decay, amsgrad, centered;
};

static void NAME(sgd_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(optim_args) *a = context;
    real *param = a->param, *momentum_buffer = a->momentum_buffer;
    const real *grad = a->grad;
    const double momentum = a->momentum, weight_decay = a->weight_decay;
    const int maximize = a->maximize, nesterov = a->nesterov, first_step = a->first_step;
    const real decay = (real)weight_decay, keep = (real)momentum, mix = (real)(1 - a->dampening);
    const real step = (real)-a->lr;
    for (int64_t i = begin; i < end; i++) {
        real g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0) g = NAME(fma_round)(param[i], decay, g);
        if (momentum != 0) {
            real buf = first_step ? g : NAME(fma_round)(g, mix, momentum_buffer[i] * keep);
            momentum_buffer[i] = buf;
            g = nesterov ? NAME(fma_round)(buf, keep, g) : buf;
        }
        param[i] = NAME(fma_round)(g, step, param[i]);
    }
}

int NAME(sgd_step)(real *param, const real *grad, real *momentum_buffer, int64_t n, double lr,
                   double momentum, double dampening, double weight_decay, int nesterov,
                   int maximize, int first_step) {
    if (n < 0 || (momentum != 0 && momentum_buffer == NULL)) return MINICNN_BAD_ARGUMENT;
    struct NAME(optim_args) args = {.param = param, .grad = grad,
                                    .momentum_buffer = momentum_buffer, .lr = lr,
                                    .momentum = momentum, .dampening = dampening,
                                    .weight_decay = weight_decay, .nesterov = nesterov,
                                    .maximize = maximize, .first_step = first_step};
    minicnn_parallel_ranges(n, (double)n, NAME(sgd_range), &args);
    return MINICNN_OK;
}

static void NAME(adam_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(optim_args) *a = context;
    real *param = a->param, *exp_avg = a->buffer, *exp_avg_sq = a->average;
    real *max_exp_avg_sq = a->max_average;
    const real *grad = a->grad;
    const double lr = a->lr, beta1 = a->beta1, beta2 = a->beta2, weight_decay = a->weight_decay;
    const int64_t step = a->step;
    const int maximize = a->maximize, amsgrad = a->amsgrad;
    const int decoupled_weight_decay = a->decoupled_weight_decay;
    const real decay = (real)weight_decay, shrink = (real)(1 - lr * weight_decay);
    const real weight1 = (real)(1 - beta1), keep2 = (real)beta2, weight2 = (real)(1 - beta2);
    const real step_size = (real)-(lr / (1 - pow(beta1, (double)step)));
    const real correction2 = (real)sqrt(1 - pow(beta2, (double)step)), epsilon = (real)a->eps;
    for (int64_t i = begin; i < end; i++) {
        real g = maximize ? -grad[i] : grad[i];
        real p = param[i];
        if (weight_decay != 0) {
            if (decoupled_weight_decay) p *= shrink;
            else g = NAME(fma_round)(p, decay, g);
        }
        const real m = NAME(lerp)(exp_avg[i], g, weight1);
        const real v = NAME(fma_round)(weight2 * g, g, exp_avg_sq[i] * keep2);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        real second_moment = v;
        if (amsgrad) {
            const real v_max = max_exp_avg_sq[i];
            second_moment = (v_max > v || isnan(v_max)) ? v_max : v;  /* np.maximum */
            max_exp_avg_sq[i] = second_moment;
        }
        const real denom = sqrt(second_moment) / correction2 + epsilon;
        param[i] = p + step_size * m / denom;
    }
}

int NAME(adam_step)(real *param, const real *grad, real *exp_avg, real *exp_avg_sq,
                    real *max_exp_avg_sq, int64_t n, int64_t step, double lr, double beta1,
                    double beta2, double eps, double weight_decay, int decoupled_weight_decay,
                    int amsgrad, int maximize) {
    if (n < 0 || step < 1 || (amsgrad && max_exp_avg_sq == NULL)) return MINICNN_BAD_ARGUMENT;
    struct NAME(optim_args) args = {.param = param, .grad = grad, .buffer = exp_avg,
                                    .average = exp_avg_sq, .max_average = max_exp_avg_sq,
                                    .step = step, .lr = lr, .beta1 = beta1, .beta2 = beta2,
                                    .eps = eps, .weight_decay = weight_decay,
                                    .decoupled_weight_decay = decoupled_weight_decay,
                                    .amsgrad = amsgrad, .maximize = maximize};
    minicnn_parallel_ranges(n, (double)n, NAME(adam_range), &args);
    return MINICNN_OK;
}

static void NAME(rmsprop_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(optim_args) *a = context;
    real *param = a->param, *square_avg = a->average, *grad_avg = a->buffer;
    real *momentum_buffer = a->momentum_buffer;
    const real *grad = a->grad;
    const double momentum = a->momentum, weight_decay = a->weight_decay;
    const int centered = a->centered, maximize = a->maximize;
    const real decay = (real)weight_decay, keep = (real)a->alpha, weight = (real)(1 - a->alpha);
    const real epsilon = (real)a->eps, keep_momentum = (real)momentum, step = (real)-a->lr;
    for (int64_t i = begin; i < end; i++) {
        real g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0) g = NAME(fma_round)(param[i], decay, g);
        const real s = NAME(fma_round)(weight * g, g, square_avg[i] * keep);
        square_avg[i] = s;
        real denom;
        if (centered) {
            const real a = NAME(lerp)(grad_avg[i], g, weight);
            grad_avg[i] = a;
            denom = sqrt(NAME(fma_round)(-a, a, s));
        } else {
            denom = sqrt(s);
        }
        denom += epsilon;
        if (momentum > 0) {
            const real buf = momentum_buffer[i] * keep_momentum + g / denom;
            momentum_buffer[i] = buf;
            param[i] = NAME(fma_round)(buf, step, param[i]);
        } else {
            param[i] = param[i] + step * g / denom;
        }
    }
}

int NAME(rmsprop_step)(real *param, const real *grad, real *square_avg, real *grad_avg,
                       real *momentum_buffer, int64_t n, double lr, double alpha, double eps,
                       double weight_decay, double momentum, int centered, int maximize) {
    if (n < 0 || (centered && grad_avg == NULL) || (momentum > 0 && momentum_buffer == NULL))
        return MINICNN_BAD_ARGUMENT;
    struct NAME(optim_args) args = {.param = param, .grad = grad, .average = square_avg,
                                    .buffer = grad_avg, .momentum_buffer = momentum_buffer,
                                    .lr = lr, .alpha = alpha, .eps = eps,
                                    .weight_decay = weight_decay, .momentum = momentum,
                                    .centered = centered, .maximize = maximize};
    minicnn_parallel_ranges(n, (double)n, NAME(rmsprop_range), &args);
    return MINICNN_OK;
}

#endif
