"""Exercise conv_backward: the gradients of a convolution layer, with plain loops.

Given dout = dL/dy for y = conv(x, w) + b (exercise conv_forward_naive), compute dL/dx, dL/dw
and dL/db. Fill in ``conv_backward``, then run ``minicnn check conv_backward.py`` (hints, from
a nudge to the derivation: ``minicnn exercise hint conv_backward --level 1|2|3``).
"""

import numpy as np

EXERCISE = "conv_backward"


def conv_backward(dout, x, w, stride=1, padding=0):
    """dout (N, F, oh, ow), x (N, C, H, W), w (F, C, kh, kw) -> (dx (N, C, H, W),
    dw (F, C, kh, kw), db (F,)) for the forward pass

        y[n, f, r, q] = b[f] + sum over c, i, j of w[f, c, i, j] * xp[n, c, r*stride + i, q*stride + j]

    (xp: x with ``padding`` zeros around each image). Derive dL/db, dL/dw and dL/dxp from
    dout = dL/dy by the chain rule (which y does each b[f], w[f, c, i, j], xp[n, c, h, w] feed?);
    dx is dxp without the padding.
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
