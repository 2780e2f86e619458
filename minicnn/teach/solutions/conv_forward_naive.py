"""Exercise conv_forward_naive: a convolution layer's forward pass, with plain loops.

A CNN's "convolution" is a cross-correlation: the kernel is not flipped. Fill in
``conv_forward_naive``, then run ``minicnn check conv_forward_naive.py``.
"""

import numpy as np

EXERCISE = "conv_forward_naive"


def conv_forward_naive(x, w, b, stride=1, padding=0):
    """x (N, C, H, W), w (F, C, kh, kw), b (F,) -> y (N, F, oh, ow):

        y[n, f, r, q] = b[f] + sum over c, i, j of w[f, c, i, j] * xp[n, c, r*stride + i, q*stride + j]

    xp: x with ``padding`` zeros around each image; oh = (H + 2*padding - kh) // stride + 1,
    ow = (W + 2*padding - kw) // stride + 1.
    """
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    oh = (H + 2 * padding - kh) // stride + 1
    ow = (W + 2 * padding - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((N, F, oh, ow), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for r in range(oh):
                for q in range(ow):
                    window = xp[n, :, r * stride:r * stride + kh, q * stride:q * stride + kw]
                    y[n, f, r, q] = np.sum(window * w[f]) + b[f]
    return y
