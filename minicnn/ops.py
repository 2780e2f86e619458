"""Tensor operations: arithmetic, math functions, matmul, reductions, shape ops and indexing.

Each is a Function whose backward states its local derivative. Elementwise binary ops
broadcast as NumPy does (their backward sums the gradient back to each input's shape) and
choose their result dtype as PyTorch does (``result_type``).
"""

import builtins
import math
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from minicnn.autograd import Function, Tensor, raw
from minicnn.backend import get_array_module, index_add
from minicnn.device import device_of, move_array


class ShapeError(ValueError, RuntimeError):
    """Operands whose shapes do not fit together: a ValueError, and also the RuntimeError that
    PyTorch raises for the same mistake, so code written for either catches it."""


def _broadcast_shape(*shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError("shapes " + ", ".join(str(tuple(s)) for s in shapes)
                         + " cannot be broadcast together") from None


def sum_to_shape(grad, shape):
    """Undo broadcasting: sum ``grad`` over the axes that broadcasting added or stretched."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _wrap_dim(dim, ndim):
    """One dimension as a non-negative int, checked as PyTorch does (a 0-d tensor takes 0 or -1)."""
    size = builtins.max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-size}, {size - 1}], but got {dim})")
    return dim % size


def _normalize_dims(dim, ndim):
    """Reduction axes as a sorted tuple of non-negative ints; None or () means every axis."""
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim or ())
    if not dims:   # None, and (as PyTorch) an empty list of dims: every axis
        return tuple(range(ndim))
    wrapped = sorted(set(_wrap_dim(d, ndim) for d in dims))
    return tuple(wrapped) if ndim else ()


def as_tensor(value, like=None):
    """``value`` as a Tensor. A Python number takes the dtype that ``result_type`` gives it
    next to ``like``."""
    if isinstance(value, Tensor):
        return value
    if like is not None and _is_number(value):
        xp = get_array_module(like.array)
        return Tensor(xp.asarray(value, dtype=result_type(like, value)))
    return Tensor(value)


def _is_number(value):
    return np.isscalar(value) and not isinstance(value, (str, bytes))


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promote_types(a, b):
    """torch.promote_types: a higher category wins outright (int64 with float32 is float32);
    within a category, the wider type."""
    if _CATEGORY[a.kind] != _CATEGORY[b.kind]:
        return a if _CATEGORY[a.kind] > _CATEGORY[b.kind] else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """A lower-priority operand's dtype only counts when its category is higher."""
    if higher is None or lower is None:
        return higher if lower is None else lower
    if higher.kind in "fc":
        return higher
    if higher.kind == "b" or lower.kind in "fc":
        return _promote_types(higher, lower)
    return higher


def result_type(*operands):
    """The dtype of an elementwise op, by PyTorch's rule: tensors with dimensions decide; a 0-d
    tensor, then a Python number, count only when of a higher category (bool < integer < float).
    A Python float counts as float32 and an int as int64: float32 * 2.5 stays float32, int64 * 2.5
    is float32, float32 * (0-d float64) is float32."""
    ranked = {"dim": None, "zero": None, "number": None}
    for value in operands:
        if isinstance(value, Tensor) or not _is_number(value):
            array = value.array if isinstance(value, Tensor) else Tensor(value).array
            dtype, rank = array.dtype, ("dim" if array.ndim else "zero")
        else:
            kind = np.asarray(value).dtype.kind
            dtype, rank = np.dtype({"b": np.bool_, "f": np.float32}.get(kind, np.int64)), "number"
        ranked[rank] = dtype if ranked[rank] is None else _promote_types(ranked[rank], dtype)
    return _combine(ranked["dim"], _combine(ranked["zero"], ranked["number"]))


# ----- elementwise functions ---------------------------------------------------------------

class Elementwise(Function):
    """y = f(xp, a) or f(xp, a, b) elementwise (broadcast), for the ops of the tables below, which
    give f, one ``derivatives`` entry per input (dy * dy/da as a function of dy and s, where s
    holds xp and the saved a, b, y) and ``saves``: for each input, which of a, b, y its
    derivative reads. Only what a needed derivative reads is saved (as PyTorch), so a write to
    a value that no derivative reads does not make backward raise."""

    def forward(self, *inputs):
        with np.errstate(all="ignore"):     # log(0) = -inf, 1/0 = inf, ... silently, as PyTorch
            y = self.f(get_array_module(inputs[0]), *inputs)
        self.shapes = [x.shape for x in inputs]
        reads = "".join(names for names, needed in zip(self.saves, self.needs_grad) if needed)
        values = dict(zip("ab", inputs), y=y)
        self.save_for_backward(*[values[name] if name in reads else None for name in "aby"])
        return y

    def backward(self, grad):
        # da = dy * dy/da (and db = dy * dy/db) as the tables state, each summed back over the
        # axes that broadcasting stretched (sum_to_shape): a gradient has its input's shape.
        # 0 * inf and the like are the tables' business, so NumPy's warnings are off.
        s = SimpleNamespace(xp=get_array_module(grad), **dict(zip("aby", self.saved)))
        with np.errstate(all="ignore"):
            return tuple(sum_to_shape(derivative(grad, s), shape) if needed else None
                         for derivative, shape, needed
                         in zip(self.derivatives, self.shapes, self.needs_grad))


def _function(name, f, derivatives, saves):
    return type(name, (Elementwise,), {"f": staticmethod(f), "derivatives": derivatives,
                                       "saves": saves})


def _unary(name, f, derivative, saves="", floating=True):
    """The Function class ``name`` and the function that applies it (integer and boolean inputs
    enter as float32 when ``floating``, as in PyTorch's floating-point functions)."""
    function = _function(name, f, (derivative,), (saves,))

    def apply(a):
        a = as_tensor(a)
        return function.apply(_floating(a) if floating else a)
    apply.__name__ = apply.__qualname__ = name.lower()
    return function, apply


def _binary(name, f, derivative_a, derivative_b, saves=("", ""), floating=False):
    """The Function class ``name`` and the function that applies it to a and b, both converted to
    their PyTorch result dtype (float32 at least when ``floating``: integer division gives
    floats)."""
    function = _function(name, f, (derivative_a, derivative_b), saves)

    def apply(a, b):
        dtype = result_type(a, b)
        if floating and dtype.kind != "f":
            dtype = np.dtype(np.float32)
        like = a if isinstance(a, Tensor) else as_tensor(b)
        a, b = cast(as_tensor(a, like), dtype), cast(as_tensor(b, like), dtype)
        _broadcast_shape(a.shape, b.shape)
        return function.apply(a, b)
    apply.__name__ = apply.__qualname__ = name.lower()
    return function, apply


def _sigmoid(xp, a):
    """1 / (1 + e^-a) for a >= 0 and e^a / (1 + e^a) otherwise: neither overflows."""
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _share(a, b):
    """a's share of dy in max(a, b): 0 where a < b, 1/2 on a tie, else 1 (a NaN gives both 1), as
    PyTorch."""
    return 1 - (a < b) - 0.5 * (a == b)


# name, y = f(xp, a), da = dy * dy/da, what backward needs (of a, y)
Neg, neg = _unary("Neg", lambda xp, a: -a, lambda dy, s: -dy, floating=False)
Clone, clone = _unary("Clone", lambda xp, a: a.copy(), lambda dy, s: dy, floating=False)
Abs, abs = _unary("Abs", lambda xp, a: xp.abs(a), lambda dy, s: dy * s.xp.sign(s.a), "a",
                  floating=False)
Exp, exp = _unary("Exp", lambda xp, a: xp.exp(a), lambda dy, s: dy * s.y, "y")
Log, log = _unary("Log", lambda xp, a: xp.log(a), lambda dy, s: dy / s.a, "a")
Sqrt, sqrt = _unary("Sqrt", lambda xp, a: xp.sqrt(a), lambda dy, s: dy / (2 * s.y), "y")
Tanh, tanh = _unary("Tanh", lambda xp, a: xp.tanh(a), lambda dy, s: dy * (1 - s.y * s.y), "y")
Sigmoid, sigmoid = _unary("Sigmoid", _sigmoid, lambda dy, s: dy * s.y * (1 - s.y), "y")

# name, y = f(xp, a, b), da = dy * dy/da, db = dy * dy/db, what da and db read (of a, b, y)
Add, add = _binary("Add", lambda xp, a, b: a + b, lambda dy, s: dy, lambda dy, s: dy)
Sub, sub = _binary("Sub", lambda xp, a, b: a - b, lambda dy, s: dy, lambda dy, s: -dy)
Mul, mul = _binary("Mul", lambda xp, a, b: a * b, lambda dy, s: dy * s.b,
                   lambda dy, s: dy * s.a, ("b", "a"))
Div, div = _binary("Div", lambda xp, a, b: a / b, lambda dy, s: dy / s.b,
                   lambda dy, s: -dy * s.a / (s.b * s.b), ("b", "ab"), floating=True)
# d(a^b)/da = b a^(b-1) (0 where b == 0) ; d(a^b)/db = a^b log(a) (0 where a == 0 and b >= 0),
# the limits PyTorch takes where the formulas give 0 * inf
Pow, pow = _binary("Pow", lambda xp, a, b: a ** b,
                   lambda dy, s: dy * s.xp.where(s.b == 0, 0, s.b * s.a ** (s.b - 1)),
                   lambda dy, s: dy * s.xp.where((s.a == 0) & (s.b >= 0), 0, s.y * s.xp.log(s.a)),
                   ("ab", "aby"))
Maximum, maximum = _binary("Maximum", lambda xp, a, b: xp.maximum(a, b),
                           lambda dy, s: dy * _share(s.a, s.b),
                           lambda dy, s: dy * _share(s.b, s.a), ("ab", "ab"))
Minimum, minimum = _binary("Minimum", lambda xp, a, b: xp.minimum(a, b),
                           lambda dy, s: dy * _share(s.b, s.a),
                           lambda dy, s: dy * _share(s.a, s.b), ("ab", "ab"))


class Cast(Function):
    def forward(self, a, dtype):
        self.dtype_in = a.dtype
        return a.astype(dtype)

    def backward(self, grad):
        # the identity map: dy goes back in the input's dtype
        return grad.astype(self.dtype_in), None


class ToDevice(Function):
    def forward(self, a, device):
        self.device_in = device_of(a)
        return move_array(a, device)

    def backward(self, grad):
        # the identity map: dy goes back to the input's device
        return move_array(grad, self.device_in), None


# ----- matrix product -----------------------------------------------------------------------

class MatMul(Function):
    def forward(self, a, b):
        # dA reads B and dB reads A: each is saved only when the other's gradient is needed
        self.save_for_backward(a if self.needs_grad[1] else None, b if self.needs_grad[0] else None)
        self.shapes = a.shape, b.shape
        return a @ b

    def backward(self, grad):
        # (..., n, k) @ (..., k, m):  dA = dY @ B^T ; dB = A^T @ dY, summed over broadcast batches.
        # A 1-d operand is a row (left) or a column (right), as in matmul itself.
        a, b = self.saved
        shape_a, shape_b = self.shapes
        shape_a2 = (1,) + shape_a if len(shape_a) == 1 else shape_a
        shape_b2 = shape_b + (1,) if len(shape_b) == 1 else shape_b
        grad2 = grad.reshape(np.broadcast_shapes(shape_a2[:-2], shape_b2[:-2])
                             + (shape_a2[-2], shape_b2[-1]))
        grad_a = grad_b = None
        if self.needs_grad[0]:
            b2 = b.reshape(shape_b2)
            grad_a = sum_to_shape(grad2 @ b2.swapaxes(-1, -2), shape_a2).reshape(shape_a)
        if self.needs_grad[1]:
            a2 = a.reshape(shape_a2)
            grad_b = sum_to_shape(a2.swapaxes(-1, -2) @ grad2, shape_b2).reshape(shape_b)
        return grad_a, grad_b


# ----- reductions ---------------------------------------------------------------------------

class Sum(Function):
    def forward(self, a, dims, keepdim):
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        return a.sum(axis=dims, keepdims=keepdim)

    def backward(self, grad):
        # every summed element receives the gradient of its sum: da = dy broadcast to a's shape
        xp = get_array_module(grad)
        if not self.keepdim:
            grad = xp.expand_dims(grad, self.dims)
        return xp.broadcast_to(grad, self.shape).copy(), None, None


class Mean(Sum):
    def forward(self, a, dims, keepdim):
        total = super().forward(a, dims, keepdim)
        self.count = int(np.prod([a.shape[d] for d in dims]))
        # the mean of nothing is nan, as in PyTorch (without NumPy's warning)
        return total / self.count if self.count else get_array_module(a).full_like(total, np.nan)

    def backward(self, grad):
        # every averaged element receives dy / count (the elements per mean); da has a's shape
        return super().backward(grad / builtins.max(self.count, 1))


class AMax(Function):
    """Max (or min) over ``dims``; the gradient is shared evenly by tied maxima, as in PyTorch.
    ``nan_ties``: a NaN result is the maximum of the NaNs, which then share the gradient (the
    rule of PyTorch's full ``max()`` / ``min()``; its ``amax`` gives NaN gradients instead)."""

    def forward(self, a, dims, keepdim, take_min, nan_ties):
        xp = get_array_module(a)
        for d in dims:
            if a.shape[d] == 0:
                raise IndexError(f"amax() / amin(): expected reduction dim {d} to have "
                                 "non-zero size")
        reduce = xp.amin if take_min else xp.amax
        out = reduce(a, axis=dims, keepdims=True)
        self.save_for_backward(a, out)
        self.dims, self.nan_ties = dims, nan_ties
        return out if keepdim else out.squeeze(axis=dims)

    def backward(self, grad):
        # da = dy * [a == max] / (number of ties), so tied maxima share dy evenly; da has a's shape
        a, out = self.saved
        hits = (a == out)
        if self.nan_ties:
            xp = get_array_module(a)
            hits |= xp.isnan(a) & xp.isnan(out)
        grad = grad.reshape(out.shape)
        with np.errstate(all="ignore"):     # no hit (a NaN max in amax): NaN, as PyTorch
            return hits * (grad / hits.sum(axis=self.dims, keepdims=True)), None, None, None, None


class MaxAlongDim(Function):
    """torch.max(x, dim): values and the index of the first maximum; the gradient goes there."""

    def forward(self, a, dim, keepdim, take_min):
        xp = get_array_module(a)
        if a.shape[dim] == 0:
            raise IndexError(f"max() / min(): expected reduction dim {dim} to have non-zero size")
        index = (xp.argmin if take_min else xp.argmax)(a, axis=dim, keepdims=True)
        values = xp.take_along_axis(a, index, axis=dim)
        self.shape, self.dim, self.index = a.shape, dim, index
        if not keepdim:
            values, index = values.squeeze(dim), index.squeeze(dim)
        return values, index.astype(np.int64)

    def backward(self, grad_values, grad_index):
        # dy goes to the first max along dim (its index), 0 elsewhere; da has a's shape
        xp = get_array_module(grad_values)
        grad = xp.zeros(self.shape, dtype=grad_values.dtype)
        xp.put_along_axis(grad, self.index, grad_values.reshape(self.index.shape), axis=self.dim)
        return grad, None, None, None


MaxResult = namedtuple("max", ["values", "indices"])      # PyTorch's torch.return_types.max
MinResult = namedtuple("min", ["values", "indices"])


# ----- shape ops ----------------------------------------------------------------------------

class Reshape(Function):
    def forward(self, a, shape):
        self.shape, self.new_shape = a.shape, shape
        return a.reshape(shape)

    def view_of(self, array):    # the view ops (Reshape, Permute, GetItem) say how they view
        return array.reshape(self.new_shape)

    def backward(self, grad):
        # da = dy reshaped back to a's shape
        return grad.reshape(self.shape), None


class Permute(Function):
    def forward(self, a, dims):
        self.dims = dims
        return a.transpose(dims)

    def view_of(self, array):
        return array.transpose(self.dims)

    def backward(self, grad):
        # da = dy with the axes put back (the inverse permutation)
        return grad.transpose(np.argsort(self.dims)), None


class GetItem(Function):
    def forward(self, a, index):
        self.shape, self.index = a.shape, index
        return a[index]

    def view_of(self, array):
        return array[self.index]

    def backward(self, grad):
        # each selected element receives its gradient; repeated picks add up
        xp = get_array_module(grad)
        out = xp.zeros(self.shape, dtype=grad.dtype)
        index_add(out, self.index, grad)
        return out, None


# ----- functions of tensors -----------------------------------------------------------------

def _floating(a):
    """Integer and boolean tensors enter floating-point functions as float32, as in PyTorch."""
    return a if a.dtype.kind == "f" else cast(a, np.float32)


def cast(a, dtype):
    if a.dtype == dtype:
        return a
    if a.requires_grad and np.dtype(dtype).kind != "f":
        return Tensor(a.array.astype(dtype))
    return Cast.apply(a, dtype)


def to_device(a, device):
    if device == a.device:
        return a
    return ToDevice.apply(a, device)


def matmul(a, b):
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul needs tensors of at least one dimension, got a 0-d tensor")
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != inner_b:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[-1]} != {inner_b})")
    _broadcast_shape(a.shape[:-2], b.shape[:-2])
    return MatMul.apply(a, b)


