"""Convolution layers: Conv2d, ConvTranspose2d and Conv1d."""

import math

import numpy as np

from minicnn.backend.geometry import transpose_output_size
from minicnn.backend.validate import check_int
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.functional.conv import conv_geometry
from minicnn.nn.modules.budget import empty_parameter
from minicnn.nn.modules.module import Module, Parameter


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: arguments, parameters, initialisation, repr.
    The layer checks its arguments when it is built, with the functional op's own check of the
    geometry (conv_geometry); the op checks the input when the layer runs."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, dtype):
        super().__init__()
        op = type(self).__name__
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            check_int(value, name, op, 1)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups != 0:
                raise ValueError(f"{op}: {name} ({value}) must be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{op}: padding_mode must be one of {PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {op}')
        window, extra = conv_geometry(op, kernel_size, stride, padding, dilation,
                                      output_padding if transposed else None)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = (window.kh, window.kw), (window.sh, window.sw)
        self.padding = padding if isinstance(padding, str) else (window.ph, window.pw)
        self.dilation = (window.dh, window.dw)
        self.transposed = transposed
        self.output_padding = extra if transposed else (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (self.in_channels, self.out_channels // groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // groups, *self.kernel_size)
        self.weight = Parameter(empty_parameter(shape, dtype))
        if bias:
            self.bias = Parameter(empty_parameter((self.out_channels,), dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: weight by kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in));
        bias U(+-1/sqrt(fan_in)), fan_in = weight.shape[1] * kh * kw."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = math.prod(self.weight.shape[1:])
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        dims = len(self.kernel_size)
        if self.padding != (0,) * dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text

    def _explicit_padding(self):
        """F.pad's argument for the layer's padding, last dim first: (left, right, top, bottom);
        "same" puts the odd extra row / column at the end, as PyTorch."""
        pads = []
        for d in reversed(range(len(self.kernel_size))):
            if self.padding == "same":
                total = self.dilation[d] * (self.kernel_size[d] - 1)
                pads += [total // 2, total - total // 2]
            elif self.padding == "valid":
                pads += [0, 0]
            else:
                pads += [self.padding[d]] * 2
        return tuple(pads)


class Conv2d(_ConvNd):
    """2-d convolution layer: weight (out_channels, in_channels/groups, kh, kw) and bias
    (out_channels,). Input (N, C, H, W) or (C, H, W); see ``minicnn.nn.functional.conv2d``.
    ``padding_mode`` "zeros", or "reflect", "replicate", "circular" (see ``F.pad``)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=np.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, dtype)

    def forward(self, input):
        if self.padding_mode != "zeros":
            # pad by the mode first, then convolve without padding (as PyTorch)
            return F.conv2d(F.pad(input, self._explicit_padding(), self.padding_mode),
                            self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution layer: weight (in_channels, out_channels/groups, kh, kw).
    ``forward(input, output_size=None)``: output_size (the last two entries are used) picks the
    output_padding that gives that size, as in PyTorch; see
    ``minicnn.nn.functional.conv_transpose2d``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 dtype=np.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, dtype)

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)[-2:]
        if len(output_size) != 2:
            raise ValueError(f"output_size must have 2 entries (or 4), got {output_size!r}")
        padding = []
        for d, wanted in enumerate(output_size):
            smallest = transpose_output_size(input.shape[d - 2], self.kernel_size[d],
                                             self.stride[d], self.padding[d], 0, self.dilation[d])
            largest = smallest + max(self.stride[d], self.dilation[d]) - 1
            if not smallest <= wanted <= largest:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes "
                                 f"range from {smallest} to {largest} in dimension {d}")
            padding.append(wanted - smallest)
        return tuple(padding)

    def forward(self, input, output_size=None):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class Conv1d(_ConvNd):
    """1-d convolution layer: weight (out_channels, in_channels/groups, k) and bias
    (out_channels,); input (N, C, L) or (C, L); see ``minicnn.nn.functional.conv1d``. It is a
    Conv2d on a height of 1, and checks its arguments as one."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=np.float32):
        single = [_as_single(v, name) for name, v in (("kernel_size", kernel_size),
                                                      ("stride", stride), ("dilation", dilation))]
        padding = padding if isinstance(padding, str) else (0, _as_single(padding, "padding"))
        super().__init__(in_channels, out_channels, (1, single[0]), (1, single[1]), padding,
                         (1, single[2]), False, 0, groups, bias, padding_mode, dtype)
        self.kernel_size, self.stride, self.dilation = (single[0],), (single[1],), (single[2],)
        if not isinstance(self.padding, str):
            self.padding = (self.padding[1],)
        self.output_padding = (0,)
        self.weight.array = self.weight.array[:, :, 0, :].copy()

    def forward(self, input):
        if self.padding_mode != "zeros":
            return F.conv1d(F.pad(input, self._explicit_padding(), self.padding_mode),
                            self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


def _as_single(value, name):
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(value) != 1:
        raise ValueError(f"Conv1d: {name} must be an int or a 1-tuple, got {value}")
    return value[0]
