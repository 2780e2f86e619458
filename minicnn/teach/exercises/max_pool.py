"""Exercise max_pool: max pooling, forward and backward.

The gradient of a max flows only to the element that won. When windows overlap (kernel 3,
stride 2) one element can win several windows, and its gradient is the SUM of theirs. Fill in
both functions, then run ``minicnn check max_pool.py``.
"""

import numpy as np

EXERCISE = "max_pool"


def max_pool_forward(x, kernel_size, stride):
    """x (N, C, H, W) -> y (N, C, oh, ow), no padding:

        y[n, c, r, q] = max over i, j < kernel_size of x[n, c, r*stride + i, q*stride + j]

    oh = (H - kernel_size) // stride + 1, ow likewise.
    """
    N, C, H, W = x.shape
    oh = (H - kernel_size) // stride + 1
    ow = (W - kernel_size) // stride + 1
    y = np.empty((N, C, oh, ow), dtype=x.dtype)
    for r in range(oh):
        for q in range(ow):
            rows = slice(r * stride, r * stride + kernel_size)
            columns = slice(q * stride, q * stride + kernel_size)
            y[:, :, r, q] = x[:, :, rows, columns].max(axis=(2, 3))
    return y


def max_pool_backward(dout, x, kernel_size, stride):
    """dout (N, C, oh, ow), x (N, C, H, W) -> dx (N, C, H, W):

        dx[n, c, h, w] = sum of dout[n, c, r, q] over the windows (r, q) whose max is x[n, c, h, w]

    (on a tie, the first maximum in row-major order of the window wins).
    """
    N, C, oh, ow = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for r in range(oh):
                for q in range(ow):
                    window = x[n, c, r * stride:r * stride + kernel_size,
                               q * stride:q * stride + kernel_size]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, r * stride + i, q * stride + j] += dout[n, c, r, q]
    return dx
