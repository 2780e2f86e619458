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
 * All run in pieces on the thread pool (threadpool.c): ReLU at memory bandwidth; GELU in float32
 * (exact) in vectors, with the erf and e^v below, else by libm's erf / tanh / exp per element. */
#ifndef real
#include "kernel.h"

/* float32 exact GELU in vectors: libm's erff and expf are calls the compiler cannot vectorise,
 * so float32 takes erf by Abramowitz and Stegun 7.1.26 (|error| <= 1.5e-7; reference.py's
 * float32 erf and PyTorch's vectorised CPU erf use the same formula) and its e^(-z^2) by range
 * reduction and a polynomial; float64 and the tanh form keep libm (gelu.cuh). Written to be
 * inlined into a WIDE_VECTORS loop, which then takes AVX2 / AVX-512 vectors. */

/* e^v for v <= 0: v = n ln 2 + r, |r| <= ln 2 / 2, e^r by Cephes expf's polynomial (relative
 * error about 1e-7), 2^n from the exponent bits; 0 for v below -87, where e^v is below the
 * smallest normal float32 (so that inf * e^-inf is NaN, as in the reference); NaN for NaN */
static inline float exp_nonpositive_f32(float v) {
    const float w = v >= -87.0f ? v : -87.0f;  /* and NaN: no float-to-int of a NaN below */
    /* n = v / ln 2 rounded to the nearest integer: adding 1.5 * 2^23 leaves no fraction bits
     * (floorf is not vectorised without -fno-trapping-math) */
    const float n = (w * 1.44269504f + 12582912.0f) - 12582912.0f;
    const float r = (w - n * 0.693359375f) + n * 2.12194440e-4f;  /* ln 2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const union { int32_t bits; float value; } scale = {((int32_t)n + 127) << 23};  /* 2^n */
    return v >= -87.0f ? p * scale.value : v < -87.0f ? 0.0f : v;
}

/* erf(z) = 1 - t (a1 + t (a2 + ... + t a5)) e^(-z^2), t = 1 / (1 + p |z|), odd in z */
static inline float erf_f32(float z) {
    const float a = fabsf(z), t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    const float e = 1.0f - poly * t * exp_nonpositive_f32(-a * a);
    return z < 0 ? -e : e;
}

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

WIDE_VECTORS static void NAME(gelu_forward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(activation_args) *a = context;
    if (sizeof(real) == sizeof(float) && !a->approximate_tanh) {
        for (int64_t i = begin; i < end; i++) {
            const float x = (float)a->x[i];
            a->out[i] = x * (0.5f * (1.0f + erf_f32(x * (float)GELU_SQRT_HALF)));
        }
        return;
    }
    for (int64_t i = begin; i < end; i++) a->out[i] = NAME(gelu)(a->x[i], a->approximate_tanh);
}

WIDE_VECTORS static void NAME(gelu_backward_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(activation_args) *a = context;
    if (sizeof(real) == sizeof(float) && !a->approximate_tanh) {
        for (int64_t i = begin; i < end; i++) {
            const float x = (float)a->x[i];
            const float cdf = 0.5f * (1.0f + erf_f32(x * (float)GELU_SQRT_HALF));
            const float pdf = exp_nonpositive_f32(-0.5f * x * x) * (float)GELU_INV_SQRT_2PI;
            a->out[i] = a->grad_y[i] * (cdf + x * pdf);
        }
        return;
    }
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
