"""Exercise fc_net: the loss and gradients of a fully connected net of any depth, with dropout
and batch norm options (CS231n's FullyConnectedNet).

    {affine - [batch norm] - ReLU - [dropout]} x (L - 1) - affine - softmax cross-entropy

Build it from your layers (affine_relu, batch_norm_1d, dropout, softmax_cross_entropy: paste
them into this file or import them from their files). Fill in ``fc_net_loss``, then run
``minicnn check fc_net.py``.
"""

import numpy as np

EXERCISE = "fc_net"


def fc_net_loss(params, x, labels, reg=0.0, normalization=None, dropout_masks=None, eps=1e-5):
    """params: "W1" (D, H_1), "b1" (H_1,), ..., "WL" (H_{L-1}, K), "bL" (K,); with
    normalization="batchnorm" the hidden layers l < L have "gamma1", "beta1", ... (H_l,)
    instead of a bias (batch norm's mean subtraction would cancel it, so its gradient would
    be 0, as for PyTorch's bias=False before BatchNorm). L is the number of W's in params.
    x (N, D); labels (N,) integers in [0, K); dropout_masks: None, or one array (N, H_l) per
    hidden layer, already scaled by 1/(1 - p) (inverted dropout: multiply the ReLU's output by
    it).

    Batch norm is in training mode (the batch's mean and biased variance, eps as given).
    loss = mean cross-entropy + 0.5 * reg * sum over l of sum(W_l^2) (CS231n's convention: no
    regularisation of b, gamma, beta) -> (loss (a float), grads (dict, params' keys and
    shapes)). Derive the backward pass layer by layer; params must stay unchanged.
    """
    L = sum(1 for key in params if key.startswith("W"))
    h, caches = x, []
    for l in range(1, L):
        a = h @ params[f"W{l}"]
        cache = {"in": h}
        if normalization != "batchnorm":
            a = a + params[f"b{l}"]
        else:
            mean, var = a.mean(axis=0), a.var(axis=0)
            cache["xhat"] = (a - mean) / np.sqrt(var + eps)
            cache["invstd"] = 1 / np.sqrt(var + eps)
            a = params[f"gamma{l}"] * cache["xhat"] + params[f"beta{l}"]
        cache["relu_in"] = a
        h = np.maximum(a, 0)
        if dropout_masks is not None:
            h = h * dropout_masks[l - 1]
        caches.append(cache)
    logits = h @ params[f"W{L}"] + params[f"b{L}"]
    N = x.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), labels].mean()
    loss += 0.5 * reg * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, L + 1))
    dlogits = np.exp(log_p)
    dlogits[np.arange(N), labels] -= 1
    dlogits /= N
    grads = {f"W{L}": h.T @ dlogits + reg * params[f"W{L}"], f"b{L}": dlogits.sum(axis=0)}
    dh = dlogits @ params[f"W{L}"].T
    for l in range(L - 1, 0, -1):
        cache = caches[l - 1]
        if dropout_masks is not None:
            dh = dh * dropout_masks[l - 1]
        da = dh * (cache["relu_in"] > 0)
        if normalization != "batchnorm":
            grads[f"b{l}"] = da.sum(axis=0)
        else:
            xhat = cache["xhat"]
            grads[f"gamma{l}"] = (da * xhat).sum(axis=0)
            grads[f"beta{l}"] = da.sum(axis=0)
            dxhat = da * params[f"gamma{l}"]
            da = cache["invstd"] * (dxhat - dxhat.mean(axis=0)
                                    - xhat * (dxhat * xhat).mean(axis=0))
        grads[f"W{l}"] = cache["in"].T @ da + reg * params[f"W{l}"]
        dh = da @ params[f"W{l}"].T
    return float(loss), grads
