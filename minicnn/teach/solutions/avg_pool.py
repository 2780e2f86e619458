"""Exercise avg_pool: average pooling, forward and backward.

Windows may be rectangular and overlap, and the padding's zeros count in each mean. Fill in
both functions, then run ``minicnn check avg_pool.py`` (hints: ``minicnn exercise hint
avg_pool``).
"""

import numpy as np

EXERCISE = "avg_pool"


def avg_pool_forward(x, pool_height, pool_width, stride, padding=0):
    """x (N, C, H, W) -> y (N, C, oh, ow), windows of pool_height x pool_width:

        y[n, c, r, q] = 1 / (pool_height*pool_width) * sum over i, j of xp[n, c, r*stride + i, q*stride + j]

    xp: x with ``padding`` zeros around each image (the zeros count in the mean, as in
    PyTorch's default count_include_pad=True); oh = (H + 2*padding - pool_height) // stride + 1,
    ow = (W + 2*padding - pool_width) // stride + 1.
    """
    N, C, H, W = x.shape
    oh = (H + 2 * padding - pool_height) // stride + 1
    ow = (W + 2 * padding - pool_width) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.empty((N, C, oh, ow), dtype=x.dtype)
    for r in range(oh):
        for q in range(ow):
            window = xp[:, :, r * stride:r * stride + pool_height,
                        q * stride:q * stride + pool_width]
            y[:, :, r, q] = window.mean(axis=(2, 3))
    return y


def avg_pool_backward(dout, x_shape, pool_height, pool_width, stride, padding=0):
    """dout (N, C, oh, ow), x_shape = (N, C, H, W) -> dx (N, C, H, W): y is linear in x, so
    derive which outputs each padded input element xp[n, c, h, w] feeds and with what weight;
    dx is dxp without the padding.
    """
    N, C, H, W = x_shape
    _, _, oh, ow = dout.shape
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=dout.dtype)
    share = dout / (pool_height * pool_width)
    for r in range(oh):
        for q in range(ow):
            dxp[:, :, r * stride:r * stride + pool_height,
                q * stride:q * stride + pool_width] += share[:, :, r, q][:, :, None, None]
    return dxp[:, :, padding:padding + H, padding:padding + W]