def _dims_argument(dim, axis):
    if axis is not None:
        if dim is not None:
            raise TypeError("give either dim or its NumPy alias axis, not both")
        return axis
    return dim


def sum(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    dims = _normalize_dims(_dims_argument(dim, axis), a.ndim)
    return Sum.apply(a, dims, bool(keepdim if keepdims is None else keepdims))


def mean(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if a.dtype.kind != "f":
        raise RuntimeError(f"mean() needs a floating-point tensor, got dtype {a.dtype}")
    dims = _normalize_dims(_dims_argument(dim, axis), a.ndim)
    return Mean.apply(a, dims, bool(keepdim if keepdims is None else keepdims))


def _amax(a, dim, keepdim, take_min, nan_ties=False):
    """The max (min) over dim: an int, a tuple or None (every axis); ties share the gradient."""
    if dim is None and a.numel() == 0:
        raise RuntimeError("max() / min() of an empty tensor needs a dim to reduce over")
    return AMax.apply(a, _normalize_dims(dim, a.ndim), bool(keepdim), take_min, nan_ties)


def _max(a, dim, keepdim, take_min):
    if isinstance(dim, Tensor):
        return (minimum if take_min else maximum)(a, dim)
    if dim is None:
        return _amax(a, None, keepdim, take_min, nan_ties=True)
    dim = _wrap_dim(dim, a.ndim)
    if a.ndim == 0:     # a 0-d tensor is its own max, at index 0, as a 1-element vector's
        a, keepdim = reshape(a, 1), False
    return (MinResult if take_min else MaxResult)(*MaxAlongDim.apply(a, dim, bool(keepdim),
                                                                      take_min))


def max(a, dim=None, keepdim=False):
    """``max(a)``: the largest element; ``max(a, dim)``: (values, indices) along dim;
    ``max(a, other_tensor)``: the elementwise maximum. As PyTorch."""
    return _max(a, dim, keepdim, take_min=False)


def min(a, dim=None, keepdim=False):
    return _max(a, dim, keepdim, take_min=True)


def amax(a, dim=None, keepdim=False):
    return _amax(a, dim, keepdim, take_min=False)


def amin(a, dim=None, keepdim=False):
    return _amax(a, dim, keepdim, take_min=True)


def reshape(a, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    shape = tuple(int(s) for s in shape)
    known = math.prod(s for s in shape if s != -1)      # the product of the given sizes
    if -1 in shape:   # one size inferred: the rest must divide the element count
        fits = shape.count(-1) == 1 and known > 0 and a.numel() % known == 0
    else:
        fits = known == a.numel()
    if not fits or any(s < -1 for s in shape):
        raise ShapeError(f"shape {shape} is invalid for a tensor of {a.numel()} elements")
    return Reshape.apply(a, shape)


def permute(a, *dims):
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    wrapped = tuple(_wrap_dim(d, a.ndim) for d in dims)
    if sorted(wrapped) != list(range(a.ndim)):
        raise ShapeError(f"permute needs a permutation of the {a.ndim} dimensions, got {dims}")
    return Permute.apply(a, wrapped)


def _raw_index(index):
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(a, index):
    index = _raw_index(index) if isinstance(index, tuple) else (_raw_index(index),)
    if not any(i is Ellipsis for i in index):
        index += (Ellipsis,)     # so an integer index gives a 0-d view, not a copied scalar
    return GetItem.apply(a, index)


def setitem(a, index, value):
    """``a[index] = value``: an in-place write, recorded in the graph as ``copy_`` and the
    others (Tensor._write)."""
    a._write(_raw_index(index), value)


# ----- Tensor methods -----------------------------------------------------------------------

def _reflected(fn):
    return lambda self, other: fn(other, self)


for name, fn in (("add", add), ("sub", sub), ("mul", mul), ("truediv", div), ("pow", pow),
                 ("matmul", matmul)):
    setattr(Tensor, f"__{name}__", fn)                 # tensor + other
    setattr(Tensor, f"__r{name}__", _reflected(fn))    # other + tensor
for fn in (add, sub, mul, div, pow, matmul, neg, exp, log, sqrt, abs, tanh, sigmoid, sum, mean,
           max, min, amax, amin, maximum, minimum, reshape, permute):
    setattr(Tensor, fn.__name__, fn)                   # tensor.exp() is exp(tensor)
del name, fn
Tensor.__neg__, Tensor.__pos__, Tensor.__abs__ = neg, lambda self: self, abs
Tensor.__getitem__, Tensor.__setitem__ = getitem, setitem
Tensor.__hash__ = object.__hash__
Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))

from minicnn.shape_ops import (argmax, argmin, cat, flatten, squeeze, stack, t,  # noqa: E402,F401
                               transpose, unsqueeze, view)
