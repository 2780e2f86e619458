"""Exercise col2im: put columns back onto the image, adding where windows overlap.

col2im is the adjoint of im2col: it turns the gradient of the column matrix into the gradient of
the input. Overlapping windows read a pixel several times, so its gradient is the SUM of what
every window sends back. Fill in ``col2im``, then run ``minicnn check col2im.py``.
"""

import numpy as np

EXERCISE = "col2im"


def col2im(cols, x_shape, kh, kw, stride=1, padding=0, dilation=1):
    """cols (C*kh*kw, N*oh*ow) -> x (N, C, H, W) with x_shape = (N, C, H, W):

        x[n, c, h, w] = sum over (i, j, r, q) with r*stride - padding + i*dilation = h and
                        q*stride - padding + j*dilation = w of cols[(c*kh + i)*kw + j, (n*oh + r)*ow + q]

    (entries that were read from the padding are dropped). oh, ow as in im2col.
    """
    N, C, H, W = x_shape
    oh = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    taps = cols.reshape(C, kh, kw, N, oh, ow)
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dilation, i * dilation + stride * (oh - 1) + 1, stride)
            columns = slice(j * dilation, j * dilation + stride * (ow - 1) + 1, stride)
            xp[:, :, rows, columns] += taps[:, i, j].transpose(1, 0, 2, 3)
    return xp[:, :, padding:padding + H, padding:padding + W]
