/* activation.c: ReLU and GELU, forward and backward.
 *
 *   ReLU forward   y = max(x, 0)                x, y: any shape, n elements
 *   ReLU backward  dx = dy * [y > 0]            the gradient at 0 is 0, as in PyTorch
 *   GELU forward   y = gelu(x)                  exact or tanh (approximate_tanh): gelu.cuh
 *   GELU backward  dx = dy * gelu'(x)           from x, recomputing erf / tanh
 *
 * Written as the reference writes them (a multiply by the 0/1 mask, not a select), so that a
 * NaN or inf upstream gradient propagates the same way. The mask is formed first, as a value,
 * so that the compiler vectorises the loop (multiplying by the comparison itself, it emits a
 * branch per element that skips the multiply by 1, mispredicted half the time).
 * All run in pieces on the thread pool (threadpool.c): ReLU at memory bandwidth, GELU bound by
 * its libm erf / tanh / exp per element. */
#ifndef real
#include "kernel.h"
#define GENERIC_FILE "activation.c"
#include "generic.cuh"
#else

#include "gelu.cuh"

struct NAME(activation_args) {
    const real *x, *grad_y, *y;
    real *out;
    int approximate_tanh;  /* GELU's */
};

static void NAME(relu_forward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(activation_args) *a = context;
    for (int64_t i = begin; i < end; i++) a->out[i] = a->x[i] < 0 ? (real)0 : a->x[i];
}

static void NAME(relu_backward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(activation_args) *a = context;
    for (int64_t i = begin; i < end; i++) {
        const real mask = a->y[i] > 0 ? (real)1 : (real)0;
        a->out[i] = a->grad_y[i] * mask;
    }
}

static void NAME(gelu_forward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(activation_args) *a = context;
    for (int64_t i = begin; i < end; i++) a->out[i] = NAME(gelu)(a->x[i], a->approximate_tanh);
}

static void NAME(gelu_backward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(activation_args) *a = context;
    for (int64_t i = begin; i < end; i++)
        a->out[i] = a->grad_y[i] * NAME(gelu_derivative)(a->x[i], a->approximate_tanh);
}

int NAME(relu_forward)(const real *x, real *y, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(activation_args) args = {x, NULL, NULL, y, 0};
    minicnn_parallel_ranges(n, (double)n, NAME(relu_forward_range), &args);
    return MINICNN_OK;
}

int NAME(relu_backward)(const real *grad_y, const real *y, real *grad_x, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(activation_args) args = {NULL, grad_y, y, grad_x, 0};
    minicnn_parallel_ranges(n, (double)n, NAME(relu_backward_range), &args);
    return MINICNN_OK;
}

/* a GELU costs about as much as 16 elements' copy: the threads wake for 16 times fewer */
int NAME(gelu_forward)(const real *x, real *y, int approximate_tanh, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(activation_args) args = {x, NULL, NULL, y, approximate_tanh};
    minicnn_parallel_ranges(n, 16.0 * n, NAME(gelu_forward_range), &args);
    return MINICNN_OK;
}

int NAME(gelu_backward)(const real *grad_y, const real *x, real *grad_x, int approximate_tanh,
                        int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(activation_args) args = {x, grad_y, NULL, grad_x, approximate_tanh};
    minicnn_parallel_ranges(n, 16.0 * n, NAME(gelu_backward_range), &args);
    return MINICNN_OK;
}

#endif
