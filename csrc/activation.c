/* activation.c: ReLU, forward and backward.
 *
 *   forward   y = max(x, 0)                     x, y: any shape, n elements
 *   backward  dx = dy * [y > 0]                 the gradient at 0 is 0, as in PyTorch
 *
 * Written as the reference writes them (a multiply by the 0/1 mask, not a select), so that a
 * NaN or inf upstream gradient propagates the same way. */
#ifndef real
#include "kernel.h"
#define GENERIC_FILE "activation.c"
#include "generic.h"
#else

int NAME(relu_forward)(const real *x, real *y, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    OMP_FOR(n)
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] < 0 ? (real)0 : x[i];
    }
    return MINICNN_OK;
}

int NAME(relu_backward)(const real *grad_y, const real *y, real *grad_x, int64_t n) {
    if (n < 0) return MINICNN_BAD_ARGUMENT;
    OMP_FOR(n)
    for (int64_t i = 0; i < n; i++) {
        grad_x[i] = grad_y[i] * (real)(y[i] > 0);
    }
    return MINICNN_OK;
}

#endif
