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
    w1, b1, w2, b2 = (params[name] for name in ("conv.weight", "conv.bias", "fc.weight", "fc.bias"))
    N, C, H, W = x.shape
    F = w1.shape[0]
    # forward
    cols = im2col(x, 3, 3, 1, 1, 1, 1, 1, 1)                                # (C*9, N*H*W)
    conv = (w1.reshape(F, -1) @ cols + b1[:, None]).reshape(F, N, H, W).transpose(1, 0, 2, 3)
    relu = np.maximum(conv, 0)
    windows = relu.reshape(N, F, H // 2, 2, W // 2, 2)
    pooled = windows.max(axis=(3, 5))
    flat = pooled.reshape(N, -1)
    logits = flat @ w2.T + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), labels].mean()
    # backward
    dlogits = np.exp(log_p)
    dlogits[np.arange(N), labels] -= 1
    dlogits /= N
    grads = {"fc.weight": dlogits.T @ flat, "fc.bias": dlogits.sum(axis=0)}
    dpooled = (dlogits @ w2).reshape(pooled.shape)
    # the first maximum of each 2x2 window (row-major) takes the window's gradient
    flat_windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(N, F, H // 2, W // 2, 4)
    winner = np.eye(4, dtype=x.dtype)[flat_windows.argmax(axis=-1)]          # (N, F, H/2, W/2, 4)
    drelu = (winner * dpooled[..., None]).reshape(N, F, H // 2, W // 2, 2, 2)
    drelu = drelu.transpose(0, 1, 2, 4, 3, 5).reshape(N, F, H, W)
    dconv = drelu * (conv > 0)
    dY = dconv.transpose(1, 0, 2, 3).reshape(F, -1)
    grads["conv.weight"] = (dY @ cols.T).reshape(w1.shape)
    grads["conv.bias"] = dY.sum(axis=1)
    new_params = {name: value - lr * grads[name] for name, value in params.items()}
    return float(loss), grads, new_params
