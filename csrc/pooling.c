/* pooling.c: max and average pooling over windows of each (n, c) plane, forward and backward.
 *
 * x (N, C, H, W) -> y (N, C, oh, ow); window (a, b) covers rows a*sh - ph + i*dh (i < kh) and
 * columns b*sw - pw + j*dw (j < kw); the caller gives oh, ow (ceil_mode decides them), so the
 * last windows may run past the padded image.
 *
 *   max forward    y[a,b] = max of x over the window's positions inside the image;
 *                  indices[a,b] = h*W + w of that max (int64), the first in scan order on ties,
 *                  a NaN winning (the last one), -1 for a window with no input (y = -inf)
 *   max backward   dx[h,w] = sum of dy[a,b] over the windows whose max was (h, w)
 *   avg forward    y[a,b] = (sum of x over the window, padding counting 0) / divisor[a,b]
 *   avg backward   dx[h,w] = sum of dy[a,b] / divisor[a,b] over the windows that hold (h, w)
 *   divisor        with count_include_pad the window clipped to [-p, size + p), else to [0, size)
 *
 * One loop iteration owns one (n, c) plane (ranges of planes run on the thread pool), so the
 * backward passes write disjoint memory (no atomics) and sum in a fixed order: the reference's,
 * (a, b) for max, (i, j) for average. */
#ifndef real
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

static int pool_sizes_ok(int64_t N, int64_t C, int64_t H, int64_t W, int64_t oh, int64_t ow) {
    int64_t count;
    return COUNT(&count, N, C, H, W) && COUNT(&count, N, C, oh, ow)
        && H < ((int64_t)1 << 31) && W < ((int64_t)1 << 31)
        && oh < ((int64_t)1 << 31) && ow < ((int64_t)1 << 31);
}

/* divisor[a*ow + b] for every window; NULL when out of memory */
static int64_t *avg_pool_divisors(int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                                  int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                                  int count_include_pad) {
    int64_t bytes;
    if (!checked_mul(oh * ow, (int64_t)sizeof(int64_t), &bytes)) return NULL;
    int64_t *divisor = minicnn_malloc((size_t)bytes);
    if (divisor == NULL) return NULL;
    for (int64_t a = 0; a < oh; a++) {
        const int64_t rows = divisor_extent(a, sh, ph, kh, H, count_include_pad);
        for (int64_t b = 0; b < ow; b++)
            divisor[a * ow + b] = rows * divisor_extent(b, sw, pw, kw, W, count_include_pad);
    }
    return divisor;
}

#define GENERIC_FILE "pooling.c"
#include "generic.cuh"
#else

/* every argument of the four kernels, for their pieces (ranges of planes) on the thread pool */
struct NAME(pool_args) {
    const real *x, *grad_y;
    real *y, *grad_x;
    int64_t *indices;
    const int64_t *indices_in, *divisor;
    int64_t H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
    _Atomic int bad_index;
};

/* One plane of the 2x2 window at stride 2, without padding or dilation, every window inside the
 * image (VGG's pool, airbench's): the general loop's comparisons in its order, without its
 * bounds checks and loop counters. */
static void NAME(max_pool2x2_plane)(const real *in, real *out, int64_t *argmax, int64_t W,
                                    int64_t oh, int64_t ow) {
    const int64_t offsets[3] = {1, W, W + 1};  /* (0, 1), (1, 0), (1, 1) from the corner */
    for (int64_t a = 0; a < oh; a++) {
        for (int64_t b = 0; b < ow; b++) {
            const int64_t corner = 2 * a * W + 2 * b;
            real best = in[corner];
            int64_t best_index = corner;
            for (int k = 0; k < 3; k++) {
                const real value = in[corner + offsets[k]];
                if (value > best || isnan(value)) {
                    best = value;
                    best_index = corner + offsets[k];
                }
            }
            out[a * ow + b] = best;
            argmax[a * ow + b] = best_index;
        }
    }
}

