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


# ----- optimizer updates --------------------------------------------------------------------
# Each update runs in place on the arrays, in PyTorch's order of operations (its single-tensor
# loops in torch/optim), with each hyper-parameter first rounded to the parameter's dtype as
# PyTorch does. PyTorch's CPU kernels compute `a + alpha * b` (add with alpha, lerp, addcmul)
# with a fused multiply-add, so `_fma` rounds once where they do.

def _fma(a, b, c):
    """a * b + c rounded once to c's dtype. float32: formed in float64, where the product of two
    float32 values is exact, then rounded (a second rounding can change the result only in cases
    of probability about 2^-28). float64: rounded twice, for want of a fused multiply-add."""
    xp = get_array_module(c)
    if c.dtype != xp.float32:
        return a * b + c
    wide = xp.float64
    product = xp.asarray(a, dtype=wide) * xp.asarray(b, dtype=wide)
    return (product + c.astype(wide)).astype(xp.float32)


def _lerp_(start, end, weight):
    """start += weight * (end - start), in place, as torch.lerp_ (which works from the nearer
    end: end - (1 - weight) * (end - start) when weight >= 0.5)."""
    difference = end - start
    if abs(weight) < 0.5:
        start[...] = _fma(weight, difference, start)
    else:
        start[...] = _fma(weight - 1, difference, end)


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             maximize, first_step):
    """One step of torch.optim.SGD on ``param``, in place; ``momentum_buffer`` (updated in place)
    is None when momentum == 0, and ``first_step`` says it holds nothing yet:

        g = -grad if maximize else grad
        g = g + weight_decay * param                                    (weight_decay != 0)
        buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov, else g = buf                   (momentum != 0)
        param = param - lr * g
    """
    scalar = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = _fma(param, scalar(weight_decay), g)
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= scalar(momentum)
            momentum_buffer[...] = _fma(g, scalar(1 - dampening), momentum_buffer)
        g = _fma(momentum_buffer, scalar(momentum), g) if nesterov else momentum_buffer
    param[...] = _fma(g, scalar(-lr), param)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, decoupled_weight_decay, amsgrad, maximize):
    """One step of torch.optim.Adam (AdamW with ``decoupled_weight_decay``) on ``param``, in
    place. ``step`` counts this step (1 on the first); the moments m = exp_avg, v = exp_avg_sq
    and, with amsgrad, v_max = max_exp_avg_sq (None otherwise) are updated in place:

        g = -grad if maximize else grad
        param = (1 - lr * weight_decay) * param if decoupled, else g = g + weight_decay * param
        m = m + (1 - beta1) * (g - m)                          (= beta1 * m + (1 - beta1) * g)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v), which replaces v below                               (amsgrad)
        param = param - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
    """
    xp = get_array_module(param)
    scalar = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= scalar(1 - lr * weight_decay)
        else:
            g = _fma(param, scalar(weight_decay), g)
    _lerp_(exp_avg, g, scalar(1 - beta1))
    exp_avg_sq *= scalar(beta2)
    exp_avg_sq[...] = _fma(scalar(1 - beta2) * g, g, exp_avg_sq)
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    second_moment = max_exp_avg_sq if amsgrad else exp_avg_sq
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    denom = xp.sqrt(second_moment) / scalar(bias_correction2_sqrt) + scalar(eps)
    param += scalar(-step_size) * exp_avg / denom


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                 weight_decay, momentum, centered, maximize):
    """One step of torch.optim.RMSprop on ``param``, in place; the running averages s =
    square_avg, a = grad_avg (None unless centered) and buf = momentum_buffer (None unless
    momentum > 0) are updated in place:

        g = -grad if maximize else grad
        g = g + weight_decay * param                                    (weight_decay != 0)
        s = alpha * s + (1 - alpha) * g * g
        a = a + (1 - alpha) * (g - a) and d = sqrt(s - a * a) + eps if centered,
        else d = sqrt(s) + eps
        buf = momentum * buf + g / d and param = param - lr * buf if momentum > 0,
        else param = param - lr * g / d
    """
    xp = get_array_module(param)
    scalar = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = _fma(param, scalar(weight_decay), g)
    square_avg *= scalar(alpha)
    square_avg[...] = _fma(scalar(1 - alpha) * g, g, square_avg)
    if centered:
        _lerp_(grad_avg, g, scalar(1 - alpha))
        denom = xp.sqrt(_fma(-grad_avg, grad_avg, square_avg))
    else:
        denom = xp.sqrt(square_avg)
    denom += scalar(eps)
    if momentum > 0:
        momentum_buffer *= scalar(momentum)
        momentum_buffer += g / denom
        param[...] = _fma(momentum_buffer, scalar(-lr), param)
    else:
        param += scalar(-lr) * g / denom
