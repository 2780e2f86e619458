"""Pooling: max, average and adaptive (output-size driven) pooling over the last two dimensions.

Inputs are (N, C, H, W), or unbatched (C, H, W) as in PyTorch. The output size is
floor((H + 2p - d(k-1) - 1) / s) + 1, or with ``ceil_mode`` the ceiling, minus one when the last
window would start inside the right padding (PyTorch's rule, DESIGN.md section 5).
"""

import numpy as np

from minicnn.autograd import Function, Tensor
from minicnn.backend import get_array_module, kernels_for
from minicnn.backend.reference import _avg_pool2d_divisor
from minicnn.backend.geometry import output_size, pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]


def _stride(stride, kernel, op):
    """The stride pair; None (or an empty sequence, as PyTorch allows) means the kernel size."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return pair(stride, "stride", op, 1)


def _check_input(input, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(f"{op}: input must be a non-empty (N, C, H, W) or (C, H, W) tensor, "
                         f"got shape {input.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input must be float32 or float64, got {input.dtype}")


def _output_hw(input, kernel, stride, padding, dilation, ceil_mode, op):
    H, W = input.shape[-2:]
    oh = output_size(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    ow = output_size(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: input of size {H}x{W} is too small for kernel_size={kernel}, "
                         f"stride={stride}, padding={padding}, dilation={dilation} "
                         f"(output size {oh}x{ow})")
    return oh, ow


def _batched(input):
    """(C, H, W) -> (1, C, H, W); a batched input is returned as it is."""
    return input.unsqueeze(0) if input.ndim == 3 else input


class MaxPool2d(Function):
    def forward(self, x, kernel, stride, padding, dilation, output_size):
        self.kernels = kernels_for(x)
        y, indices = self.kernels.max_pool2d_forward(x, *kernel, *stride, *padding, *dilation,
                                                     *output_size)
        self.save_for_backward(indices)
        self.input_hw = x.shape[2:]
        return y, indices

    def backward(self, grad_y, grad_indices):
        # dx[n,c,h,w] = sum of dy[n,c,a,b] over the windows (a, b) whose max sat at (h, w)
        # shapes: dy, indices (N, C, oh, ow) -> dx (N, C, H, W)
        indices, = self.saved
        return self.kernels.max_pool2d_backward(grad_y, indices, *self.input_hw)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each kh x kw window (dilated by ``dilation``); padding never wins.
    With ``return_indices`` also returns, for each output, the flat index h*W + w of its max in
    the input plane (int64), as PyTorch does."""
    op = "max_pool2d"
    _check_input(input, op)
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = _stride(stride, kernel, op)
    padding = pair(padding, "padding", op, 0)
    dilation = pair(dilation, "dilation", op, 1)
    for p, k, d in zip(padding, kernel, dilation):
        if p > ((k - 1) * d + 1) // 2:
            raise ValueError(f"{op}: padding should be at most half of the effective kernel "
                             f"size, got padding={padding}, kernel_size={kernel} and "
                             f"dilation={dilation}")
    output_size = _output_hw(input, kernel, stride, padding, dilation, ceil_mode, op)
    y, indices = MaxPool2d.apply(_batched(input), kernel=kernel, stride=stride, padding=padding,
                                 dilation=dilation, output_size=output_size)
    if input.ndim == 3:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y


