/* conv2d_direct.c: the convolution and its two gradients as the plain loops of their
 * definition: the C reference that tests/test_conv_direct.py compares conv2d_gemm.c with.
 * Nothing in training calls them (no data is reused: O(N F C/G oh ow kh kw) loads each).
 *
 * x (N, C, H, W), weight (F, C/G, kh, kw), y (N, F, oh, ow), G groups: filter f of group
 * g = f / (F/G) reads channels c = g C/G + cg, cg < C/G. Tap (i, j) of output (oy, ox) reads
 * input (h, w) = (oy sh - ph + i dh, ox sw - pw + j dw), 0 outside the image:
 *
 *   forward          y[n, f, oy, ox] = sum over cg, i, j        of W[f, cg, i, j] x[n, c, h, w]
 *   input gradient   dx[n, c, h, w]  = sum over f of g, i, j    of W[f, cg, i, j] dy[n, f, oy, ox]
 *                                      for the (oy, ox) whose tap (i, j) reads (h, w), if any
 *   weight gradient  dW[f, cg, i, j] = sum over n, oy, ox      of dy[n, f, oy, ox] x[n, c, h, w]
 *
 * Every sum accumulates in double for both dtypes (accum) and is rounded once. The input
 * gradient is a gather: each dx element finds, tap by tap, the output that read it
 * (window_of_tap). One thread; the sizes are checked as for conv2d_gemm.c. */
#ifndef real
#include "conv2d.h"

/* the offset of element (a, b, c, d) of a C-contiguous array of shape (., B, C, D) */
#define AT(a, b, c, d, B, C, D) ((((a) * (B) + (b)) * (C) + (c)) * (D) + (d))

#define GENERIC_FILE "conv2d_direct.c"
#include "generic.cuh"
#else

int NAME(conv2d_direct_forward)(const real *x, const real *weight, real *y, int64_t N,
                                int64_t C, int64_t H, int64_t W, int64_t F, int64_t groups,
                                int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                int64_t pw, int64_t dh, int64_t dw) {
    struct conv_geometry g;
    if (!conv_geometry_set(&g, N, C, H, W, F, groups, kh, kw, sh, sw, ph, pw, dh, dw))
        return MINICNN_BAD_ARGUMENT;
    for (int64_t n = 0; n < N; n++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t oy = 0; oy < g.oh; oy++)
                for (int64_t ox = 0; ox < g.ow; ox++) {
                    accum sum = 0;
                    for (int64_t cg = 0; cg < g.Cg; cg++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                const int64_t h = oy * sh - ph + i * dh, w = ox * sw - pw + j * dw;
                                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                                sum += (accum)weight[AT(f, cg, i, j, g.Cg, kh, kw)]
                                    * x[AT(n, f / g.Fg * g.Cg + cg, h, w, C, H, W)];
                            }
                    y[AT(n, f, oy, ox, F, g.oh, g.ow)] = (real)sum;
                }
    return MINICNN_OK;
}

int NAME(conv2d_direct_backward_input)(const real *grad_y, const real *weight, real *grad_x,
                                       int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                                       int64_t groups, int64_t kh, int64_t kw, int64_t sh,
                                       int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                       int64_t dw) {
    struct conv_geometry g;
    if (!conv_geometry_set(&g, N, C, H, W, F, groups, kh, kw, sh, sw, ph, pw, dh, dw))
        return MINICNN_BAD_ARGUMENT;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    accum sum = 0;
                    for (int64_t f = c / g.Cg * g.Fg; f < (c / g.Cg + 1) * g.Fg; f++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                const int64_t oy = window_of_tap(h, i, sh, ph, dh, g.oh);
                                const int64_t ox = window_of_tap(w, j, sw, pw, dw, g.ow);
                                if (oy < 0 || ox < 0) continue;
                                sum += (accum)weight[AT(f, c % g.Cg, i, j, g.Cg, kh, kw)]
                                    * grad_y[AT(n, f, oy, ox, F, g.oh, g.ow)];
                            }
                    grad_x[AT(n, c, h, w, C, H, W)] = (real)sum;
                }
    return MINICNN_OK;
}

int NAME(conv2d_direct_backward_weight)(const real *x, const real *grad_y, real *grad_weight,
                                        int64_t N, int64_t C, int64_t H, int64_t W, int64_t F,
                                        int64_t groups, int64_t kh, int64_t kw, int64_t sh,
                                        int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                        int64_t dw) {
    struct conv_geometry g;
    if (!conv_geometry_set(&g, N, C, H, W, F, groups, kh, kw, sh, sw, ph, pw, dh, dw))
        return MINICNN_BAD_ARGUMENT;
    for (int64_t f = 0; f < F; f++)
        for (int64_t cg = 0; cg < g.Cg; cg++)
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    accum sum = 0;
                    for (int64_t n = 0; n < N; n++)
                        for (int64_t oy = 0; oy < g.oh; oy++)
                            for (int64_t ox = 0; ox < g.ow; ox++) {
                                const int64_t h = oy * sh - ph + i * dh, w = ox * sw - pw + j * dw;
                                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                                sum += (accum)grad_y[AT(n, f, oy, ox, F, g.oh, g.ow)]
                                    * x[AT(n, f / g.Fg * g.Cg + cg, h, w, C, H, W)];
                            }
                    grad_weight[AT(f, cg, i, j, g.Cg, kh, kw)] = (real)sum;
                }
    return MINICNN_OK;
}

#endif
