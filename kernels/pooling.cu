/* pooling.cu: max and average pooling over windows of each (n, c) plane, forward and backward.
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
 * Forward passes: one thread per output element. Backward passes write disjoint memory (no
 * atomics) and sum in the reference's order: the average backward is a gather, one thread per
 * input pixel summing over taps (i, j) in increasing order; the max backward, which knows only
 * the argmax indices and not the window, gives one thread a whole (n, c) plane of dx (zeroed by
 * the caller) and adds dy[a, b] at indices[a, b] in increasing (a, b) order. */
#ifndef real
#include "kernel.cuh"

#define GENERIC_FILE "pooling.cu"
#include "generic.cuh"
#else

extern "C" __global__ void NAME(max_pool2d_forward)(const real *x, real *y, int64 *indices,
                                                    int64 N, int64 C, int64 H, int64 W, int64 kh,
                                                    int64 kw, int64 sh, int64 sw, int64 ph,
                                                    int64 pw, int64 dh, int64 dw, int64 oh,
                                                    int64 ow) {
    GRID_STRIDE_LOOP(index, N * C * oh * ow) {
        const int64 plane = index / (oh * ow), a = index / ow % oh, b = index % ow;
        const real *in = x + plane * H * W;
        real best = -MINICNN_INFINITY;
        int64 best_index = -1;
        for (int64 i = 0; i < kh; i++) {
            const int64 h = a * sh - ph + i * dh;
            if (h < 0 || h >= H) continue;
            for (int64 j = 0; j < kw; j++) {
                const int64 w = b * sw - pw + j * dw;
                if (w < 0 || w >= W) continue;
                const real value = in[h * W + w];
                if (best_index < 0 || value > best || isnan(value)) {
                    best = value;
                    best_index = h * W + w;
                }
            }
        }
        y[index] = best;
        indices[index] = best_index;
    }
}

/* grad_x must hold zeros; an index outside [0, H*W) is skipped (the caller checks them) */
extern "C" __global__ void NAME(max_pool2d_backward)(const real *grad_y, const int64 *indices,
                                                     real *grad_x, int64 N, int64 C, int64 oh,
                                                     int64 ow, int64 H, int64 W) {
    GRID_STRIDE_LOOP(plane, N * C) {
        const real *dy = grad_y + plane * oh * ow;
        const int64 *argmax = indices + plane * oh * ow;
        real *dx = grad_x + plane * H * W;
        for (int64 o = 0; o < oh * ow; o++) {
            if (argmax[o] >= 0 && argmax[o] < H * W) dx[argmax[o]] += dy[o];
        }
    }
}

extern "C" __global__ void NAME(avg_pool2d_forward)(const real *x, real *y, int64 N, int64 C,
                                                    int64 H, int64 W, int64 kh, int64 kw,
                                                    int64 sh, int64 sw, int64 ph, int64 pw,
                                                    int64 oh, int64 ow, int count_include_pad) {
    GRID_STRIDE_LOOP(index, N * C * oh * ow) {
        const int64 plane = index / (oh * ow), a = index / ow % oh, b = index % ow;
        const real *in = x + plane * H * W;
        const int64 h_start = a * sh - ph, w_start = b * sw - pw;
        const int64 h_first = h_start > 0 ? h_start : 0, w_first = w_start > 0 ? w_start : 0;
        const int64 h_last = h_start + kh < H ? h_start + kh : H;
        const int64 w_last = w_start + kw < W ? w_start + kw : W;
        real total = 0;  /* in the reference's order: (i, j) increasing */
        for (int64 h = h_first; h < h_last; h++)
            for (int64 w = w_first; w < w_last; w++) total += in[h * W + w];
        const int64 divisor = divisor_extent(a, sh, ph, kh, H, count_include_pad)
                            * divisor_extent(b, sw, pw, kw, W, count_include_pad);
        y[index] = total / (real)divisor;
    }
}

extern "C" __global__ void NAME(avg_pool2d_backward)(const real *grad_y, real *grad_x, int64 N,
                                                     int64 C, int64 H, int64 W, int64 kh,
                                                     int64 kw, int64 sh, int64 sw, int64 ph,
                                                     int64 pw, int64 oh, int64 ow,
                                                     int count_include_pad) {
    GRID_STRIDE_LOOP(index, N * C * H * W) {
        const int64 plane = index / (H * W), h = index / W % H, w = index % W;
        const real *dy = grad_y + plane * oh * ow;
        real total = 0;
        for (int64 i = 0; i < kh; i++) {
            const int64 a = window_of_tap(h, i, sh, ph, 1, oh);
            if (a < 0) continue;
            const int64 rows = divisor_extent(a, sh, ph, kh, H, count_include_pad);
            for (int64 j = 0; j < kw; j++) {
                const int64 b = window_of_tap(w, j, sw, pw, 1, ow);
                if (b < 0) continue;
                const int64 divisor = rows * divisor_extent(b, sw, pw, kw, W, count_include_pad);
                total += dy[a * ow + b] / (real)divisor;
            }
        }
        grad_x[index] = total;
    }
}

#endif
