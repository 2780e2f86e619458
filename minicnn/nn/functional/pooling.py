"""Pooling: max, average and adaptive (output-size driven) pooling over the last two dimensions.

Inputs are (N, C, H, W), or unbatched (C, H, W) as in PyTorch. The output size is
floor((H + 2p - d(k-1) - 1) / s) + 1, or with ``ceil_mode`` the ceiling, minus one when the last
window would start inside the right padding (PyTorch's rule, backend/geometry.py).
"""

import numpy as np

from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.backend.geometry import Window, pair
from minicnn.nn.functional._arguments import check_input, run_batched

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]


class MaxPool2d(Function):
    def forward(self, x, window, output_hw):
        y, indices = self.kernels.max_pool2d_forward(x, *window, *output_hw)
        self.save_for_backward(indices)
        self.input_hw = x.shape[2:]
        return y, indices

    def backward(self, grad_y, grad_indices):
        # dx[n,c,h,w] = sum of dy[n,c,a,b] over the windows (a, b) whose max sat at (h, w)
        # shapes: dy, indices (N, C, oh, ow) -> dx (N, C, H, W)
        indices, = self.saved
        return self.kernels.max_pool2d_backward(grad_y, indices, *self.input_hw)


class AdaptiveMaxPool2d(MaxPool2d):
    def forward(self, x, output_hw):
        y, indices = self.kernels.adaptive_max_pool2d_forward(x, *output_hw)
        self.save_for_backward(indices)
        self.input_hw = x.shape[2:]
        return y, indices


class AvgPool2d(Function):
    def forward(self, x, window, output_hw, count_include_pad, divisor_override):
        self.window, self.count_include_pad = window[:6], count_include_pad
        self.input_hw = x.shape[2:]
        y = self.kernels.avg_pool2d_forward(x, *self.window, *output_hw, count_include_pad)
        self.rescale = None
        if divisor_override is not None:
            # the kernel divides by the window's own divisor; swap it for the override
            divisor = self.kernels.avg_pool2d_divisor(*self.input_hw, *self.window, *output_hw,
                                                      count_include_pad, get_array_module(x))
            self.rescale = (divisor / divisor_override).astype(x.dtype)
            y = y * self.rescale
        return y

    def backward(self, grad_y):
        # dx[n,c,h,w] = sum of dy[n,c,a,b] / divisor[a,b] over the windows (a, b) holding (h, w)
        # shapes: dy (N, C, oh, ow) -> dx (N, C, H, W)
        if self.rescale is not None:
            grad_y = grad_y * self.rescale
        return self.kernels.avg_pool2d_backward(grad_y, *self.input_hw, *self.window,
                                                self.count_include_pad)


class AdaptiveAvgPool2d(Function):
    def forward(self, x, output_hw):
        self.input_hw = x.shape[2:]
        return self.kernels.adaptive_avg_pool2d_forward(x, *output_hw)

    def backward(self, grad_y):
        # y = A_h @ x @ A_w^T with A_h (oh, H), A_w (ow, W):  dx = A_h^T @ dy @ A_w  (N, C, H, W)
        return self.kernels.adaptive_avg_pool2d_backward(grad_y, *self.input_hw)


def pool_window(op, kernel_size, stride, padding, dilation):
    """The checked Window of a pooling layer; stride None (or (), as PyTorch allows) means the
    kernel size, and padding may be at most half the kernel (PyTorch checks it against the
    dilated kernel and the plain one: the plain one decides). Raises TypeError /
    ValueError naming the argument. The layers run it when they are built, the ops when they
    run."""
    kernel = pair(kernel_size, "kernel_size", op, 1)
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        stride = kernel
    stride = pair(stride, "stride", op, 1)
    padding, dilation = pair(padding, "padding", op, 0), pair(dilation, "dilation", op, 1)
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ValueError(f"{op}: padding should be at most half of the kernel size, got "
                             f"padding={padding}, kernel_size={kernel} and dilation={dilation}")
    return Window(*kernel, *stride, *padding, *dilation)


def _window(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    """The checked Window and output size (oh, ow) on a non-empty input."""
    check_input(op, input, (3, 4))
    if 0 in input.shape[-3:]:
        raise ValueError(f"{op}: input must be non-empty, got shape {input.shape}")
    window = pool_window(op, kernel_size, stride, padding, dilation)
    H, W = input.shape[-2:]
    oh, ow = window.output_hw(H, W, ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: input of size {H}x{W} is too small for kernel_size="
                         f"{window[0:2]}, stride={window[2:4]}, padding={window[4:6]}, "
                         f"dilation={window[6:8]} (output size {oh}x{ow})")
    return window, (oh, ow)


def check_divisor_override(divisor_override, op="avg_pool2d"):
    """divisor_override as an int (or None); raises ValueError for 0, a non-integer, or one
    of 2**31 or more in size."""
    if divisor_override is None:
        return None
    if (isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer))
            or not 0 < abs(divisor_override) < 2 ** 31):
        raise ValueError(f"{op}: divisor_override must be a non-zero int in (-2**31, 2**31) or "
                         f"None, got {divisor_override!r}")
    return int(divisor_override)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each kh x kw window (dilated by ``dilation``); padding never wins.
    With ``return_indices`` also returns, for each output, the flat index h*W + w of its max in
    the input plane (int64), as PyTorch does."""
    window, output_hw = _window("max_pool2d", input, kernel_size, stride, padding, dilation,
                                ceil_mode)
    y, indices = run_batched(MaxPool2d, input, window=window, output_hw=output_hw)
    return (y, indices) if return_indices else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over each kh x kw window. The divisor is the window clipped to the padded image
    (``count_include_pad=True``, padding counts as zeros) or to the image itself, or
    ``divisor_override`` when given."""
    window, output_hw = _window("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    return run_batched(AvgPool2d, input, window=window, output_hw=output_hw,
                       count_include_pad=bool(count_include_pad),
                       divisor_override=check_divisor_override(divisor_override))


def adaptive_output_size(op, output_size):
    """(oh, ow) from an int or a pair, whose None entries keep the input's size. Raises
    ValueError for anything else. The layers run it when they are built, the ops when they
    run."""
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(items) != 2 or not all(v is None or (isinstance(v, (int, np.integer))
                                                and not isinstance(v, bool) and 1 <= v < 2**31)
                                  for v in items):
        raise ValueError(f"{op}: output_size must be an int in [1, 2**31), a pair of them or "
                         f"None, got {output_size!r}")
    return items


def _adaptive_output_hw(op, input, output_size):
    """(oh, ow) on a non-empty input."""
    check_input(op, input, (3, 4))
    items = adaptive_output_size(op, output_size)
    if 0 in input.shape[-3:]:
        raise ValueError(f"{op}: input must be non-empty, got shape {input.shape}")
    return tuple(int(size if v is None else v) for v, size in zip(items, input.shape[-2:]))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (oh, ow): output a averages the input rows
    [floor(a H / oh), ceil((a + 1) H / oh)), and likewise for the columns. output_size=1 is
    global average pooling; None keeps that dimension's size."""
    output_hw = _adaptive_output_hw("adaptive_avg_pool2d", input, output_size)
    return run_batched(AdaptiveAvgPool2d, input, output_hw=output_hw)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size, over the windows of ``adaptive_avg_pool2d``."""
    output_hw = _adaptive_output_hw("adaptive_max_pool2d", input, output_size)
    y, indices = run_batched(AdaptiveMaxPool2d, input, output_hw=output_hw)
    return (y, indices) if return_indices else y
