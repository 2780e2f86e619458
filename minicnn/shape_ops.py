"""Shape ops beyond the spine's reshape, permute and indexing: joining tensors (cat, stack), the
shorthands view, flatten, squeeze, unsqueeze, transpose and t, each written with them, and the
index of an extreme (argmax, argmin).
``minicnn.ops`` re-exports them, so ``from minicnn.ops import cat`` works as before."""

import math

import numpy as np

from minicnn.autograd import Function, Tensor
from minicnn.backend import get_array_module
from minicnn.ops import (Permute, ShapeError, _normalize_dims, _wrap_dim, as_tensor, cast,
                         reshape, result_type)


class Cat(Function):
    def forward(self, *arrays, dim):
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return get_array_module(arrays[0]).concatenate(arrays, axis=dim)

    def backward(self, grad):
        # the gradient is cut into the pieces that were joined
        bounds = np.cumsum(self.sizes)[:-1]
        return tuple(get_array_module(grad).split(grad, bounds, axis=self.dim))


class Stack(Function):
    def forward(self, *arrays, dim):
        self.dim = dim
        return get_array_module(arrays[0]).stack(arrays, axis=dim)

    def backward(self, grad):
        # da_i = dy[..., i, ...], the slice along dim that a_i became
        return tuple(grad.take(i, axis=self.dim) for i in range(grad.shape[self.dim]))


def view(a, *shape):
    """``reshape`` that never copies: as in PyTorch, a shape that the tensor's strides cannot
    express (flattening a transposed matrix, say) raises RuntimeError; ``reshape`` copies."""
    out = reshape(a, *shape)
    if a.numel() > 0 and not get_array_module(a.array).may_share_memory(out.array, a.array):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    return out


def transpose(a, dim0, dim1):
    dim0, dim1 = _wrap_dim(dim0, a.ndim), _wrap_dim(dim1, a.ndim)
    if a.ndim == 0:
        return a
    dims = list(range(a.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(a, tuple(dims))


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = _wrap_dim(start_dim, a.ndim), _wrap_dim(end_dim, a.ndim)
    if start > end:
        raise RuntimeError("flatten(): start_dim cannot come after end_dim")
    return reshape(a, a.shape[:start] + (math.prod(a.shape[start:end + 1]),) + a.shape[end + 1:])


def squeeze(a, dim=None):
    """Drop the size-1 dimensions among ``dim`` (an int, a tuple, or None for all)."""
    dims = _normalize_dims(dim, a.ndim)
    return reshape(a, tuple(s for d, s in enumerate(a.shape) if not (d in dims and s == 1)))


def unsqueeze(a, dim):
    dim = _wrap_dim(dim, a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def cat(tensors, dim=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    for position, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"cat: the tensor at position {position} is 0-d and cannot be "
                               "concatenated")
    dim = _wrap_dim(dim, tensors[0].ndim)
    first = tensors[0].shape
    for position, t in enumerate(tensors):
        if t.ndim != len(first) or any(t.shape[d] != first[d] for d in range(len(first)) if d != dim):
            raise ShapeError(f"cat: sizes must match except in dimension {dim}; tensor 0 has shape "
                             f"{tensors[0].shape}, tensor {position} has {t.shape}")
    dtype = result_type(*tensors)
    return Cat.apply(*(cast(t, dtype) for t in tensors), dim=dim)


def stack(tensors, dim=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    for position, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ShapeError(f"stack needs tensors of one shape; tensor 0 has shape "
                             f"{tensors[0].shape}, tensor {position} has {t.shape}")
    dtype = result_type(*tensors)
    return Stack.apply(*(cast(t, dtype) for t in tensors), dim=_wrap_dim(dim, tensors[0].ndim + 1))


def t(a):
    """The transpose of a tensor of at most 2 dimensions, as ``torch.t``."""
    if a.ndim > 2:
        raise ShapeError(f"t() expects a tensor of at most 2 dimensions, got shape {a.shape}")
    return a.T


def _arg(find, a, dim, keepdim):
    """The int64 index of the extreme ``find`` (argmax / argmin) picks, along dim or overall."""
    index = find(a.array) if dim is None else find(a.array, axis=dim, keepdims=keepdim)
    return Tensor(get_array_module(a.array).asarray(index).astype(np.int64))


def argmax(a, dim=None, keepdim=False):
    return _arg(get_array_module(a.array).argmax, a, dim, keepdim)


def argmin(a, dim=None, keepdim=False):
    return _arg(get_array_module(a.array).argmin, a, dim, keepdim)


for fn in (view, transpose, flatten, squeeze, unsqueeze, t):   # argmax: tensor_api (axis=)
    setattr(Tensor, fn.__name__, fn)                   # tensor.flatten() is flatten(tensor)
del fn
