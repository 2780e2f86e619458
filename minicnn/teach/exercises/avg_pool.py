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
    raise NotImplementedError("avg_pool_forward: your code here")


def avg_pool_backward(dout, x_shape, pool_height, pool_width, stride, padding=0):
    """dout (N, C, oh, ow), x_shape = (N, C, H, W) -> dx (N, C, H, W): y is linear in x, so
    derive which outputs each padded input element xp[n, c, h, w] feeds and with what weight;
    dx is dxp without the padding.
    """
    raise NotImplementedError("avg_pool_backward: your code here")


# In a Jupyter notebook: run this file in a cell (%run avg_pool.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("avg_pool", globals()))
