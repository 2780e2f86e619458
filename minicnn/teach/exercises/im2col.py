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
    raise NotImplementedError("im2col: your code here")


# In a Jupyter notebook: run this file in a cell (%run im2col.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("im2col", globals()))
