"""minicnn: a from-scratch CNN framework in NumPy, readable like a textbook.

    import minicnn as mc
    import minicnn.nn as nn
    import minicnn.nn.functional as F
"""

import functools

import numpy as np

from minicnn import backend
from minicnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad
from minicnn.autograd_hooks import inference_mode, set_grad_enabled
from minicnn.backend import get_backend, set_backend
from minicnn.backend.info import info
from minicnn.device import device
from minicnn.device import device as _device_class  # factories' device= shadows the name
from minicnn.ops import (abs, amax, amin, cat, exp, flatten, log, matmul, max, maximum, mean, min,
                         minimum, permute, reshape, sigmoid, sqrt, squeeze, stack, sum, tanh,
                         transpose, unsqueeze)
from minicnn.random import default_generator, get_rng_state, manual_seed, set_rng_state
from minicnn.tensor_api import (  # noqa: F401  (PyTorch's wider API; attaches Tensor methods)
    all, allclose, any, argmax, argmin, argsort, as_tensor, bincount, bmm, broadcast_to, ceil,
    chunk, clamp, clamp_, clip, cos, cosh, cumsum, dot, einsum, empty, empty_like, eq, equal, eye,
    flip, floor, floor_divide, full_like, gather, ge, gt, is_floating_point, is_tensor, isclose,
    isfinite, isinf, isnan, le, linspace, logical_and, logical_not, logical_or, lt, masked_fill,
    meshgrid, mm, ne, nonzero, norm, normal, numel, outer, prod, rand_like, randint_like,
    randn_like, randperm, remainder, roll, round, sign, sin, sinh, sort, split, square, std,
    std_mean, take_along_dim, topk, tril, triu, trunc, unbind, unique, var, var_mean, where)

from minicnn import data, models, nn, optim, utils  # noqa: E402  (after the core they use)
from minicnn import evaluate, train  # noqa: E402  (the trainer uses nn and utils)
from minicnn import cuda  # noqa: E402  (mc.cuda.is_available(), as torch.cuda)
from minicnn import accelerator  # noqa: E402  (torch.accelerator)
from minicnn import backends  # noqa: E402  (torch.backends.cudnn)
from minicnn.utils.summary import summary  # noqa: E402
from minicnn.serialization import load, save  # noqa: E402
from minicnn._version import __version__  # noqa: E402,F401

float32 = np.float32
float64 = np.float64
int64 = np.int64


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new leaf Tensor holding a copy of ``data`` (float32 unless data is float64), on
    ``device`` ("cpu", "cuda", "cuda:1" or an ``mc.device``; by default where data is)."""
    if isinstance(data, Tensor):
        data = data.array
    if hasattr(data, "copy"):
        data = data.copy()
    if device is None:
        return Tensor(data, requires_grad=requires_grad, dtype=dtype)
    moved = Tensor(data, dtype=dtype).to(device).detach()
    return moved.requires_grad_(requires_grad)


def from_numpy(array):
    """A Tensor that shares ``array`` (no copy)."""
    return Tensor(array, dtype=array.dtype)


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def zeros(*size, dtype=np.float32, requires_grad=False):
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=np.float32, requires_grad=False):
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """``size`` filled with ``fill_value``; the dtype follows the value as in PyTorch (a bool
    gives bool, an int int64, a float float32)."""
    dtype = Tensor(fill_value).dtype if dtype is None else dtype
    return Tensor(np.full(size, fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    xp = backend.get_array_module(t.array)
    return Tensor(xp.zeros(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    xp = backend.get_array_module(t.array)
    return Tensor(xp.ones(t.shape, dtype=dtype or t.dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None):
    """[start, end) by step, or [0, start); int64 for integer arguments, float32 otherwise."""
    start, end = (0, start) if end is None else (start, end)
    values = np.arange(start, end, step)
    if dtype is None and values.dtype.kind == "f":
        dtype = np.float32
    return Tensor(values, dtype=dtype)


def randn(*size, dtype=np.float32, requires_grad=False):
    values = default_generator().standard_normal(_shape(size)).astype(dtype)
    return Tensor(values, requires_grad=requires_grad)


def rand(*size, dtype=np.float32, requires_grad=False):
    values = default_generator().random(_shape(size)).astype(dtype)
    return Tensor(values, requires_grad=requires_grad)


def randint(low, high, size=None, dtype=np.int64):
    """Integers in [low, high) of shape ``size``; ``randint(high, size)`` starts at 0 (PyTorch)."""
    if size is None:
        low, high, size = 0, low, high
    return Tensor(default_generator().integers(low, high, size=size).astype(dtype))


def concat(tensors, dim=0):
    """torch.concat: an alias of ``cat``."""
    return cat(tensors, dim)


concatenate = concat


def relu(input):
    return nn.functional.relu(input)


def softmax(input, dim, dtype=None):
    return nn.functional.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, dtype=None):
    return nn.functional.log_softmax(input, dim, dtype=dtype)


def _taking_device(factory):
    """``factory`` with PyTorch's ``device=`` keyword (``torch.zeros(n, device=x.device)``): the
    tensor is made on the CPU, then moved there, a leaf that keeps its ``requires_grad``.
    Raises RuntimeError for an unknown device, or for cuda where no GPU can be used."""
    @functools.wraps(factory)
    def make(*args, device=None, **kwargs):
        made = factory(*args, **kwargs)
        if device is None or _device_class(device).type == "cpu":
            return made
        return made.detach().to(device).requires_grad_(made.requires_grad)
    return make


for _name in ("zeros", "ones", "full", "arange", "rand", "randn", "randint", "randperm", "empty",
              "eye", "linspace", "zeros_like", "ones_like", "full_like", "empty_like",
              "rand_like", "randn_like", "randint_like"):
    globals()[_name] = _taking_device(globals()[_name])
del _name

double = float64
long = int64
int32 = np.int32
int16 = np.int16
int8 = np.int8
uint8 = np.uint8

# PyTorch's dtype names that are also Python builtins: served by the module's __getattr__
# (PEP 562), so that mc.float is float32 while float() in this module stays the builtin
_DTYPE_ALIASES = {"float": float32, "int": int32, "bool": np.bool_}


def __getattr__(name):
    if name in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[name]
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")
