"""Exercise three_layer_convnet: the loss and gradients of CS231n's ThreeLayerConvNet.

    x (N, C, H, W) -> conv k x k, stride 1, padding (k - 1) // 2 (F filters) -> ReLU
      -> max pool 2x2, stride 2 -> affine (hidden units) -> ReLU -> affine (K classes)
      -> softmax cross-entropy, mean over N ; + 0.5 * reg * (|W1|^2 + |W2|^2 + |W3|^2)

k is odd and H, W are even. minicnn's im2col is at hand, ``im2col(x, kh, kw, sh, sw, ph, pw,
dh, dw) -> cols (C*kh*kw, N*oh*ow)`` (or use your own from that exercise). Then train it on
CIFAR-10 with your solver (exercise solver). Fill in
``three_layer_convnet_loss``, then run ``minicnn check three_layer_convnet.py``.
"""

import numpy as np

from minicnn.teach.given import im2col

EXERCISE = "three_layer_convnet"


def three_layer_convnet_loss(params, x, labels, reg=0.0):
    """params: "W1" (F, C, k, k), "b1" (F,), "W2" (F*H/2*W/2, hidden), "b2" (hidden,),
    "W3" (hidden, K), "b3" (K,); x (N, C, H, W); labels (N,) integers in [0, K) ->
    (loss (a float), grads (dict, params' keys and shapes)). The pooled maps are flattened in
    C order, (N, F, H/2, W/2) -> (N, F*H/2*W/2). Derive the backward pass layer by layer from
    your exercises; params must stay unchanged.
    """
    raise NotImplementedError("three_layer_convnet_loss: your code here")


# In a Jupyter notebook: run this file in a cell (%run three_layer_convnet.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("three_layer_convnet", globals()))
