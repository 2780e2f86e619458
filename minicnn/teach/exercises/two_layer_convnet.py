"""Exercise two_layer_convnet: one training step of a small conv net, forward and backward by hand.

    x (N, C, H, W) -> conv 3x3, padding 1 (F filters) -> ReLU -> max pool 2x2, stride 2
      -> flatten (N, F*H/2*W/2) -> linear (K classes) -> softmax cross-entropy, mean over N

then plain SGD: p = p - lr * dp for every parameter. H and W are even. minicnn's im2col is at
hand, ``im2col(x, kh, kw, sh, sw, ph, pw, dh, dw) -> cols (C*kh*kw, N*oh*ow)`` (or use your
own from that exercise). Fill in ``train_step``, then run ``minicnn check two_layer_convnet.py``.
"""

import numpy as np

from minicnn.teach.given import im2col

EXERCISE = "two_layer_convnet"


def train_step(params, x, labels, lr):
    """params: dict of arrays "conv.weight" (F, C, 3, 3), "conv.bias" (F,), "fc.weight"
    (K, F*H/2*W/2), "fc.bias" (K,); x (N, C, H, W); labels (N,) integers in [0, K) ->
    (loss (a float), grads (dict, same keys and shapes as params), new_params (dict)).

    Backward: layer by layer in reverse, each layer's gradient from your earlier exercises
    (softmax_cross_entropy, the linear layer, max_pool, the ReLU, conv_im2col); the new
    parameters must not overwrite the old arrays (params is the caller's).
    """
    raise NotImplementedError("train_step: your code here")


# In a Jupyter notebook: run this file in a cell (%run two_layer_convnet.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("two_layer_convnet", globals()))
