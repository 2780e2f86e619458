/* conv.c: im2col and col2im, the data movement around a convolution's matrix product.
 *
 * x (N, C, H, W); kernel kh x kw, stride sh, sw, zero padding ph, pw, dilation dh, dw;
 * output oh = (H + 2 ph - dh (kh - 1) - 1) / sh + 1 rows (ow likewise).
 *
 *   im2col   cols[(c*kh + i)*kw + j, (n*oh + y)*ow + x] = x[n, c, y*sh - ph + i*dh, x*sw - pw + j*dw]
 *            (0 where that position is padding)                 cols: (C*kh*kw, N*oh*ow)
 *   col2im   the adjoint: x[n, c, h, w] = sum of the cols entries read from (h, w)
 *
 * A convolution is then y = W @ cols (forward), dW = dy @ cols^T and dx = col2im(W^T @ dy).
 * The C convolutions (conv2d.c) fuse this data movement into their GEMM and never call these
 * two; they are the C kernel set's im2col / col2im (the kernel contract of reference.py).
 *
 * im2col: one loop iteration per (row of cols, image n) copies oh strips of ow pixels.
 * col2im: one loop iteration owns one (n, c) plane of x and sums into it, tap (i, j) by tap, in
 * increasing (i, j) order, the entries that reach it: no two iterations write the same pixel
 * (no atomics, deterministic), and every pixel sums in the reference's order (bit for bit). */
#ifndef real
#include <string.h>

#include "kernel.h"

/* the output columns x in [*first, *last) whose input column x*stride + offset is in [0, size) */
static void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out_size,
                        int64_t *first, int64_t *last) {
    int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t hi = size - 1 - offset >= 0 ? (size - 1 - offset) / stride + 1 : 0;
    *first = lo < out_size ? lo : out_size;
    *last = hi < out_size ? hi : out_size;
    if (*last < *first) *last = *first;
}

/* sizes that make sense, with oh and ow >= 1 and every element count inside int64 */
static int conv_geometry_ok(int64_t N, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                            int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                            int64_t *oh, int64_t *ow) {
    int64_t count;
    if (!COUNT(&count, N, C, H, W) || H >= ((int64_t)1 << 31) || W >= ((int64_t)1 << 31)
        || !window_ok(kh, sh, ph, dh) || !window_ok(kw, sw, pw, dw))
        return 0;
    *oh = window_output_size(H, kh, sh, ph, dh);
    *ow = window_output_size(W, kw, sw, pw, dw);
    return COUNT(&count, C, kh, kw, N, *oh, *ow);
}

#define GENERIC_FILE "conv.c"
#include "generic.h"
#else

/* every argument of the two kernels, for their pieces on the thread pool */
struct NAME(im2col_args) {
    const real *x, *cols;
    real *out;
    int64_t N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, columns;
};

static void NAME(im2col_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(im2col_args) *args = context;
    const real *x = args->x;
    real *cols = args->out;
    const int64_t N = args->N, C = args->C, H = args->H, W = args->W, kh = args->kh;
    const int64_t kw = args->kw, sh = args->sh, sw = args->sw, ph = args->ph, pw = args->pw;
    const int64_t dh = args->dh, dw = args->dw, oh = args->oh, ow = args->ow;
    const int64_t columns = args->columns;
    for (int64_t task = begin; task < end; task++) {
        const int64_t row = task / N, n = task % N;
        const int64_t c = row / (kh * kw), i = row / kw % kh, j = row % kw;
        const real *plane = x + (n * C + c) * H * W;
        real *out = cols + row * columns + n * oh * ow;  /* (oh, ow) for image n */
        const int64_t offset = j * dw - pw;
        int64_t x_first, x_last;
        valid_range(offset, sw, W, ow, &x_first, &x_last);
        for (int64_t y = 0; y < oh; y++, out += ow) {
            const int64_t h = y * sh - ph + i * dh;
            if (h < 0 || h >= H) {
                memset(out, 0, (size_t)ow * sizeof(real));
                continue;
            }
            const real *in = plane + h * W;  /* column xo reads in[xo * sw + offset] */
            int64_t xo = 0;
            for (; xo < x_first; xo++) out[xo] = 0;
            if (sw == 1) {
                const real *from = in + x_first + offset;
                for (; xo < x_last; xo++) out[xo] = from[xo - x_first];
            } else {
                for (; xo < x_last; xo++) out[xo] = in[xo * sw + offset];
            }
            for (; xo < ow; xo++) out[xo] = 0;
        }
    }
}

