/* im2col.cu: im2col and col2im, the data movement around a convolution's matrix product.
 *
 * x (N, C, H, W); kernel kh x kw, stride sh, sw, zero padding ph, pw, dilation dh, dw;
 * output oh = (H + 2 ph - dh (kh - 1) - 1) / sh + 1 rows (ow likewise).
 *
 *   im2col   cols[(c*kh + i)*kw + j, (n*oh + y)*ow + x]
 *              = x[n, c, y*sh - ph + i*dh, x*sw - pw + j*dw]
 *            (0 where that position is padding)                 cols: (C*kh*kw, N*oh*ow)
 *   col2im   the adjoint: x[n, c, h, w] = sum of the cols entries read from (h, w)
 *
 * A convolution is then y = W @ cols (forward), dW = dy @ cols^T and dx = col2im(W^T @ dy): the
 * CUDA set's convolution is the reference's tiled products (cupy.matmul: cuBLAS) around these two
 * kernels (minicnn/backend/cuda.py). The C set has no im2col of its own: its convolutions build
 * the columns inside their GEMM's packing (csrc/conv2d_gemm.c).
 *
 * im2col: one thread per entry of cols (grid-stride), consecutive threads along a row of cols.
 * col2im: a gather, as in Caffe's col2im.cu: one thread per pixel (n, c, h, w) of x sums the
 * entries that were read from it, in increasing (i, j) order: no two threads write the same
 * pixel (no atomics, deterministic), and every pixel sums in the reference's order (bit for bit).
 * Tap (i, j) reached (h, w) from output row y = (h + ph - i*dh) / sh when that division is exact
 * and 0 <= y < oh (columns likewise). */
#ifndef real
#include "kernel.cuh"

#define GENERIC_FILE "im2col.cu"
#include "generic.cuh"
#else

extern "C" __global__ void NAME(im2col)(const real *x, real *cols, int64 N, int64 C, int64 H,
                                        int64 W, int64 kh, int64 kw, int64 sh, int64 sw,
                                        int64 ph, int64 pw, int64 dh, int64 dw) {
    const int64 oh = window_output_size(H, kh, sh, ph, dh);
    const int64 ow = window_output_size(W, kw, sw, pw, dw);
    const int64 columns = N * oh * ow;
    GRID_STRIDE_LOOP(index, C * kh * kw * columns) {
        const int64 row = index / columns, column = index % columns;
        const int64 c = row / (kh * kw), i = row / kw % kh, j = row % kw;
        const int64 n = column / (oh * ow), y = column / ow % oh, xo = column % ow;
        const int64 h = y * sh - ph + i * dh, w = xo * sw - pw + j * dw;
        cols[index] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w]
                                                            : (real)0;
    }
}

extern "C" __global__ void NAME(col2im)(const real *cols, real *x, int64 N, int64 C, int64 H,
                                        int64 W, int64 kh, int64 kw, int64 sh, int64 sw,
                                        int64 ph, int64 pw, int64 dh, int64 dw) {
    const int64 oh = window_output_size(H, kh, sh, ph, dh);
    const int64 ow = window_output_size(W, kw, sw, pw, dw);
    const int64 columns = N * oh * ow;
    GRID_STRIDE_LOOP(index, N * C * H * W) {
        const int64 n = index / (C * H * W), c = index / (H * W) % C;
        const int64 h = index / W % H, w = index % W;
        real total = 0;
        for (int64 i = 0; i < kh; i++) {
            const int64 y = window_of_tap(h, i, sh, ph, dh, oh);
            if (y < 0) continue;
            for (int64 j = 0; j < kw; j++) {
                const int64 xo = window_of_tap(w, j, sw, pw, dw, ow);
                if (xo < 0) continue;
                total += cols[((c * kh + i) * kw + j) * columns + (n * oh + y) * ow + xo];
            }
        }
        x[index] = total;
    }
}

#endif
