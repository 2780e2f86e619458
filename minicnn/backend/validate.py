"""The checks that protect memory, shared by every compiled kernel set (C and CUDA).

A compiled kernel trusts the pointers and sizes it gets, so its wrapper runs these first:
arrays of the kernel set's array module (``xp``: numpy or cupy) in float32 / float64, one dtype
per call, C-contiguous (copied when not), ranks and shapes that agree with each other and with
the sizes passed, sizes >= 1 and element counts that fit in int64. A failed check raises a
TypeError / ValueError that names the argument. Whether an argument makes sense for the layer
(groups dividing the channels, padding at most half the kernel, ...) is the functional op's
check, made once, before any kernel set runs; the per-kernel contracts are ``contract.py``'s.

The dtype rule (``FLOATS``, ``float_dtype``) is stated here for all of minicnn, the functional
ops' checks included; the integer checks (``check_int`` for ops and layers, ``integer`` for
kernels) follow ``geometry.is_int``.
"""

import numpy as np

from minicnn.backend.geometry import MAX_INT32, Window, is_int

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))   # the only dtypes minicnn computes in
MAX_ELEMENTS = 2 ** 62      # keeps every index product of the kernels inside int64


REDUCTIONS = ("mean", "sum", "none")


def reals(op, **values):
    """The floats of the keyword ``values`` (hyper-parameters), in order. An int too large for
    a float (10**400) is an OverflowError and a value that is no number a TypeError or
    ValueError, each naming ``op`` and the argument."""
    floats = []
    for name, value in values.items():
        try:
            floats.append(float(value))
        except OverflowError:
            raise OverflowError(f"{op}: {name} must fit in a float (at most about 1.8e308), got "
                                f"an int of {value.bit_length():,} bits") from None
        except (TypeError, ValueError) as error:
            raise type(error)(f"{op}: {name} must be a real number, got {value!r:.40}") from None
    return tuple(floats)


def choice(name, value, choices):
    """``value`` if it is one of ``choices`` (a tuple of str); ValueError naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def loss_arguments(op, reduction, ignore_index=-100):
    """A loss's ``reduction`` (one of REDUCTIONS) and its ``ignore_index`` as an int that fits
    in int64, the kernels' target type; a float or a bool is a TypeError, as in PyTorch."""
    choice("reduction", reduction, REDUCTIONS)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    if not -2 ** 63 <= ignore_index < 2 ** 63:
        raise ValueError(f"{op}: ignore_index must fit in int64, got {ignore_index}")
    return int(ignore_index)


def float_dtype(name, dtype):
    """Raise TypeError unless ``dtype`` is one of FLOATS, naming the argument ``name``."""
    if dtype not in FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}")


def check_int(value, name, op, minimum):
    """A functional op's or a layer's integer argument: ``value`` as an int in [minimum, 2**31).
    Raises TypeError for anything but an int (geometry.is_int), ValueError out of that range,
    naming ``op`` and the argument ``name``."""
    if not is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if not minimum <= value <= MAX_INT32:
        raise ValueError(f"{op}: {name} must be an int in [{minimum}, 2**31), got {value!r}")
    return int(value)