int NAME(im2col)(const real *x, real *cols, int64_t N, int64_t C, int64_t H, int64_t W,
                 int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                 int64_t dh, int64_t dw) {
    int64_t oh, ow;
    if (!conv_geometry_ok(N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, &oh, &ow))
        return MINICNN_BAD_ARGUMENT;
    const int64_t rows = C * kh * kw, columns = N * oh * ow;
    struct NAME(im2col_args) args = {.x = x, .out = cols, .N = N, .C = C, .H = H, .W = W,
                                     .kh = kh, .kw = kw,
                                     .sh = sh, .sw = sw, .ph = ph, .pw = pw, .dh = dh,
                                     .dw = dw, .oh = oh, .ow = ow, .columns = columns};
    minicnn_parallel_ranges(rows * N, rows * columns, NAME(im2col_range), &args);
    return MINICNN_OK;
}

static void NAME(col2im_range)(void *context, int64_t begin, int64_t end) {
    const struct NAME(im2col_args) *args = context;
    const real *cols = args->cols;
    real *x = args->out;
    const int64_t N = args->N, C = args->C, H = args->H, W = args->W, kh = args->kh;
    const int64_t kw = args->kw, sh = args->sh, sw = args->sw, ph = args->ph, pw = args->pw;
    const int64_t dh = args->dh, dw = args->dw, oh = args->oh, ow = args->ow;
    const int64_t columns = args->columns;
    for (int64_t p = begin; p < end; p++) {  /* c outer, n inner: cols is read front to back */
        const int64_t c = p / N, n = p % N;
        real *plane = x + (n * C + c) * H * W;
        memset(plane, 0, (size_t)(H * W) * sizeof(real));
        for (int64_t i = 0; i < kh; i++) {
            for (int64_t j = 0; j < kw; j++) {
                const real *in = cols + ((c * kh + i) * kw + j) * columns + n * oh * ow;
                const int64_t offset = j * dw - pw;
                int64_t x_first, x_last;
                valid_range(offset, sw, W, ow, &x_first, &x_last);
                for (int64_t y = 0; y < oh; y++, in += ow) {
                    const int64_t h = y * sh - ph + i * dh;
                    if (h < 0 || h >= H) continue;
                    real *out = plane + h * W;  /* column xo adds to out[xo * sw + offset] */
                    if (sw == 1) {  /* contiguous: a loop the compiler vectorizes */
                        real *to = out + x_first + offset;
                        const real *from = in + x_first;
                        for (int64_t t = 0; t < x_last - x_first; t++) to[t] += from[t];
                    } else {
                        for (int64_t xo = x_first; xo < x_last; xo++) out[xo * sw + offset] += in[xo];
                    }
                }
            }
        }
    }
}

int NAME(col2im)(const real *cols, real *x, int64_t N, int64_t C, int64_t H, int64_t W,
                 int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                 int64_t dh, int64_t dw) {
    int64_t oh, ow;
    if (!conv_geometry_ok(N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, &oh, &ow))
        return MINICNN_BAD_ARGUMENT;
    const int64_t columns = N * oh * ow;
    struct NAME(im2col_args) args = {.cols = cols, .out = x, .N = N, .C = C, .H = H, .W = W,
                                     .kh = kh, .kw = kw,
                                     .sh = sh, .sw = sw, .ph = ph, .pw = pw, .dh = dh,
                                     .dw = dw, .oh = oh, .ow = ow, .columns = columns};
    minicnn_parallel_ranges(N * C, C * kh * kw * columns, NAME(col2im_range), &args);
    return MINICNN_OK;
}

#endif
