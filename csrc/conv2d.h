/* conv2d.h: the geometry of a 2-d convolution, shared by its GEMM kernels (conv2d_gemm.c) and
 * its direct loops (conv2d_direct.c); not read by cffi.
 *
 * x (N, C, H, W), weight (F, C/G, kh, kw), y (N, F, oh, ow), G groups; stride sh, sw, zero
 * padding ph, pw, dilation dh, dw (window.cuh gives oh and ow). */
#ifndef MINICNN_CONV2D_H
#define MINICNN_CONV2D_H

#include "kernel.h"

struct conv_geometry {
    int64_t N, C, H, W, F, G, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
    int64_t Cg, Fg, P, taps;  /* channels and filters per group, oh*ow, kh*kw */
};

/* sizes that make sense, and every element count small enough that no index or product of
 * the kernels (16 weight-gradient chunks of N*oh*ow columns, ...) passes int64 */
static inline int conv_geometry_set(struct conv_geometry *g, int64_t N, int64_t C, int64_t H,
                                    int64_t W, int64_t F, int64_t G, int64_t kh, int64_t kw,
                                    int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                                    int64_t dw) {
    int64_t count;
    const int64_t limit = (int64_t)1 << 31;
    if (!COUNT(&count, N, C, H, W, F, G) || H >= limit || W >= limit || C % G != 0
        || F % G != 0 || !window_ok(kh, sh, ph, dh) || !window_ok(kw, sw, pw, dw))
        return 0;
    const int64_t oh = window_output_size(H, kh, sh, ph, dh);
    const int64_t ow = window_output_size(W, kw, sw, pw, dw);
    if (!COUNT(&count, N, F, oh, ow, 64) || !COUNT(&count, N, C, H, W, 64)
        || !COUNT(&count, F, C, kh, kw, 64) || !COUNT(&count, C, kh, kw, N, oh, ow))
        return 0;
    *g = (struct conv_geometry){N, C, H, W, F, G, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow,
                                C / G, F / G, oh * ow, kh * kw};
    return 1;
}

#endif
