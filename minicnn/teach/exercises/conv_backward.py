"""Exercise conv_backward: the gradients of a convolution layer, with plain loops.

Given dout = dL/dy for y = conv(x, w) + b (exercise conv_forward_naive), compute dL/dx, dL/dw
and dL/db. Every weight and bias is used at every output position of every image, so their
gradients sum over all of them. Fill in ``conv_backward``, then run
``minicnn check conv_backward.py``.
"""

import numpy as np

EXERCISE = "conv_backward"


def conv_backward(dout, x, w, stride=1, padding=0):
    """dout (N, F, oh, ow), x (N, C, H, W), w (F, C, kh, kw) -> (dx, dw, db):

        db[f]          = sum over n, r, q of dout[n, f, r, q]                                  (F,)
        dw[f, c, i, j] = sum over n, r, q of dout[n, f, r, q] * xp[n, c, r*stride + i, q*stride + j]
        dxp[n, c, r*stride + i, q*stride + j] += dout[n, f, r, q] * w[f, c, i, j]   for all f, r, q, i, j

    xp: x with ``padding`` zeros around each image; dx (N, C, H, W) is dxp without the padding.
    """
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    _, _, oh, ow = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for r in range(oh):
                for q in range(ow):
                    rows = slice(r * stride, r * stride + kh)
                    columns = slice(q * stride, q * stride + kw)
                    dw[f] += dout[n, f, r, q] * xp[n, :, rows, columns]
                    dxp[n, :, rows, columns] += dout[n, f, r, q] * w[f]
    dx = dxp[:, :, padding:padding + H, padding:padding + W]
    return dx, dw, db
