/* gelu.cuh: GELU of one element and its derivative (Hendrycks & Gimpel 2016, "Gaussian error
 * linear units"), in PyTorch's order of operations (aten/src/ATen/native/cpu/Activation.cpp),
 * written once for the C kernels (csrc/activation.c, which has a vectorised float32 erf of its
 * own for the exact form) and the CUDA kernels (kernels/activation.cu). Plain C that is also
 * CUDA C++, included inside a generic pass (generic.cuh), so once per dtype with that pass's
 * `real` and NAME(); erf, tanh and exp are the type-generic ones (<tgmath.h> in C, overloads in
 * CUDA C++).
 *
 *   exact  y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2
 *          dy/dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *   tanh   y = x (1 + t) / 2,  t = tanh(u),  u = sqrt(2 / pi) (x + 0.044715 x^3)
 *          dy/dx = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2 / pi) (1 + 3 * 0.044715 x^2) */
#ifndef GELU_CUH_CONSTANTS
#define GELU_CUH_CONSTANTS
#ifdef __CUDACC__
#define GELU_FUNCTION static __device__ inline
#else
#define GELU_FUNCTION static inline
#endif
#define GELU_SQRT_HALF 0.70710678118654752440          /* 1 / sqrt(2) */
#define GELU_SQRT_2_OVER_PI 0.79788456080286535588     /* sqrt(2 / pi) */
#define GELU_INV_SQRT_2PI 0.39894228040143267794       /* 1 / sqrt(2 pi) */
#define GELU_KAPPA 0.044715
#endif

GELU_FUNCTION real NAME(gelu_tanh_inner)(real x) {
    return tanh((real)GELU_SQRT_2_OVER_PI * (x + (real)GELU_KAPPA * x * x * x));
}

GELU_FUNCTION real NAME(gelu)(real x, int approximate_tanh) {
    if (approximate_tanh) return (real)0.5 * x * ((real)1 + NAME(gelu_tanh_inner)(x));
    return x * ((real)0.5 * ((real)1 + erf(x * (real)GELU_SQRT_HALF)));
}

GELU_FUNCTION real NAME(gelu_derivative)(real x, int approximate_tanh) {
    if (approximate_tanh) {
        const real t = NAME(gelu_tanh_inner)(x);
        const real du = (real)GELU_SQRT_2_OVER_PI * ((real)1 + (real)(3 * GELU_KAPPA) * x * x);
        return (real)0.5 * ((real)1 + t) + (real)0.5 * x * ((real)1 - t * t) * du;
    }
    const real cdf = (real)0.5 * ((real)1 + erf(x * (real)GELU_SQRT_HALF));
    return cdf + x * exp((real)-0.5 * x * x) * (real)GELU_INV_SQRT_2PI;
}