def integer(name, value, minimum=0):
    """A kernel's integer argument: ``value`` as a Python int >= minimum (geometry.is_int)."""
    if not is_int(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def int32s(names, values, minimum):
    """Integers >= minimum and < 2**31, one per name."""
    checked = tuple(integer(name, value, minimum) for name, value in zip(names, values))
    for name, value in zip(names, checked):
        if value > MAX_INT32:
            raise ValueError(f"{name} must be < 2**31, got {value}")
    return checked


def floats(name, array, xp=np, ndim=None, like=None, like_name=None):
    """``array`` as a C-contiguous float32 / float64 array of module ``xp`` (a copy when it was
    not contiguous), of rank ``ndim`` and, when ``like`` is given, of like's dtype. A scalar of
    the module counts as a 0-d array."""
    if isinstance(array, np.generic):
        array = xp.asarray(array)
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"{name} must be a {xp.__name__}.ndarray, got {type(array).__name__}")
    float_dtype(name, array.dtype)
    if like is not None and array.dtype != like.dtype:
        raise TypeError(f"{name} must have the dtype of {like_name} ({like.dtype}), "
                        f"got {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return array if array.flags.c_contiguous else xp.ascontiguousarray(array)


def int64s(name, array, shape, xp=np):
    """``array`` as a C-contiguous int64 array of module ``xp`` and the given shape."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"{name} must be a {xp.__name__}.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got {array.dtype}")
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    return xp.ascontiguousarray(array, dtype=xp.int64)


def same_shape(name, array, shape, shape_name):
    """Raise ValueError unless ``array`` has the shape ``shape`` of the array ``shape_name``."""
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of {shape_name} {tuple(shape)}, "
                         f"got {array.shape}")


def positive_sizes(name, shape):
    """Every size >= 1, and the element count inside int64."""
    if any(size < 1 for size in shape):
        raise ValueError(f"{name} must have every size >= 1, got shape {tuple(shape)}")
    count = 1
    for size in shape:
        count *= int(size)
    if count > MAX_ELEMENTS:
        raise ValueError(f"{name} of shape {tuple(shape)} has too many elements ({count})")


def window(value):
    """A Window (or a sequence of its 8 ints): kernel, stride, dilation >= 1, padding >= 0,
    each < 2**31."""
    if not isinstance(value, (tuple, list)) or len(value) != len(Window._fields):
        raise TypeError(f"window must be a Window (kh, kw, sh, sw, ph, pw, dh, dw), got {value!r}")
    kh, kw, sh, sw = int32s(Window._fields[:4], value[:4], 1)
    ph, pw = int32s(Window._fields[4:6], value[4:6], 0)
    dh, dw = int32s(Window._fields[6:], value[6:], 1)
    return Window(kh, kw, sh, sw, ph, pw, dh, dw)


def output_hw(op, H, W, window):
    """(oh, ow) of ``window`` on an H x W input, which must both be >= 1."""
    sizes = window.output_hw(H, W)
    for in_size, size, k, p, d in zip((H, W), sizes, window[:2], window[4:6], window[6:]):
        if size < 1:
            raise ValueError(f"{op}: the window (kernel {k}, dilation {d}) does not fit in the "
                             f"padded input ({in_size} + 2*{p}); output size would be {size}")
    return sizes


def pooled_hw(H, W, window, oh, ow):
    """Check that (oh, ow) windows fit on an H x W input: at least one, and no more than the
    window's ceil-mode output size, so that no window starts past the padded input."""
    for kernel_name, out_name, in_size, out_size, most, k, p in zip(
            ("kh", "kw"), ("oh", "ow"), (H, W), (oh, ow),
            window.output_hw(H, W, ceil_mode=True), window[:2], window[4:6]):
        if most < 1:
            raise ValueError(f"{kernel_name} = {k} does not fit in the padded input "
                             f"({in_size} + 2*{p})")
        if not 1 <= out_size <= most:
            raise ValueError(f"{out_name} must be between 1 and the window's ceil-mode output "
                             f"size on an input of {in_size} ({most}), got {out_size}")


def channel_vector(name, array, like, C, optional=False, xp=np):
    """None (when optional) or a float array of shape (C,) with like's dtype."""
    if array is None and optional:
        return None
    array = floats(name, array, xp, like=like, like_name="x")
    if array.shape != (C,):
        raise ValueError(f"{name} must have shape ({C},) (one value per channel of x), "
                         f"got {array.shape}")
    return array


# ----- optimizer updates: the arrays an update writes in place -------------------------------

class InPlace:
    """The arrays an optimizer update writes (param and its ``state``; a state entry of None is
    absent), each of param's dtype and shape, writeable and not overlapping another, and
    C-contiguous in ``arrays`` (copies where they were not); ``finish()`` copies the results back
    into the arrays that were copied. grad is checked and made contiguous too."""

    def __init__(self, param, grad, xp=np, **state):
        if not isinstance(param, xp.ndarray) or param.dtype not in FLOATS:
            raise TypeError(f"param must be a float32 or float64 {xp.__name__}.ndarray, got "
                            f"{getattr(param, 'dtype', type(param).__name__)}")
        self.dtype, self.size = param.dtype, param.size
        self.grad = floats("grad", grad, xp, like=param, like_name="param")
        same_shape("grad", self.grad, param.shape, "param")
        self._originals = {"param": param}
        self._originals.update((name, array) for name, array in state.items() if array is not None)
        for name, array in self._originals.items():
            if name != "param":
                floats(name, array, xp, like=param, like_name="param")
                same_shape(name, array, param.shape, "param")
            if not getattr(array.flags, "writeable", True):
                raise ValueError(f"{name} is read-only; the update writes it in place")
        named = list(self._originals.items()) + [("grad", grad)]
        for a, (name_a, array_a) in enumerate(named):
            for name_b, array_b in named[a + 1:]:
                if xp.may_share_memory(array_a, array_b) and (
                        xp is not np or np.shares_memory(array_a, array_b)):
                    raise ValueError(f"{name_a} and {name_b} overlap in memory; the update "
                                     "needs separate arrays")
        self.arrays = {name: xp.ascontiguousarray(array) for name, array in self._originals.items()}

    def finish(self):
        for name, original in self._originals.items():
            if self.arrays[name] is not original:
                original[...] = self.arrays[name]
