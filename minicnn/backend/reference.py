"""The NumPy reference kernels: the specification every other kernel set matches.

Each kernel takes and returns raw arrays (NumPy, or CuPy: only the array API the two share is
used) and states its math. The C kernels (``csrc/``) and CUDA kernels (``kernels/``) take the
same arguments and return the same results.
"""

import numpy as np

from minicnn.backend import get_array_module

NAME = "numpy"


# ----- ReLU ---------------------------------------------------------------------------------

def relu_forward(x):
    """y = max(x, 0)"""
    return get_array_module(x).maximum(x, 0)


def relu_backward(grad_y, y):
    """dx = dy * [y > 0]   (the gradient at 0 is taken as 0, as in PyTorch)"""
    return grad_y * (y > 0)


# ----- softmax cross-entropy ----------------------------------------------------------------

def softmax_cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing):
    """Per-sample loss of softmax + cross-entropy, fused, from logits (M, C) and targets (M,).

    log p = z - max(z) - log(sum(exp(z - max(z))))          (log-sum-exp: no overflow)
    loss_i = (1 - eps) * w[y_i] * (-log p_i[y_i]) + eps / C * sum_c w[c] * (-log p_i[c])
    with w = 1 when no class weights are given, and loss_i = 0 where y_i == ignore_index.
    Returns (loss (M,), log_probs (M, C)); backward needs log_probs.
    """
    xp = get_array_module(logits)
    M, C = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    valid = target != ignore_index
    safe_target = xp.where(valid, target, 0)
    w = xp.ones(C, dtype=logits.dtype) if weight is None else weight
    nll = -log_probs[xp.arange(M), safe_target] * w[safe_target]
    smooth = -(log_probs * w).sum(axis=1)
    loss = ((1 - label_smoothing) * nll + label_smoothing / C * smooth) * valid
    return loss.astype(logits.dtype, copy=False), log_probs


def softmax_cross_entropy_backward(grad_loss, log_probs, target, weight, ignore_index,
                                   label_smoothing):
    """dz_ic = dloss_i * ((1 - eps) * w[y_i] * (p_ic - [c == y_i]) + eps / C * (p_ic * sum(w) - w[c]))
    shapes: grad_loss (M,), log_probs (M, C) -> dz (M, C); rows with y_i == ignore_index get 0."""
    xp = get_array_module(log_probs)
    M, C = log_probs.shape
    probs = xp.exp(log_probs)
    valid = target != ignore_index
    safe_target = xp.where(valid, target, 0)
    w = xp.ones(C, dtype=log_probs.dtype) if weight is None else weight
    one_hot = xp.zeros_like(probs)
    one_hot[xp.arange(M), safe_target] = 1
    grad_nll = w[safe_target][:, None] * (probs - one_hot)
    grad_smooth = probs * w.sum() - w
    grad = (1 - label_smoothing) * grad_nll + label_smoothing / C * grad_smooth
    return (grad * (grad_loss * valid)[:, None]).astype(log_probs.dtype, copy=False)
