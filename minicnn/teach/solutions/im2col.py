"""Exercise im2col: lay out every receptive field of an image batch as one column.

Once each window of the input is a column, a convolution is one matrix product (exercise
conv_im2col). Fill in ``im2col``, then run ``minicnn check im2col.py``.
"""

import numpy as np

EXERCISE = "im2col"


def im2col(x, kh, kw, stride=1, padding=0, dilation=1):
    """x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow), one column per output position:

        cols[(c*kh + i)*kw + j, (n*oh + r)*ow + q] = xp[n, c, r*stride + i*dilation, q*stride + j*dilation]

    where xp is x with ``padding`` zeros on every side of each image, and
    oh = (H + 2*padding - dilation*(kh - 1) - 1) // stride + 1 (ow likewise).
    The channel varies slowest down a column, then the kernel row i, then the column j.
    """
    N, C, H, W = x.shape
    oh = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((C, kh, kw, N, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dilation, i * dilation + stride * (oh - 1) + 1, stride)
            columns = slice(j * dilation, j * dilation + stride * (ow - 1) + 1, stride)
            cols[:, i, j] = xp[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols.reshape(C * kh * kw, N * oh * ow)
