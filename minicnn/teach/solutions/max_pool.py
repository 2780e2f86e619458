"""Exercise max_pool: max pooling, forward and backward.

Windows may be rectangular (pool_height x pool_width) and may overlap (a 3x3 window at stride
2). Fill in both functions, then run ``minicnn check max_pool.py``; stuck on the backward pass:
``minicnn exercise hint max_pool``.
"""

import numpy as np

EXERCISE = "max_pool"


def max_pool_forward(x, pool_height, pool_width, stride):
    """x (N, C, H, W) -> y (N, C, oh, ow), no padding, windows of pool_height x pool_width:

        y[n, c, r, q] = max over i < pool_height, j < pool_width of x[n, c, r*stride + i, q*stride + j]

    oh = (H - pool_height) // stride + 1, ow = (W - pool_width) // stride + 1.
    """
    N, C, H, W = x.shape
    oh = (H - pool_height) // stride + 1
    ow = (W - pool_width) // stride + 1
    y = np.empty((N, C, oh, ow), dtype=x.dtype)
    for r in range(oh):
        for q in range(ow):
            window = x[:, :, r * stride:r * stride + pool_height,
                       q * stride:q * stride + pool_width]
            y[:, :, r, q] = window.max(axis=(2, 3))
    return y


def max_pool_backward(dout, x, pool_height, pool_width, stride):
    """dout (N, C, oh, ow), x (N, C, H, W) -> dx (N, C, H, W). Derive where the gradient of
    each window's max goes, and what an element that several windows share receives (on a tie
    the first maximum in row-major order of the window wins).
    """
    N, C, oh, ow = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for r in range(oh):
                for q in range(ow):
                    window = x[n, c, r * stride:r * stride + pool_height,
                               q * stride:q * stride + pool_width]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, r * stride + i, q * stride + j] += dout[n, c, r, q]
    return dx
