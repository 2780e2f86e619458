"""The rest of PyTorch's tensor API: methods and top-level functions that a PyTorch program
expects (``x.clamp(0, 1)``, ``x.topk(5)``, ``torch.where``, ``torch.einsum``, ...).

A student reading the autograd core can skip this file: every op here is either a composition
of the ops in ``ops.py`` (so its gradient comes for free) or a small Function whose backward
states its math, as there. Signatures, defaults, result dtypes and gradients are PyTorch's
(checked against PyTorch 2.13 by tests/spec/test_pytorch_conformance.py).
"""

import builtins
import math
import string
from collections import namedtuple

import numpy as np

from minicnn import ops
from minicnn.autograd import Function, Tensor, raw
from minicnn.backend import get_array_module, index_add
from minicnn.ops import (ShapeError, _normalize_dims, _unary, _wrap_dim, cast, result_type,
                         sum_to_shape)
from minicnn.random import default_generator

TopkResult = namedtuple("topk", ["values", "indices"])      # torch.return_types.topk
SortResult = namedtuple("sort", ["values", "indices"])


def _sizes(size):
    """``f(2, 3)`` or ``f((2, 3))`` -> (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _xp(tensor):
    return get_array_module(tensor.array)


# ----- elementwise ---------------------------------------------------------------------------

def _zero_derivative(dy, s):
    return s.xp.zeros_like(dy)


# piecewise-constant functions: their derivative is 0 wherever it exists, as PyTorch takes it
Floor, floor = _unary("Floor", lambda xp, a: xp.floor(a), _zero_derivative, floating=False)
Ceil, ceil = _unary("Ceil", lambda xp, a: xp.ceil(a), _zero_derivative, floating=False)
Sign, sign = _unary("Sign", lambda xp, a: xp.sign(a), _zero_derivative, floating=False)
Trunc, trunc = _unary("Trunc", lambda xp, a: xp.trunc(a), _zero_derivative, floating=False)


def round(input, *, decimals=0):
    """Round half to even (as torch.round); ``decimals`` rounds x * 10^decimals, then divides."""
    if decimals == 0:
        return _round(input)
    scale = 10.0 ** decimals
    return _round(input * scale) / scale


Round, _round = _unary("Round", lambda xp, a: xp.round(a), _zero_derivative, floating=False)


# trigonometric and hyperbolic: sin' = cos, cos' = -sin, sinh' = cosh, cosh' = sinh
Sin, sin = _unary("Sin", lambda xp, a: xp.sin(a), lambda dy, s: dy * s.xp.cos(s.a), "a")
Cos, cos = _unary("Cos", lambda xp, a: xp.cos(a), lambda dy, s: -dy * s.xp.sin(s.a), "a")
Sinh, sinh = _unary("Sinh", lambda xp, a: xp.sinh(a), lambda dy, s: dy * s.xp.cosh(s.a), "a")
Cosh, cosh = _unary("Cosh", lambda xp, a: xp.cosh(a), lambda dy, s: dy * s.xp.sinh(s.a), "a")

def square(input):
    """input * input, elementwise (integers stay integers)."""
    return ops.mul(input, input)


def _untracked(ufunc):
    """``ufunc`` on tensors, recording no graph: comparisons, tests and bitwise logic."""
    def apply(input, other=None):
        arrays = (raw(input),) if other is None else (raw(input), raw(ops.as_tensor(other)))
        return Tensor(ufunc(*arrays))
    apply.__name__ = apply.__qualname__ = ufunc.__name__
    return apply


eq, ne = _untracked(np.equal), _untracked(np.not_equal)
lt, le = _untracked(np.less), _untracked(np.less_equal)
gt, ge = _untracked(np.greater), _untracked(np.greater_equal)
isnan, isinf, isfinite = _untracked(np.isnan), _untracked(np.isinf), _untracked(np.isfinite)
logical_not, logical_and = _untracked(np.logical_not), _untracked(np.logical_and)
logical_or = _untracked(np.logical_or)


def floor_divide(input, other):
    """input // other rounded toward -inf (torch's ``//``), in the operands' result dtype. Not
    differentiable (PyTorch defines no derivative for it): the result records no graph."""
    dtype = result_type(input, other)
    a, b = raw(ops.as_tensor(input)), raw(ops.as_tensor(other))
    with np.errstate(all="ignore"):
        return Tensor(get_array_module(a).floor_divide(a, b).astype(dtype, copy=False))


# a % b with the sign of b (Python's and torch's remainder): a - floor(a / b) * b;
# d/da = 1 ; d/db = -floor(a / b)
Remainder, remainder = ops._binary(
    "Remainder", lambda xp, a, b: xp.remainder(a, b), lambda dy, s: dy,
    lambda dy, s: -dy * s.xp.floor(s.a / s.b), "ab")


class Clamp(Function):
    def forward(self, a, low, high):
        xp = get_array_module(a)
        self.save_for_backward(a, low, high)
        y = a if low is None else xp.maximum(a, low)
        return y if high is None else xp.minimum(y, high)

    def backward(self, grad):
        # y = min(max(a, low), high):  da = dy where low <= a <= high ;
        # dlow = dy where a < low < high ; dhigh = dy where high < a or high < low  (PyTorch's
        # choice at the edges); each summed back to its input's shape
        a, low, high = self.saved
        inside = True
        if low is not None:
            inside = inside & (a >= low)
        if high is not None:
            inside = inside & (a <= high)
        grad_low = grad_high = None
        if self.needs_grad[1]:
            picks_low = (low > a) if high is None else (low > a) & (low < high)
            grad_low = sum_to_shape(grad * picks_low, low.shape)
        if self.needs_grad[2]:
            picks_high = (high < a) if low is None else (high < a) | (high < low)
            grad_high = sum_to_shape(grad * picks_high, high.shape)
        return sum_to_shape(grad * inside, a.shape), grad_low, grad_high


def clamp(input, min=None, max=None):
    """Elementwise min(max(input, min), max); bounds are numbers or tensors (broadcast). Where
    min > max every element becomes max, as in PyTorch. Raises RuntimeError if both are None."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    dtype = result_type(*(v for v in (input, min, max) if v is not None))
    bounds = [None if v is None else cast(ops.as_tensor(v, input), dtype) for v in (min, max)]
    ops._broadcast_shape(*(v.shape for v in [input] + bounds if v is not None))
    return Clamp.apply(cast(input, dtype), *bounds)


