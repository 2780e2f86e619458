"""Exercise conv_im2col: a convolution layer as im2col and one matrix product, both ways.

With cols = im2col(x) (C*kh*kw, N*oh*ow) and W = w reshaped to (F, C*kh*kw):

    forward:   Y = W @ cols + b                 (F, N*oh*ow), reshaped to (N, F, oh, ow)
    backward:  derive dW, db and dcols from dY (dout laid out as (F, N*oh*ow), columns in
               (n, r, q) order like cols) for a matrix product; col2im turns dcols into dx

Use minicnn's im2col / col2im (or your own from those exercises), which take the geometry per
axis (stride sh, sw; padding ph, pw; dilation dh, dw):

    im2col(x, kh, kw, sh, sw, ph, pw, dh, dw) -> cols (C*kh*kw, N*oh*ow)
    col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw) -> x (N, C, H, W)

Fill in both functions, then run ``minicnn check conv_im2col.py``.
"""

from minicnn.teach.given import col2im, im2col

EXERCISE = "conv_im2col"


def conv_forward_im2col(x, w, b, stride=1, padding=0):
    """x (N, C, H, W), w (F, C, kh, kw), b (F,) -> y (N, F, oh, ow); the same layer as
    conv_forward_naive. The columns of Y come in (n, r, q) order."""
    raise NotImplementedError("conv_forward_im2col: your code here")


def conv_backward_im2col(dout, x, w, stride=1, padding=0):
    """dout (N, F, oh, ow), x (N, C, H, W), w (F, C, kh, kw) -> (dx, dw, db), as conv_backward."""
    raise NotImplementedError("conv_backward_im2col: your code here")


# In a Jupyter notebook: run this file in a cell (%run conv_im2col.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("conv_im2col", globals()))
