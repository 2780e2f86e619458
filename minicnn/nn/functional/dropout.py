"""Dropout: inverted dropout of single elements (``dropout``) or of whole channels (``dropout2d``).

In training each element (channel) is zeroed with probability p and the survivors are scaled by
1 / (1 - p), so the expected output equals the input; in eval dropout is the identity. The mask
is drawn from minicnn's default generator (``minicnn.manual_seed`` makes it repeatable).
"""

import warnings

from minicnn.autograd import Function, Tensor
from minicnn.backend import get_array_module
from minicnn.random import default_generator

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    def forward(self, x, p, mask_shape):
        xp = get_array_module(x)
        mask = xp.asarray(self.kernels.dropout_mask(mask_shape, p, x.dtype, default_generator()))
        mask = xp.broadcast_to(mask, x.shape)       # a channel mask over the channel's elements
        self.mask = mask if mask.flags.c_contiguous else mask.copy()    # copy() keeps a 0-d mask 0-d
        return self.kernels.dropout_apply(x, self.mask)

    def backward(self, grad_y):
        # dx = dy * mask, the mask of the forward pass   (shapes: any, elementwise)
        return self.kernels.dropout_apply(grad_y, self.mask)


def check_probability(p):
    """Raises ValueError unless p is a number in [0, 1] (PyTorch's message). The layers run it
    when they are built, the ops when they run."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _check(input, p, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    check_probability(p)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got {input.dtype}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training);
    the identity otherwise. ``inplace`` is accepted as in PyTorch; minicnn computes out of place."""
    _check(input, p, "dropout")
    if not training or p == 0 or input.numel() == 0:
        return input
    return Dropout.apply(input, p=float(p), mask_shape=input.shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels input[n, c] with probability p and scale the rest by 1 / (1 - p).
    As PyTorch 2: a 3-D input is read as (N, C, L), with a warning."""
    _check(input, p, "dropout2d")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated; use dropout instead (dropout2d expects 3-D or 4-D inputs).",
                      stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim.", stacklevel=2)
    if input.ndim < 2:
        raise ValueError(f"dropout2d: input must have a channel dimension, got shape {input.shape}")
    if not training or p == 0 or input.numel() == 0:
        return input
    mask_shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return Dropout.apply(input, p=float(p), mask_shape=mask_shape)