clip = clamp


def clamp_(input, min=None, max=None):
    """``clamp`` in place, under PyTorch's rules for in-place ops (Tensor._inplace). Returns
    input."""
    return input._inplace(clamp, min, max)


class Where(Function):
    def forward(self, condition, a, b):
        self.condition, self.shapes = condition, (a.shape, b.shape)
        return get_array_module(a).where(condition, a, b)

    def backward(self, grad):
        # y = a where condition else b:  da = dy * condition ; db = dy * (not condition),
        # each summed back to its input's shape
        grad_a = sum_to_shape(grad * self.condition, self.shapes[0])
        grad_b = sum_to_shape(grad * ~self.condition, self.shapes[1])
        return None, grad_a, grad_b


def where(condition, input=None, other=None):
    """``where(condition, input, other)``: input where condition is true, else other
    (broadcast, PyTorch's result dtype). ``where(condition)`` is ``nonzero(as_tuple=True)``."""
    condition = ops.as_tensor(condition)
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if condition.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {condition.dtype}")
    dtype = result_type(input, other)
    like = input if isinstance(input, Tensor) else ops.as_tensor(other)
    a, b = cast(ops.as_tensor(input, like), dtype), cast(ops.as_tensor(other, like), dtype)
    shape = ops._broadcast_shape(condition.shape, a.shape, b.shape)
    xp = _xp(a)
    return Where.apply(xp.broadcast_to(condition.array, shape), a, b)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` (bool, broadcast to input's shape) is true, input elsewhere."""
    mask = ops.as_tensor(mask)
    if mask.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype}")
    value = ops.as_tensor(value, input)
    if value.ndim != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.ndim} dimension(s)")
    return where(mask, cast(value, input.dtype), input)


def masked_fill_(input, mask, value):
    """``masked_fill`` in place (see clamp_). Returns input."""
    return input._inplace(masked_fill, mask, value)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |input - other| <= atol + rtol * |other| (broadcast), a bool tensor."""
    a, b = raw(input), raw(ops.as_tensor(other))
    return Tensor(get_array_module(a).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| everywhere (broadcast), as a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def equal(input, other):
    """True when both have the same shape and the same values."""
    return input.shape == other.shape and bool((raw(input) == raw(other)).all())


# ----- reductions ----------------------------------------------------------------------------

def _reduce_bool(name, reduce):
    def apply(input, dim=None, keepdim=False):
        array = raw(input)
        if dim is None:
            return Tensor(get_array_module(array).asarray(reduce(array)))
        return Tensor(reduce(array, axis=_normalize_dims(dim, input.ndim), keepdims=keepdim))
    apply.__name__ = apply.__qualname__ = name
    return apply


any, all = _reduce_bool("any", np.any), _reduce_bool("all", np.all)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """sum((x - mean)^2) / max(0, n - correction) over ``dim`` (all by default), with
    correction = 1 (Bessel's) unless ``unbiased=False`` or ``correction`` says otherwise, as
    torch 2.x. ``var(x, False)`` is the legacy positional ``unbiased``."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError("var(): give either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    dims = _normalize_dims(dim, input.ndim)
    deviation = input - ops.mean(input, dims, keepdim=True)
    count = math.prod(input.shape[d] for d in dims)
    squares = ops.sum(deviation * deviation, dims, keepdim=keepdim)
    return squares / builtins.max(0, count - correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The square root of ``var`` (same arguments)."""
    return ops.sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over ``dim``, with var's arguments."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            ops.mean(input, _normalize_dims(dim, input.ndim), keepdim=keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over ``dim``, with std's arguments."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            ops.mean(input, _normalize_dims(dim, input.ndim), keepdim=keepdim))


def _integer_accumulator(input, dtype):
    """PyTorch sums and multiplies integers and booleans in int64 unless told otherwise."""
    if dtype is not None:
        return cast(input, np.dtype(dtype))
    return cast(input, np.int64) if input.dtype.kind in "biu" else input


class Prod(Function):
    def forward(self, a, dim, keepdim):
        xp = get_array_module(a)
        self.dim, self.keepdim = dim, keepdim
        moved = xp.moveaxis(a, dim, -1)
        ones = xp.ones(moved.shape[:-1] + (1,), dtype=a.dtype)
        # the product of the elements before / after each one (exclusive cumulative products)
        before = xp.cumprod(xp.concatenate([ones, moved[..., :-1]], axis=-1), axis=-1)
        reversed_ = xp.flip(moved, -1)
        after = xp.flip(xp.cumprod(xp.concatenate([ones, reversed_[..., :-1]], -1), -1), -1)
        self.save_for_backward(before * after)
        return a.prod(axis=dim, keepdims=keepdim)

    def backward(self, grad):
        # y = prod_j a_j along dim:  da_i = dy * prod_{j != i} a_j (exact with zeros among a)
        xp = get_array_module(grad)
        others, = self.saved
        if not self.keepdim:
            grad = xp.expand_dims(grad, self.dim)
        return xp.moveaxis(others, -1, self.dim) * grad, None, None


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """The product over ``dim`` (one dim) or of every element; integers multiply in int64."""
    input = _integer_accumulator(input, dtype)
    if dim is None:
        return Prod.apply(ops.reshape(input, -1), 0, False)
    return Prod.apply(input, _wrap_dim(dim, input.ndim), bool(keepdim)) if input.ndim else input


class CumSum(Function):
    def forward(self, a, dim):
        self.dim = dim
        return get_array_module(a).cumsum(a, axis=dim)

    def backward(self, grad):
        # y_i = sum_{j <= i} a_j:  da_j = sum_{i >= j} dy_i, a cumulative sum from the end
        xp = get_array_module(grad)
        return xp.flip(xp.cumsum(xp.flip(grad, self.dim), axis=self.dim), self.dim), None


def cumsum(input, dim, *, dtype=None):
    """Running sums along ``dim``: y_i = a_0 + ... + a_i (integers and booleans in int64)."""
    input = _integer_accumulator(input, dtype)
    if input.ndim == 0:
        return input
    return CumSum.apply(input, _wrap_dim(dim, input.ndim))


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over ``dim`` (all elements by default): (sum |x|^p)^(1/p); "fro" and
    2 are the Euclidean norm, inf / -inf the largest / smallest |x|, 0 the count of non-zeros."""
    if dtype is not None:
        input = cast(input, np.dtype(dtype))
    if input.dtype.kind != "f":
        raise RuntimeError(f"norm(): input dtype should be floating point, got {input.dtype}")
    dims = _normalize_dims(dim, input.ndim)
    if p in ("fro", 2, 2.0):
        return ops.sqrt(ops.sum(input * input, dims, keepdim=keepdim))
    magnitude = ops.abs(input)
    if p == math.inf:
        return ops.amax(magnitude, dims, keepdim)
    if p == -math.inf:
        return ops.amin(magnitude, dims, keepdim)
    if p == 0:
        return ops.sum(cast(ne(input, 0), input.dtype), dims, keepdim=keepdim)
    if p == 1:
        return ops.sum(magnitude, dims, keepdim=keepdim)
    if isinstance(p, str):
        raise RuntimeError(f"norm(): unsupported norm type {p!r}")
    return ops.sum(magnitude ** p, dims, keepdim=keepdim) ** (1.0 / p)


# ----- indexing and ordering -----------------------------------------------------------------

class Gather(Function):
    def forward(self, a, index, dim):
        self.shape, self.index, self.dim = a.shape, index, dim
        return get_array_module(a).take_along_axis(a, index, axis=dim)

    def backward(self, grad):
        # y[..i..] = a[..index[..i..]..] along dim:  da = dy added at the gathered positions
        # (an index taken twice receives both);  dy (index's shape) -> da (a's shape)
        xp = get_array_module(grad)
        ndim = self.index.ndim
        positions = [xp.arange(n).reshape([-1 if d == i else 1 for d in range(ndim)])
                     for i, n in enumerate(self.index.shape)]
        positions[self.dim] = self.index
        out = xp.zeros(self.shape, dtype=grad.dtype)
        index_add(out, tuple(positions), grad)
        return out, None, None


def gather(input, dim, index):
    """out[i][j][k] = input[index[i][j][k]][j][k] for dim = 0 (and so on): the values of
    ``input`` at ``index`` (int64, same number of dimensions) along dim."""
    index = ops.as_tensor(index)
    if index.dtype != np.int64:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    dim = _wrap_dim(dim, input.ndim)
    size = input.shape[dim] if input.ndim else 1
    if index.numel() and (int(index.array.min()) < 0 or int(index.array.max()) >= size):
        raise RuntimeError(f"gather(): index out of bounds for dimension {dim} with size {size}")
    if input.ndim == 0:
        return input
    return Gather.apply(input, index.array, dim)


def take_along_dim(input, indices, dim):
    """``gather(input, dim, indices)`` (torch.take_along_dim with a dim)."""
    return gather(input, dim, indices)


def argsort(input, dim=-1, descending=False, stable=False):
    """The int64 indices that sort ``input`` along dim (ascending unless ``descending``); ties
    keep their order (a stable sort)."""
    xp, array = _xp(input), raw(input)
    if input.ndim == 0:
        return Tensor(xp.zeros((), dtype=np.int64))
    dim = _wrap_dim(dim, input.ndim)
    kind = {"kind": "stable"} if xp is np else {}    # CuPy's sort is always stable
    if descending:
        # stable descending order: sort the reversed array ascending, then reverse back
        flipped = xp.flip(array, dim)
        order = xp.flip(xp.argsort(flipped, axis=dim, **kind), dim)
        return Tensor((array.shape[dim] - 1 - order).astype(np.int64))
    return Tensor(xp.argsort(array, axis=dim, **kind).astype(np.int64))


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) along dim; the gradient of the values goes back to where each came
    from."""
    indices = argsort(input, dim, descending)
    if input.ndim == 0:
        return SortResult(input, indices)
    return SortResult(gather(input, dim, indices), indices)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) values along dim and their indices, largest first."""
    dim = _wrap_dim(dim, input.ndim)
    size = input.shape[dim] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk(): selected index k out of range (k={k}, size {size})")
    if input.ndim == 0:
        return TopkResult(input, Tensor(_xp(input).zeros((), dtype=np.int64)))
    order = argsort(input, dim, descending=largest)
    indices = Tensor(order.array[(slice(None),) * dim + (slice(0, k),)])
    return TopkResult(gather(input, dim, indices), indices)


def argmax(input, dim=None, keepdim=False, *, axis=None):
    """The int64 index of the first largest value, along ``dim`` (NumPy's ``axis``) or over the
    flattened tensor."""
    return ops.argmax(input, ops._dims_argument(dim, axis), keepdim)


def argmin(input, dim=None, keepdim=False, *, axis=None):
    """The int64 index of the first smallest value (see argmax)."""
    return ops.argmin(input, ops._dims_argument(dim, axis), keepdim)


def nonzero(input, *, as_tuple=False):
    """The int64 indices of the non-zero elements: (count, ndim), or one vector per dim."""
    found = _xp(input).nonzero(raw(input))
    if as_tuple:
        return tuple(Tensor(i.astype(np.int64)) for i in found)
    return Tensor(_xp(input).stack(found, axis=1).astype(np.int64))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values, sorted (with ``dim``: the distinct slices along dim, in
    lexicographic order); with ``return_inverse`` / ``return_counts`` also where each element
    (slice) went and how often each occurs, int64."""
    xp = _xp(input)
    axis = None if dim is None else _wrap_dim(dim, input.ndim)
    values, inverse, counts = xp.unique(raw(input), return_inverse=True, return_counts=True,
                                        axis=axis)
    results = [Tensor(values)]
    if return_inverse:
        shape = input.shape if axis is None else (input.shape[axis],)
        results.append(Tensor(inverse.reshape(shape).astype(np.int64)))
    if return_counts:
        results.append(Tensor(counts.astype(np.int64)))
    return results[0] if len(results) == 1 else tuple(results)


def bincount(input, weights=None, minlength=0):
    """How often each value 0..max occurs in the 1-d non-negative integer ``input`` (int64), or
    the sum of ``weights`` per value (in the weights' dtype, float32 or float64)."""
    if input.ndim != 1 or input.dtype.kind not in "iu":
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs")
    xp = _xp(input)
    if input.numel() and int(input.array.min()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs")
    if weights is None:
        return Tensor(xp.bincount(input.array, minlength=minlength).astype(np.int64))
    weights = ops.as_tensor(weights)
    dtype = weights.dtype if weights.dtype.kind == "f" else np.float64
    return Tensor(xp.bincount(input.array, weights=weights.array,
                              minlength=minlength).astype(dtype))


# ----- shape ops -----------------------------------------------------------------------------

class Expand(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return get_array_module(a).broadcast_to(a, shape)

    def backward(self, grad):
        # every copy of an element passes its gradient back: da = dy summed over the new and
        # the stretched dimensions
        return sum_to_shape(grad, self.shape), None


def expand(input, *sizes):
    """A broadcast view of ``input`` with ``sizes`` (-1 keeps a dimension; new ones go in
    front). Raises ShapeError for a size that does not fit."""
    sizes = _sizes(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ShapeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                         f"or equal to the number of dimensions in the tensor ({input.ndim})")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(sizes))
    for i, size in enumerate(input.shape):
        if size != 1 and shape[lead + i] != size:
            raise ShapeError(f"expand: the expanded size ({shape[lead + i]}) must match the "
                             f"existing size ({size}) at non-singleton dimension {lead + i}; "
                             f"target sizes {sizes}, tensor sizes {input.shape}")
    if builtins.any(s < 0 for s in shape):
        raise ShapeError(f"expand: the sizes {sizes} hold a negative size for a new dimension")
    return Expand.apply(input, shape)


def expand_as(input, other):
    """``expand(input, other.shape)``."""
    return expand(input, other.shape)


def broadcast_to(input, shape):
    """``expand(input, shape)``."""
    return expand(input, shape)


class Repeat(Function):
    def forward(self, a, repeats):
        self.shape, self.repeats = a.shape, repeats
        return get_array_module(a).tile(a, repeats)

    def backward(self, grad):
        # y is a tiled r_0 x r_1 x ... times: da = the sum of dy over the tiles;
        # dy (r_0 s_0, r_1 s_1, ...) viewed as (r_0, s_0, r_1, s_1, ...) and summed over the r's
        shape = (1,) * (len(self.repeats) - len(self.shape)) + self.shape
        split = [n for pair in zip(self.repeats, shape) for n in pair]
        tiles = tuple(range(0, 2 * len(shape), 2))
        return grad.reshape(split).sum(axis=tiles).reshape(self.shape), None


def repeat(input, *sizes):
    """``input`` tiled ``sizes[i]`` times along dimension i (new leading dimensions first)."""
    sizes = _sizes(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    return Repeat.apply(input, tuple(int(s) for s in sizes))


def split(tensor, split_size_or_sections, dim=0):
    """Pieces along dim: of ``split_size_or_sections`` each (the last may be smaller), or of the
    listed sizes (which must add up to the dim's size)."""
    dim = _wrap_dim(dim, tensor.ndim)
    size = tensor.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and size:
            raise RuntimeError(f"split expects split_size be non-negative, got {step}")
        sections = [builtins.min(step, size - start) for start in range(0, size, step)] or [0]
    else:
        sections = [int(s) for s in split_size_or_sections]
        if builtins.sum(sections) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {dim}), but got "
                               f"split_sizes={sections}")
    bounds = np.cumsum([0] + sections)
    return tuple(ops.getitem(tensor, (slice(None),) * dim + (slice(int(a), int(b)),))
                 for a, b in zip(bounds[:-1], bounds[1:]))


def chunk(input, chunks, dim=0):
    """At most ``chunks`` pieces along dim, each of ceil(size / chunks) elements but the last."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[_wrap_dim(dim, input.ndim)]
    return split(input, builtins.max(-(-size // chunks), 1), dim)


def unbind(input, dim=0):
    """The slices along ``dim``, each without that dimension."""
    dim = _wrap_dim(dim, input.ndim)
    return tuple(ops.getitem(input, (slice(None),) * dim + (i,)) for i in range(input.shape[dim]))


class Flip(Function):
    def forward(self, a, dims):
        self.dims = dims
        return get_array_module(a).flip(a, dims).copy()

    def backward(self, grad):
        # y reverses a along dims: da = dy reversed along the same dims
        return get_array_module(grad).flip(grad, self.dims), None


def flip(input, *dims_given, dims=None):
    """Reverse the order of elements along ``dims`` (``flip(x, (0, 1))``, ``x.flip(0, 1)``)."""
    dims = _sizes(dims_given) if dims is None else _sizes((dims,))
    return Flip.apply(input, tuple(_wrap_dim(d, input.ndim) for d in dims)) if dims else input


class Roll(Function):
    def forward(self, a, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return get_array_module(a).roll(a, shifts, dims)

    def backward(self, grad):
        # y shifts a cyclically: da = dy shifted back
        back = tuple(-s for s in self.shifts)
        return get_array_module(grad).roll(grad, back, self.dims), None, None


def roll(input, shifts, dims=None):
    """Shift elements cyclically by ``shifts`` along ``dims`` (of the flattened tensor when
    dims is None, then reshaped back)."""
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: shifts {shifts} need dims")
        return ops.reshape(Roll.apply(ops.reshape(input, -1), shifts, (0,)), input.shape)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(dims) != len(shifts):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims: {len(dims)}")
    return Roll.apply(input, tuple(int(s) for s in shifts),
                      tuple(_wrap_dim(d, input.ndim) for d in dims))


class Triangle(Function):
    def forward(self, a, diagonal, upper):
        self.diagonal, self.upper = diagonal, upper
        return self._mask(a)

    def _mask(self, a):
        xp = get_array_module(a)
        return (xp.triu if self.upper else xp.tril)(a, self.diagonal)

    def backward(self, grad):
        # y keeps the triangle and zeroes the rest: da = dy on the triangle, 0 elsewhere
        return self._mask(grad), None, None


def tril(input, diagonal=0):
    """The lower triangle of the last two dimensions (on and below ``diagonal``), zeros above."""
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return Triangle.apply(input, int(diagonal), False)


def triu(input, diagonal=0):
    """The upper triangle of the last two dimensions (on and above ``diagonal``), zeros below."""
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return Triangle.apply(input, int(diagonal), True)


def view_as(input, other):
    """``view(input, other.shape)``: the same elements in other's shape, never a copy."""
    return ops.view(input, other.shape)


def reshape_as(input, other):
    """``reshape(input, other.shape)``."""
    return ops.reshape(input, other.shape)


# ----- products ------------------------------------------------------------------------------

def mm(input, mat2):
    """Matrix product of (n, k) and (k, m), without broadcasting."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {input.shape} and {mat2.shape}")
    return ops.matmul(input, mat2)


def bmm(input, mat2):
    """Batched matrix product of (b, n, k) and (b, k, m), without broadcasting."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {input.shape} and {mat2.shape}")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {input.shape} and {mat2.shape}")
    return ops.matmul(input, mat2)


def outer(input, vec2):
    """out[i, j] = input[i] * vec2[j] for 1-d input and vec2."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got {input.shape} and {vec2.shape}")
    return ops.mul(ops.reshape(input, -1, 1), ops.reshape(vec2, 1, -1))


def dot(input, other):
    """The inner product of two 1-d tensors of the same length (a 0-d tensor)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expected 1-D tensors, got {input.shape} and {other.shape}")
    return ops.matmul(input, other)


def _explicit_equation(equation, operands):
    """``equation`` in the form "ab,bc->ac": every '...' replaced by letters for the dims it
    stands for, and the implicit output (the letters used once, in order) written out."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): {len(terms)} subscripts for {len(operands)} operands")
    spare = [c for c in string.ascii_letters if c not in equation]
    widest = 0
    for i, (term, operand) in enumerate(zip(terms, operands)):
        if "..." in term:
            width = operand.ndim - (len(term) - 3)
            widest = builtins.max(widest, width)
            terms[i] = term.replace("...", "".join(spare[widest - width:widest]))
    ellipsis = "".join(spare[:widest])
    if not arrow:
        letters = "".join(terms)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                           and c not in ellipsis))
    return terms, output.replace("...", ellipsis)


class Einsum(Function):
    def forward(self, *arrays, terms, output):
        self.terms, self.output = terms, output
        self.save_for_backward(*arrays)
        return get_array_module(arrays[0]).einsum(",".join(terms) + "->" + output, *arrays)

    def backward(self, grad):
        # y = einsum(terms -> out, a_1, ..., a_n) is linear in each a_i:
        # da_i = einsum(out, other terms -> term_i, dy, a_j for j != i); a letter of a_i that
        # appears nowhere else was summed out, so dy is broadcast along it (a ones vector); a
        # letter repeated in term_i (a diagonal, "ii") gets a fresh letter tied to the first by
        # an identity matrix, so the gradient lands on the diagonal only
        xp = get_array_module(grad)
        used = set("".join(self.terms) + self.output)
        spare = iter(c for c in string.ascii_letters if c not in used)
        grads = []
        for i, (term, a) in enumerate(zip(self.terms, self.saved)):
            if not self.needs_grad[i]:
                grads.append(None)
                continue
            sizes = dict(zip(term, a.shape))
            terms = [self.output] + [t for j, t in enumerate(self.terms) if j != i]
            operands = [grad] + [x for j, x in enumerate(self.saved) if j != i]
            for letter in dict.fromkeys(term):
                if letter not in "".join(terms):
                    terms.append(letter)
                    operands.append(xp.ones(sizes[letter], dtype=grad.dtype))
            target = ""
            for letter in term:
                if letter in target:
                    fresh = next(spare)
                    terms.append(letter + fresh)
                    operands.append(xp.eye(sizes[letter], dtype=grad.dtype))
                    letter = fresh
                target += letter
            grads.append(xp.einsum(",".join(terms) + "->" + target, *operands))
        return tuple(grads)


def einsum(equation, *operands):
    """Einstein summation, as torch.einsum: ``einsum("ij,jk->ik", a, b)``; operands may also be
    given as one list. Supports '...' and the implicit output form."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [ops.as_tensor(x) for x in operands]
    terms, output = _explicit_equation(equation, operands)
    for term, operand in zip(terms, operands):
        if len(term) != operand.ndim:
            raise RuntimeError(f"einsum(): the subscript {term!r} does not fit an operand of "
                               f"shape {operand.shape}")
    dtype = result_type(*operands)
    return Einsum.apply(*(cast(x, dtype) for x in operands), terms=terms, output=output)


# ----- conversions ---------------------------------------------------------------------------

_TYPE_NAMES = {np.dtype(dtype): name for dtype, name in (
    (np.float32, "torch.FloatTensor"), (np.float64, "torch.DoubleTensor"),
    (np.float16, "torch.HalfTensor"), (np.int64, "torch.LongTensor"),
    (np.int32, "torch.IntTensor"), (np.int16, "torch.ShortTensor"), (np.int8, "torch.CharTensor"),
    (np.uint8, "torch.ByteTensor"), (np.bool_, "torch.BoolTensor"))}


def type(input, dtype=None):
    """``x.type()``: PyTorch's type name ("torch.FloatTensor"); ``x.type(dtype)`` (a dtype or
    such a name): ``x.to(dtype)``."""
    if dtype is None:
        name = _TYPE_NAMES.get(input.dtype, f"torch.{input.dtype}")
        return name if input.device.type == "cpu" else name.replace("torch.", "torch.cuda.")
    if isinstance(dtype, str):
        by_name = {name.replace("torch.", ""): d for d, name in _TYPE_NAMES.items()}
        dtype = by_name.get(dtype.replace("torch.cuda.", "").replace("torch.", ""), dtype)
    return input.to(np.dtype(dtype))


def _converter(dtype):
    return lambda self: cast(self, np.dtype(dtype))


def is_tensor(obj):
    """True for a minicnn Tensor (a Parameter included)."""
    return isinstance(obj, Tensor)


def is_floating_point(input):
    """True for a float32 or float64 tensor."""
    return input.dtype.kind == "f"


def numel(input):
    """The number of elements."""
    return input.numel()


def as_tensor(data, dtype=None, device=None):
    """torch.as_tensor: ``data`` as a Tensor, sharing its memory when it already is a Tensor or
    an array of the requested dtype on the requested device (NumPy arrays keep their dtype)."""
    if isinstance(data, Tensor):
        tensor = data if dtype is None else cast(data, np.dtype(dtype))
    else:
        keep = getattr(data, "dtype", None) if dtype is None else dtype
        tensor = Tensor(data, dtype=keep)
    return tensor if device is None else tensor.to(str(device))


# ----- creation ------------------------------------------------------------------------------

def empty(*size, dtype=np.float32, requires_grad=False):
    """A tensor of ``size`` (minicnn fills it with zeros: nothing is left uninitialised)."""
    return Tensor(np.zeros(_sizes(size), dtype=dtype), requires_grad=requires_grad)


def eye(n, m=None, dtype=np.float32, requires_grad=False):
    """The n x m (m = n by default) identity matrix: ones on the diagonal."""
    return Tensor(np.eye(n, n if m is None else m, dtype=dtype), requires_grad=requires_grad)


def linspace(start, end, steps, dtype=np.float32, requires_grad=False):
    """``steps`` evenly spaced values from start to end inclusive, computed as PyTorch does:
    start + i * step in the first half and end - (steps - 1 - i) * step in the second."""
    if steps < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    wide = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    step = (wide(end) - wide(start)) / wide(builtins.max(steps - 1, 1))
    i = np.arange(steps)
    half = steps // 2
    values = np.where(i < half, wide(start) + step * i.astype(wide),
                      wide(end) - step * (steps - 1 - i).astype(wide))
    if steps == 1:
        values[:] = start
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def normal(mean, std=1.0, size=None, *, dtype=None, requires_grad=False):
    """Samples of N(mean, std^2) (torch.normal): ``mean`` and ``std`` tensors or numbers,
    broadcast together; two numbers need ``size``. float32 unless a tensor argument is float64
    or ``dtype`` says otherwise. The result is a new leaf (PyTorch's gradient through it is
    zero). Raises TypeError for two numbers without a size, RuntimeError for a negative std."""
    tensors = [value for value in (mean, std) if isinstance(value, Tensor)]
    if not tensors and size is None:
        raise TypeError("normal(): with a number mean and std, give size")
    like = tensors[0].array if tensors else np.zeros(())
    xp = get_array_module(like)
    mean_values, std_values = (xp.asarray(raw(value)) for value in (mean, std))
    if (std_values < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0" if isinstance(std, Tensor)
                           else f"normal expects std >= 0.0, but found std {std}")
    shape = _sizes(size) if size is not None else np.broadcast_shapes(mean_values.shape,
                                                                       std_values.shape)
    if dtype is None:
        dtype = builtins.max([np.dtype(np.float32)] + [t.dtype for t in tensors
                                                       if t.dtype.kind == "f"],
                             key=lambda d: d.itemsize)
    noise = xp.asarray(default_generator().standard_normal(shape))
    return Tensor((mean_values + std_values * noise).astype(dtype), requires_grad=requires_grad)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids (torch.meshgrid) from 1-D (or 0-D) tensors of lengths n0, n1, ...: one
    (n0, n1, ...) tensor per input, input k varying along dim k ("ij"); "xy" swaps the first two
    dims (Cartesian, as NumPy's default). Outputs are expands, so gradients sum back to the
    inputs. Raises ValueError for another ``indexing``, RuntimeError for a tensor of 2+ dims."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of 'xy' or 'ij', got {indexing}")
    if builtins.any(t.ndim > 1 for t in tensors):
        raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: "
                           + ", ".join(str(t.ndim) + "D" for t in tensors))
    swap = indexing == "xy" and len(tensors) >= 2
    order = (tensors[1], tensors[0]) + tuple(tensors[2:]) if swap else tuple(tensors)
    shape = tuple(t.numel() for t in order)
    grids = [t.reshape(tuple(-1 if d == k else 1 for d in range(len(order)))).expand(shape)
             for k, t in enumerate(order)]
    return tuple([grids[1], grids[0]] + grids[2:]) if swap else tuple(grids)

def _like(fill):
    def create(input, dtype=None, requires_grad=False):
        dtype = input.dtype if dtype is None else np.dtype(dtype)
        return Tensor(_xp(input).asarray(fill(input.shape)).astype(dtype),
                      requires_grad=requires_grad)
    return create


empty_like = _like(np.zeros)
rand_like = _like(lambda shape: default_generator().random(shape))
randn_like = _like(lambda shape: default_generator().standard_normal(shape))


def full_like(input, fill_value, dtype=None, requires_grad=False):
    """A tensor of input's shape filled with ``fill_value`` (input's dtype by default)."""
    dtype = input.dtype if dtype is None else np.dtype(dtype)
    return Tensor(_xp(input).full(input.shape, fill_value, dtype=dtype),
                  requires_grad=requires_grad)


def randint_like(input, low, high=None, dtype=None):
    """Integers in [low, high) (``randint_like(x, high)`` starts at 0) of input's shape."""
    low, high = (0, low) if high is None else (low, high)
    dtype = input.dtype if dtype is None else np.dtype(dtype)
    return Tensor(default_generator().integers(low, high, size=input.shape).astype(dtype))


def randperm(n, dtype=np.int64, requires_grad=False):
    """A random permutation of 0..n-1 (minicnn's generator: ``manual_seed`` repeats it)."""
    return Tensor(default_generator().permutation(n).astype(dtype), requires_grad=requires_grad)


# ----- Tensor methods ------------------------------------------------------------------------

def _softmax_method(name):
    def method(self, dim, dtype=None):
        from minicnn.nn import functional as F
        return getattr(F, name)(self, dim, dtype=dtype)
    method.__name__ = name
    return method


def _relu(self):
    from minicnn.nn import functional as F
    return F.relu(self)


_METHODS = dict(
    relu=_relu, softmax=_softmax_method("softmax"), log_softmax=_softmax_method("log_softmax"),
    clamp=clamp, clip=clamp, clamp_=clamp_, clip_=clamp_, var=var, std=std, prod=prod,
    cumsum=cumsum, norm=norm, any=any, all=all, eq=eq, ne=ne, lt=lt, le=le, gt=gt, ge=ge,
    isnan=isnan, isinf=isinf, isfinite=isfinite, logical_not=logical_not,
    sin=sin, cos=cos, sinh=sinh, cosh=cosh, floor=floor, ceil=ceil, round=round, trunc=trunc,
    sign=sign, square=square,
    remainder=remainder, floor_divide=floor_divide, topk=topk, sort=sort, argsort=argsort,
    argmax=argmax, argmin=argmin, gather=gather, take_along_dim=take_along_dim,
    masked_fill=masked_fill, masked_fill_=masked_fill_, where=lambda self, c, y: where(c, self, y),
    nonzero=nonzero, unique=unique, bincount=bincount, expand=expand, expand_as=expand_as,
    broadcast_to=broadcast_to, repeat=repeat, split=split, chunk=chunk, unbind=unbind, flip=flip,
    roll=roll, tril=tril, triu=triu, view_as=view_as, reshape_as=reshape_as, mm=mm, bmm=bmm,
    outer=outer, dot=dot, type=type, is_floating_point=is_floating_point, isclose=isclose,
    allclose=allclose, equal=equal, int=_converter(np.int32), bool=_converter(np.bool_),
    short=_converter(np.int16), char=_converter(np.int8),
    byte=_converter(np.uint8),
    __floordiv__=floor_divide, __rfloordiv__=lambda self, other: floor_divide(other, self),
    __mod__=remainder, __rmod__=lambda self, other: remainder(other, self),
    __eq__=eq, __ne__=ne, __lt__=lt, __le__=le, __gt__=gt, __ge__=ge,
    __and__=_untracked(np.bitwise_and), __or__=_untracked(np.bitwise_or),
    __xor__=_untracked(np.bitwise_xor), __invert__=_untracked(np.invert),
    # x **= y and the others write into x, as PyTorch (aliases and views see the change)
    pow_=lambda self, other: self._inplace(ops.pow, other),
    __ipow__=lambda self, other: self._inplace(ops.pow, other),
    __ifloordiv__=lambda self, other: self._inplace(floor_divide, other),
    __imod__=lambda self, other: self._inplace(remainder, other),
    __iand__=lambda self, other: self._inplace(_untracked(np.bitwise_and), other),
    __ior__=lambda self, other: self._inplace(_untracked(np.bitwise_or), other),
    __ixor__=lambda self, other: self._inplace(_untracked(np.bitwise_xor), other),
)
for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)
del _name, _method


# ----- Python scalars and the grad attribute, with PyTorch's checks ---------------------------

def _python_scalar(kind):
    """``float(x)`` / ``int(x)``: x must hold one element (ValueError, as PyTorch)."""
    def convert(self):
        if self.array.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return kind(self.item())
    return convert


# the C++ type names PyTorch's grad-assignment message uses
_CPP_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
                   "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
                   "uint8": "unsigned char", "bool": "bool", "complex64": "c10::complex<float>",
                   "complex128": "c10::complex<double>"}


def _grad(self):
    """The gradient ``backward`` accumulated into this leaf (a Tensor of its shape and dtype),
    or None."""
    return self._grad


def _set_grad(self, grad):
    """``x.grad = g``: g must be None or a Tensor (else TypeError) of x's shape, dtype and
    device (else RuntimeError); PyTorch's messages."""
    if grad is not None:
        if not isinstance(grad, Tensor):
            raise TypeError("assigned grad expected to be a Tensor or None but got grad of type "
                            f"{builtins.type(grad).__name__}")
        if grad.shape != self.shape:
            raise RuntimeError(f"attempting to assign a gradient of size '{list(grad.shape)}' to "
                               f"a tensor of size '{list(self.shape)}'. Please ensure that the "
                               "gradient and the tensor are the same size")
        if grad.dtype != self.dtype:
            ours = type(self).removeprefix("torch.").removesuffix("Tensor")
            raise RuntimeError(
                "attempting to assign a gradient with dtype "
                f"'{_CPP_TYPE_NAMES.get(grad.dtype.name, grad.dtype.name)}' to a tensor with "
                f"grad_dtype '{ours}'. The gradient must match the tensor's grad_dtype "
                "(defaults to the tensor's dtype).")
        if grad.device != self.device:
            raise RuntimeError(f"attempting to assign a gradient on device '{grad.device}' to a "
                               f"tensor on device '{self.device}'. Please ensure that the "
                               "gradient and the tensor are on the same device")
    self._grad = grad


Tensor.__float__, Tensor.__int__ = _python_scalar(float), _python_scalar(int)
Tensor.grad = property(_grad, _set_grad)
