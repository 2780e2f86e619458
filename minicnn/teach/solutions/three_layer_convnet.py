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
    W1, b1, W2, b2, W3, b3 = (params[name] for name in ("W1", "b1", "W2", "b2", "W3", "b3"))
    N, C, H, W = x.shape
    F, _, k, _ = W1.shape
    pad = (k - 1) // 2
    cols = im2col(x, k, k, 1, 1, pad, pad, 1, 1)                            # (C*k*k, N*H*W)
    conv = (W1.reshape(F, -1) @ cols + b1[:, None]).reshape(F, N, H, W).transpose(1, 0, 2, 3)
    relu1 = np.maximum(conv, 0)
    windows = relu1.reshape(N, F, H // 2, 2, W // 2, 2)
    pooled = windows.max(axis=(3, 5))
    flat = pooled.reshape(N, -1)
    hidden = flat @ W2 + b2
    relu2 = np.maximum(hidden, 0)
    scores = relu2 @ W3 + b3
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), labels].mean() + 0.5 * reg * (
        np.sum(W1 ** 2) + np.sum(W2 ** 2) + np.sum(W3 ** 2))
    dscores = np.exp(log_p)
    dscores[np.arange(N), labels] -= 1
    dscores /= N
    grads = {"W3": relu2.T @ dscores + reg * W3, "b3": dscores.sum(axis=0)}
    dhidden = dscores @ W3.T * (hidden > 0)
    grads["W2"] = flat.T @ dhidden + reg * W2
    grads["b2"] = dhidden.sum(axis=0)
    dpooled = (dhidden @ W2.T).reshape(pooled.shape)
    # the first maximum of each 2x2 window (row-major) takes the window's gradient
    flat_windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(N, F, H // 2, W // 2, 4)
    winner = np.eye(4, dtype=x.dtype)[flat_windows.argmax(axis=-1)]
    drelu1 = (winner * dpooled[..., None]).reshape(N, F, H // 2, W // 2, 2, 2)
    drelu1 = drelu1.transpose(0, 1, 2, 4, 3, 5).reshape(N, F, H, W)
    dY = (drelu1 * (conv > 0)).transpose(1, 0, 2, 3).reshape(F, -1)
    grads["W1"] = (dY @ cols.T).reshape(W1.shape) + reg * W1
    grads["b1"] = dY.sum(axis=1)
    return float(loss), grads
