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
    raise NotImplementedError("conv_forward_naive: your code here")


# In a Jupyter notebook: run this file in a cell (%run conv_forward_naive.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("conv_forward_naive", globals()))