class AvgPool2d(Function):
    def forward(self, x, kernel, stride, padding, output_size, count_include_pad,
                divisor_override):
        self.kernels = kernels_for(x)
        self.options = (*kernel, *stride, *padding)
        self.count_include_pad = count_include_pad
        self.input_hw = x.shape[2:]
        self.rescale = None
        y = self.kernels.avg_pool2d_forward(x, *self.options, *output_size, count_include_pad)
        if divisor_override is not None:
            # the kernel divides by the window's own divisor; swap it for the override
            divisor = _avg_pool2d_divisor(*self.input_hw, *self.options, *output_size,
                                         count_include_pad, get_array_module(x))
            self.rescale = (divisor / divisor_override).astype(x.dtype)
            y = y * self.rescale
        return y

    def backward(self, grad_y):
        # dx[n,c,h,w] = sum of dy[n,c,a,b] / divisor[a,b] over the windows (a, b) holding (h, w)
        # shapes: dy (N, C, oh, ow) -> dx (N, C, H, W)
        if self.rescale is not None:
            grad_y = grad_y * self.rescale
        return self.kernels.avg_pool2d_backward(grad_y, *self.input_hw, *self.options,
                                                self.count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over each kh x kw window. The divisor is the window clipped to the padded image
    (``count_include_pad=True``, padding counts as zeros) or to the image itself, or
    ``divisor_override`` when given."""
    op = "avg_pool2d"
    _check_input(input, op)
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = _stride(stride, kernel, op)
    padding = pair(padding, "padding", op, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got "
                         f"padding={padding} and kernel_size={kernel}")
    if divisor_override is not None:
        if (isinstance(divisor_override, bool)
                or not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
            raise ValueError(f"{op}: divisor_override must be a non-zero int or None, "
                             f"got {divisor_override!r}")
        divisor_override = int(divisor_override)
    output_size = _output_hw(input, kernel, stride, padding, (1, 1), ceil_mode, op)
    y = AvgPool2d.apply(_batched(input), kernel=kernel, stride=stride, padding=padding,
                        output_size=output_size, count_include_pad=bool(count_include_pad),
                        divisor_override=divisor_override)
    return y.squeeze(0) if input.ndim == 3 else y


def _adaptive_output_size(input, output_size, op):
    """(oh, ow) from an int or a pair whose None entries keep the input's size."""
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(items) != 2 or not all(v is None or (isinstance(v, (int, np.integer))
                                                and not isinstance(v, bool) and v >= 1)
                                  for v in items):
        raise ValueError(f"{op}: output_size must be a positive int or a pair of positive ints "
                         f"or None, got {output_size!r}")
    return tuple(int(size if v is None else v) for v, size in zip(items, input.shape[-2:]))


def _adaptive_windows(size, out_size):
    """PyTorch's windows: output a covers [floor(a * size / out), ceil((a + 1) * size / out))."""
    return [(a * size // out_size, -(-(a + 1) * size // out_size)) for a in range(out_size)]


def _averaging_matrix(size, out_size, dtype, xp):
    """A (out_size, size): row a holds 1 / window length over window a, zeros elsewhere."""
    matrix = np.zeros((out_size, size))
    for a, (start, end) in enumerate(_adaptive_windows(size, out_size)):
        matrix[a, start:end] = 1.0 / (end - start)
    return xp.asarray(matrix.astype(dtype))


class AdaptiveAvgPool2d(Function):
    def forward(self, x, output_size):
        xp = get_array_module(x)
        H, W = x.shape[-2:]
        self.rows = _averaging_matrix(H, output_size[0], x.dtype, xp)
        self.cols = _averaging_matrix(W, output_size[1], x.dtype, xp)
        return self.rows @ x @ self.cols.T

    def backward(self, grad_y):
        # y = A_h @ x @ A_w^T with A_h (oh, H), A_w (ow, W):  dx = A_h^T @ dy @ A_w  (N, C, H, W)
        return self.rows.T @ grad_y @ self.cols


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (oh, ow): output a averages the input rows
    [floor(a H / oh), ceil((a + 1) H / oh)), and likewise for the columns. output_size=1 is
    global average pooling; None keeps that dimension's size."""
    op = "adaptive_avg_pool2d"
    _check_input(input, op)
    return AdaptiveAvgPool2d.apply(input, output_size=_adaptive_output_size(input, output_size, op))


class AdaptiveMaxPool2d(Function):
    def forward(self, x, output_size):
        self.kernels = kernels_for(x)
        xp = get_array_module(x)
        N, C, H, W = x.shape
        y = xp.empty((N, C) + output_size, dtype=x.dtype)
        indices = xp.empty((N, C) + output_size, dtype=xp.int64)
        for a, (top, bottom) in enumerate(_adaptive_windows(H, output_size[0])):
            for b, (left, right) in enumerate(_adaptive_windows(W, output_size[1])):
                window = x[:, :, top:bottom, left:right].reshape(N, C, -1)
                best = window.argmax(axis=2)
                y[:, :, a, b] = xp.take_along_axis(window, best[:, :, None], axis=2)[:, :, 0]
                width = right - left
                indices[:, :, a, b] = (top + best // width) * W + left + best % width
        self.save_for_backward(indices)
        self.input_hw = (H, W)
        return y, indices

    def backward(self, grad_y, grad_indices):
        # dx[n,c,h,w] = sum of dy[n,c,a,b] over the windows whose max sat at (h, w)
        # shapes: dy, indices (N, C, oh, ow) -> dx (N, C, H, W)
        indices, = self.saved
        return self.kernels.max_pool2d_backward(grad_y, indices, *self.input_hw)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size, over the windows of ``adaptive_avg_pool2d``."""
    op = "adaptive_max_pool2d"
    _check_input(input, op)
    output_size = _adaptive_output_size(input, output_size, op)
    y, indices = AdaptiveMaxPool2d.apply(_batched(input), output_size=output_size)
    if input.ndim == 3:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y
