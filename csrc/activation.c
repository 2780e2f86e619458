/* activation.c: ReLU, forward and backward.
 *
 *   forward   y = max(x, 0)                     x, y: any shape, n elements
 *   backward  dx = dy * [y > 0]                 the gradient at 0 is 0, as in PyTorch
 *
 * Written as the reference writes them (a multiply by the 0/1 mask, not a select), so that a
 * NaN or inf upstream gradient propagates the same way. The mask is formed first, as a value,
 * so that the compiler vectorises the loop (multiplying by the comparison itself, it emits a
 * branch per element that skips the multiply by 1, mispredicted half the time).
 * Both run at memory bandwidth, in pieces on the thread pool (threadpool.c). */
#ifndef real
#include "kernel.h"
#define GENERIC_FILE "activation.c"
#include "generic.cuh"
#else

struct NAME(relu_args) {
    const real *x, *grad_y, *y;
    real *out;
};

static void NAME(relu_forward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(relu_args) *a = context;
    for (int64_t i = begin; i < end; i++) a->out[i] = a->x[i] < 0 ? (real)0 : a->x[i];
}

static void NAME(relu_backward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(relu_args) *a = context;
    for (int64_t i = begin; i < end; i++) {
        const real mask = a->y[i] > 0 ? (real)1 : (real)0;
        a->out[i] = a->grad_y[i] * mask;
    }
}

int NAME(relu_forward)(const real *x, real *y, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(relu_args) args = {x, NULL, NULL, y};
    minicnn_parallel_ranges(n, (double)n, NAME(relu_forward_range), &args);
    return MINICNN_OK;
}

int NAME(relu_backward)(const real *grad_y, const real *y, real *grad_x, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    struct NAME(relu_args) args = {NULL, grad_y, y, grad_x};
    minicnn_parallel_ranges(n, (double)n, NAME(relu_backward_range), &args);
    return MINICNN_OK;
}

#endif
