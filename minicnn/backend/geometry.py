"""Convolution and pooling geometry, in one place: the window of a layer and its output size.

A window of kh x kw taps, dilated by dh, dw, slides with stride sh, sw over an input with ph, pw
zeros on each side; output position (a, b) covers input rows a*sh - ph + i*dh (i < kh) and
columns b*sw - pw + j*dw (j < kw). Conv, transposed conv and pooling all use these formulas,
in Python here and in C / CUDA, whose kernels check them again (they never trust a caller).
"""

from typing import NamedTuple

import numpy as np

PADDING_MODES = ("same", "valid")
MAX_INT32 = 2 ** 31 - 1     # the kernels index windows, planes and sizes with 32-bit ints


def is_int(value):
    """minicnn's rule for an integer argument, as PyTorch's: an int or a NumPy integer, never a
    bool (nor a float, however whole). Every integer check calls it."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def pair(value, name, op, minimum=None):
    """(h, w) from an int or a sequence of one or two ints (PyTorch's forms), each >= minimum.

    Raises TypeError for a non-integer, ValueError for a wrong length, a value below minimum or
    one of 2**31 or more, naming ``op`` and the argument ``name``."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not all(is_int(v) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if len(items) not in (1, 2):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    hw = (int(items[0]), int(items[-1]))
    if minimum is not None and min(hw) < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    if max(hw) > MAX_INT32:
        raise ValueError(f"{op}: {name} must be less than 2**31, got {value!r}")
    return hw


def output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Output length of a window sliding over ``size`` positions (conv and pooling alike):

        floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1

    ``ceil_mode`` rounds up instead but, as PyTorch does, drops a last window that would start
    inside the right padding. The result may be < 1; callers reject that."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    """Output length of a transposed convolution (the input length of the matching conv):
    (size - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def padding_for(padding, kernel, stride, dilation, op):
    """(zeros before, extra zeros after) per dimension for ``padding``: an int or pair (none
    after), "valid" (no padding) or "same" (stride 1 only; the output keeps the input's size: the
    total dilation (kernel - 1) is split, an odd one's extra row / column at the end as PyTorch).
    Raises ValueError for another string or "same" with a stride."""
    if not isinstance(padding, str):
        return pair(padding, "padding", op, 0), (0, 0)
    if padding not in PADDING_MODES:
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    if padding == "valid":
        return (0, 0), (0, 0)
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride})")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple(t // 2 for t in totals), tuple(t % 2 for t in totals)


class Window(NamedTuple):
    """A convolution / pooling window: kernel kh x kw, stride sh, sw, zero padding ph, pw on
    each side, dilation dh, dw (the scalar arguments of im2col / col2im, in their order)."""
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int = 1
    dw: int = 1

    def output_hw(self, H, W, ceil_mode=False):
        """(oh, ow) on an H x W input."""
        return (output_size(H, self.kh, self.sh, self.ph, self.dh, ceil_mode),
                output_size(W, self.kw, self.sw, self.pw, self.dw, ceil_mode))

    @property
    def is_pointwise(self):
        """1x1, stride 1, no padding: im2col would return the input itself, rearranged."""
        return self == (1, 1, 1, 1, 0, 0, 1, 1)
