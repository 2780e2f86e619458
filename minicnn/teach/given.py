"""The tools an exercise hands out, which an exercise file may import: the data layout of the
convolution, as in the exercises im2col and col2im (geometry per axis: stride sh, sw;
padding ph, pw; dilation dh, dw).

    im2col(x, kh, kw, sh, sw, ph, pw, dh, dw) -> cols (C*kh*kw, N*oh*ow)
    col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw) -> x (N, C, H, W)
"""

from minicnn.backend.reference import col2im, im2col

__all__ = ["col2im", "im2col"]
