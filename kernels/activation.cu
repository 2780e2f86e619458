/* activation.cu: ReLU and GELU, forward and backward.
 *
 *   ReLU forward   y = max(x, 0)                x, y: any shape, n elements
 *   ReLU backward  dx = dy * [y > 0]            the gradient at 0 is 0, as in PyTorch
 *   GELU forward   y = gelu(x)                  exact or tanh (approximate_tanh): gelu.cuh
 *   GELU backward  dx = dy * gelu'(x)           from x, recomputing erf / tanh
 *
 * One thread per element (grid-stride). The backward multiplies by the 0/1 mask, as the
 * reference does, so a NaN or inf upstream gradient propagates the same way. */
#ifndef real
#include "kernel.cuh"
#define GENERIC_FILE "activation.cu"
#include "generic.cuh"
#else

#include "gelu.cuh"

extern "C" __global__ void NAME(relu_forward)(const real *x, real *y, int64 n) {
    GRID_STRIDE_LOOP(i, n) y[i] = x[i] < 0 ? (real)0 : x[i];
}

extern "C" __global__ void NAME(relu_backward)(const real *grad_y, const real *y, real *grad_x,
                                               int64 n) {
    GRID_STRIDE_LOOP(i, n) grad_x[i] = grad_y[i] * (real)(y[i] > 0);
}

extern "C" __global__ void NAME(gelu_forward)(const real *x, real *y, int approximate_tanh,
                                              int64 n) {
    GRID_STRIDE_LOOP(i, n) y[i] = NAME(gelu)(x[i], approximate_tanh);
}

extern "C" __global__ void NAME(gelu_backward)(const real *grad_y, const real *x, real *grad_x,
                                               int approximate_tanh, int64 n) {
    GRID_STRIDE_LOOP(i, n) grad_x[i] = grad_y[i] * NAME(gelu_derivative)(x[i], approximate_tanh);
}

#endif
