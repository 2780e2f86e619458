"""Gradient clipping, as torch.nn.utils: by the total norm of all gradients, or by value."""

import math

import numpy as np

from minicnn.autograd import Tensor
from minicnn.backend import get_array_module


def _gradients(parameters):
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in parameters if p.grad is not None]


def _norm(array, norm_type):
    xp = get_array_module(array)
    magnitude = xp.abs(array)
    if norm_type == math.inf:
        return magnitude.max() if magnitude.size else xp.zeros((), dtype=array.dtype)
    return (magnitude ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
    ``norm_type`` norm of all the gradients together (the norm of their norms); returns
    total_norm as a 0-d tensor. Raises RuntimeError for a non-finite total norm when
    ``error_if_nonfinite``."""
    grads = _gradients(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    xp = get_array_module(grads[0].array)
    norms = xp.stack([_norm(g.array, norm_type) for g in grads])
    total = _norm(norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    clip_coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    with np.errstate(invalid="ignore"):     # an infinite norm turns the gradients into NaN
        for g in grads:
            g.array *= clip_coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for g in _gradients(parameters):
        get_array_module(g.array).clip(g.array, -clip_value, clip_value, out=g.array)