static void NAME(max_pool2d_forward_range)(void *context, int64_t p0, int64_t p1) {
    struct NAME(pool_args) *args = context;
    const real *x = args->x;
    real *y = args->y;
    int64_t *indices = args->indices;
    const int64_t H = args->H, W = args->W, kh = args->kh, kw = args->kw, sh = args->sh;
    const int64_t sw = args->sw, ph = args->ph, pw = args->pw, dh = args->dh, dw = args->dw;
    const int64_t oh = args->oh, ow = args->ow;
    const int two_by_two = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0
                           && dh == 1 && dw == 1 && 2 * oh <= H && 2 * ow <= W;
    for (int64_t p = p0; p < p1; p++) {
        const real *in = x + p * H * W;
        real *out = y + p * oh * ow;
        int64_t *argmax = indices + p * oh * ow;
        if (two_by_two) {
            NAME(max_pool2x2_plane)(in, out, argmax, W, oh, ow);
            continue;
        }
        for (int64_t a = 0; a < oh; a++) {
            for (int64_t b = 0; b < ow; b++) {
                real best = -INFINITY;
                int64_t best_index = -1;
                for (int64_t i = 0; i < kh; i++) {
                    const int64_t h = a * sh - ph + i * dh;
                    if (h < 0 || h >= H) continue;
                    for (int64_t j = 0; j < kw; j++) {
                        const int64_t w = b * sw - pw + j * dw;
                        if (w < 0 || w >= W) continue;
                        const real value = in[h * W + w];
                        if (best_index < 0 || value > best || isnan(value)) {
                            best = value;
                            best_index = h * W + w;
                        }
                    }
                }
                out[a * ow + b] = best;
                argmax[a * ow + b] = best_index;
            }
        }
    }
}

static void NAME(max_pool2d_backward_range)(void *context, int64_t p0, int64_t p1) {
    struct NAME(pool_args) *args = context;
    const real *grad_y = args->grad_y;
    const int64_t *indices = args->indices_in;
    real *grad_x = args->grad_x;
    const int64_t H = args->H, W = args->W, oh = args->oh, ow = args->ow;
    int bad_index = 0;
    for (int64_t p = p0; p < p1; p++) {
        const real *dy = grad_y + p * oh * ow;
        const int64_t *argmax = indices + p * oh * ow;
        real *dx = grad_x + p * H * W;
        memset(dx, 0, (size_t)(H * W) * sizeof(real));
        for (int64_t o = 0; o < oh * ow; o++) {
            if (argmax[o] >= H * W || argmax[o] < -1) {
                bad_index = 1;  /* never written outside the plane; the caller is told */
            } else if (argmax[o] >= 0) {
                dx[argmax[o]] += dy[o];
            }
        }
    }
    if (bad_index) atomic_store(&args->bad_index, 1);
}

static void NAME(avg_pool2d_forward_range)(void *context, int64_t p0, int64_t p1) {
    struct NAME(pool_args) *args = context;
    const real *x = args->x;
    real *y = args->y;
    const int64_t *divisor = args->divisor;
    const int64_t H = args->H, W = args->W, kh = args->kh, kw = args->kw, sh = args->sh;
    const int64_t sw = args->sw, ph = args->ph, pw = args->pw, oh = args->oh, ow = args->ow;
    for (int64_t p = p0; p < p1; p++) {
        const real *in = x + p * H * W;
        real *out = y + p * oh * ow;
        for (int64_t a = 0; a < oh; a++) {
            const int64_t h_start = a * sh - ph;
            const int64_t h_first = h_start > 0 ? h_start : 0;
            const int64_t h_last = h_start + kh < H ? h_start + kh : H;
            for (int64_t b = 0; b < ow; b++) {
                const int64_t w_start = b * sw - pw;
                const int64_t w_first = w_start > 0 ? w_start : 0;
                const int64_t w_last = w_start + kw < W ? w_start + kw : W;
                real total = 0;  /* in the reference's order and precision: (i, j) increasing */
                for (int64_t h = h_first; h < h_last; h++)
                    for (int64_t w = w_first; w < w_last; w++) total += in[h * W + w];
                out[a * ow + b] = total / (real)divisor[a * ow + b];
            }
        }
    }
}

static void NAME(avg_pool2d_backward_range)(void *context, int64_t p0, int64_t p1) {
    struct NAME(pool_args) *args = context;
    const real *grad_y = args->grad_y;
    real *grad_x = args->grad_x;
    const int64_t *divisor = args->divisor;
    const int64_t H = args->H, W = args->W, kh = args->kh, kw = args->kw, sh = args->sh;
    const int64_t sw = args->sw, ph = args->ph, pw = args->pw, oh = args->oh, ow = args->ow;
    for (int64_t p = p0; p < p1; p++) {
        const real *dy = grad_y + p * oh * ow;
        real *dx = grad_x + p * H * W;
        memset(dx, 0, (size_t)(H * W) * sizeof(real));
        for (int64_t i = 0; i < kh; i++) {
            for (int64_t j = 0; j < kw; j++) {
                for (int64_t a = 0; a < oh; a++) {
                    const int64_t h = a * sh - ph + i;
                    if (h < 0 || h >= H) continue;
                    for (int64_t b = 0; b < ow; b++) {
                        const int64_t w = b * sw - pw + j;
                        if (w < 0 || w >= W) continue;
                        dx[h * W + w] += dy[a * ow + b] / (real)divisor[a * ow + b];
                    }
                }
            }
        }
    }
}

int NAME(max_pool2d_forward)(const real *x, real *y, int64_t *indices, int64_t N, int64_t C,
                             int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                             int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t oh,
                             int64_t ow) {
    if (!pool_sizes_ok(N, C, H, W, oh, ow) || !window_ok(kh, sh, ph, dh)
        || !window_ok(kw, sw, pw, dw))
        return MINICNN_BAD_ARGUMENT;
    struct NAME(pool_args) args = {.x = x, .y = y, .indices = indices, .H = H, .W = W,
                                   .kh = kh, .kw = kw, .sh = sh, .sw = sw, .ph = ph, .pw = pw,
                                   .dh = dh, .dw = dw, .oh = oh, .ow = ow};
    minicnn_parallel_ranges(N * C, (double)N * C * oh * ow * kh * kw,
                            NAME(max_pool2d_forward_range), &args);
    return MINICNN_OK;
}

int NAME(max_pool2d_backward)(const real *grad_y, const int64_t *indices, real *grad_x,
                              int64_t N, int64_t C, int64_t oh, int64_t ow, int64_t H, int64_t W) {
    if (!pool_sizes_ok(N, C, H, W, oh, ow)) return MINICNN_BAD_ARGUMENT;
    struct NAME(pool_args) args = {.grad_y = grad_y, .indices_in = indices,
                                   .grad_x = grad_x, .H = H, .W = W, .oh = oh, .ow = ow};
    minicnn_parallel_ranges(N * C, (double)N * C * (oh * ow + H * W),
                            NAME(max_pool2d_backward_range), &args);
    return atomic_load(&args.bad_index) ? MINICNN_BAD_INDEX : MINICNN_OK;
}

int NAME(avg_pool2d_forward)(const real *x, real *y, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                             int64_t pw, int64_t oh, int64_t ow, int count_include_pad) {
    if (!pool_sizes_ok(N, C, H, W, oh, ow) || !window_ok(kh, sh, ph, 1)
        || !window_ok(kw, sw, pw, 1))
        return MINICNN_BAD_ARGUMENT;
    int64_t *divisor = avg_pool_divisors(H, W, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad);
    if (divisor == NULL) return MINICNN_OUT_OF_MEMORY;
    struct NAME(pool_args) args = {.x = x, .y = y, .divisor = divisor, .H = H, .W = W,
                                   .kh = kh, .kw = kw, .sh = sh, .sw = sw, .ph = ph, .pw = pw,
                                   .oh = oh, .ow = ow};
    minicnn_parallel_ranges(N * C, (double)N * C * oh * ow * kh * kw,
                            NAME(avg_pool2d_forward_range), &args);
    free(divisor);
    return MINICNN_OK;
}

int NAME(avg_pool2d_backward)(const real *grad_y, real *grad_x, int64_t N, int64_t C,
                              int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw, int64_t oh, int64_t ow,
                              int count_include_pad) {
    if (!pool_sizes_ok(N, C, H, W, oh, ow) || !window_ok(kh, sh, ph, 1)
        || !window_ok(kw, sw, pw, 1))
        return MINICNN_BAD_ARGUMENT;
    int64_t *divisor = avg_pool_divisors(H, W, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad);
    if (divisor == NULL) return MINICNN_OUT_OF_MEMORY;
    struct NAME(pool_args) args = {.grad_y = grad_y, .grad_x = grad_x, .divisor = divisor,
                                   .H = H, .W = W, .kh = kh, .kw = kw, .sh = sh, .sw = sw,
                                   .ph = ph, .pw = pw, .oh = oh, .ow = ow};
    minicnn_parallel_ranges(N * C, (double)N * C * ((double)oh * ow * kh * kw + H * W),
                            NAME(avg_pool2d_backward_range), &args);
    free(divisor);
    return MINICNN_OK;
}

#endif
