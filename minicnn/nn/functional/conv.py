"""2-d convolution and transposed convolution, as im2col + matrix products.

Every receptive field of the input becomes a column (``im2col``), so the convolution is a matrix
product with the weight, per group:

    y = W @ cols          W (F/G, C/G*kh*kw) per group, cols (C/G*kh*kw, N*oh*ow)

and backpropagation is three more of the same pieces:

    dW = dY @ cols^T      summed over the batch
    dX = col2im(W^T @ dY) col2im puts each column entry back on the pixel it came from
    db = sum of dY        over N, oh, ow

``dX`` is itself a convolution's transpose: ``conv_transpose2d`` is exactly that computation run
forward, and its own gradients are the convolution and the weight gradient above. So the three
kernels of the conv family (``conv2d_forward``, ``conv2d_backward_input``,
``conv2d_backward_weight`` of the kernel set, see ``backend/reference.py``) serve both ops.
"""

import numpy as np

from minicnn.autograd import Function, Tensor
from minicnn.backend import get_array_module, kernels_for
from minicnn.backend.geometry import PADDING_MODES, Window, pair, same_padding, transpose_output_size

__all__ = ["conv2d", "conv_transpose2d"]


def _pad_end(x, extra_h, extra_w):
    """x with extra_h zero rows at the bottom and extra_w zero columns at the right."""
    if extra_h == 0 and extra_w == 0:
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))


class Conv2d(Function):
    def forward(self, x, weight, bias, window, groups, extra_hw):
        self.kernels = kernels_for(x)
        self.window, self.groups, self.input_hw = window, groups, x.shape[2:]
        # padding="same" with an even dilated kernel: PyTorch pads the extra row/column at the end
        x = _pad_end(x, *extra_hw)
        self.save_for_backward(x, weight)
        y = self.kernels.conv2d_forward(x, weight, groups, window)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    def backward(self, grad_y):
        # x (N, C, H, W), W (F, C/G, kh, kw), dY (N, F, oh, ow), cols = im2col(x) (C*kh*kw, N*oh*ow)
        # per group: dX = col2im(W^T @ dY) (N, C, H, W) ; dW = dY @ cols^T (F, C/G*kh*kw) ;
        # db = sum of dY over n, y, x (F,)
        x, weight = self.saved
        grad_x = grad_weight = grad_bias = None
        if self.needs_grad[0]:
            H, W = self.input_hw
            grad_x = self.kernels.conv2d_backward_input(grad_y, weight, self.groups, self.window,
                                                        x.shape[2:])[:, :, :H, :W]
        if self.needs_grad[1]:
            grad_weight = self.kernels.conv2d_backward_weight(x, grad_y, self.groups, self.window)
        if self.needs_grad[2]:
            grad_bias = grad_y.sum(axis=(0, 2, 3))
        return grad_x, grad_weight, grad_bias


class ConvTranspose2d(Function):
    def forward(self, x, weight, bias, window, groups, output_hw):
        self.kernels = kernels_for(x)
        self.window, self.groups, self.input_hw = window, groups, x.shape[2:]
        # output_padding >= stride (allowed when dilation > stride) leaves output rows that the
        # matching convolution would turn into extra input rows: they are zero here
        conv_hw = window.output_hw(*output_hw)
        x = _pad_end(x, conv_hw[0] - x.shape[2], conv_hw[1] - x.shape[3])
        self.save_for_backward(x, weight)
        y = self.kernels.conv2d_backward_input(x, weight, groups, window, output_hw)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    def backward(self, grad_y):
        # the adjoint of conv2d's input gradient, with W (C_in, C_out/G, kh, kw) as a conv weight:
        # x (N, C_in, H, W), dY (N, C_out, Ho, Wo), cols = im2col(dY) (C_out*kh*kw, N*H*W):
        # per group: dX = W @ cols (N, C_in, H, W) ; dW = X @ cols^T (C_in, C_out/G*kh*kw) ;
        # db = sum of dY over n, y, x (C_out,)
        x, weight = self.saved
        grad_x = grad_weight = grad_bias = None
        if self.needs_grad[0]:
            H, W = self.input_hw
            grad_x = self.kernels.conv2d_forward(grad_y, weight, self.groups,
                                                 self.window)[:, :, :H, :W]
        if self.needs_grad[1]:
            grad_weight = self.kernels.conv2d_backward_weight(grad_y, x, self.groups, self.window)
        if self.needs_grad[2]:
            grad_bias = grad_y.sum(axis=(0, 2, 3))
        return grad_x, grad_weight, grad_bias


# ----- argument checking --------------------------------------------------------------------

def _check_tensors(op, input, weight, bias):
    for name, value in (("input", input), ("weight", weight)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected 3-d (unbatched) or 4-d (batched) input, "
                         f"got input of shape {input.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-d, got weight of shape {weight.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input must be float32 or float64, got {input.dtype}")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and value.dtype != input.dtype:
            raise TypeError(f"{op}: {name} dtype {value.dtype} does not match input dtype "
                            f"{input.dtype}")


def _check_window(op, stride, dilation, padding):
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be positive, got stride={stride}")
    if min(dilation) < 1:
        raise ValueError(f"{op}: dilation must be positive, got dilation={dilation}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got padding={padding}")


def _check_groups(op, groups):
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _batched(input):
    """(input as 4-d, whether it was unbatched): a (C, H, W) input runs as a batch of one."""
    return (input.unsqueeze(0), True) if input.ndim == 3 else (input, False)


def _padding_for(op, padding, kernel, stride, dilation):
    """(symmetric padding, extra rows/columns at the end) for an int, pair, "same" or "valid"."""
    if not isinstance(padding, str):
        return pair(padding, "padding", op), (0, 0)
    if padding not in PADDING_MODES:
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    if padding == "valid":
        return (0, 0), (0, 0)
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride})")
    return same_padding(kernel, dilation)


# ----- public functions ---------------------------------------------------------------------

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation, as in every deep-learning framework).

    input (N, C, H, W) or unbatched (C, H, W); weight (F, C/groups, kh, kw); bias (F,) or None.
    padding: int, pair, "valid" (none) or "same" (output size = input size; stride 1 only; for
    an even dilated kernel the extra row / column of zeros goes at the bottom / right, as in
    PyTorch). groups splits the channels into groups convolved separately (groups = C with
    F = k*C is a depthwise convolution). Returns (N, F, oh, ow) with
    oh = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1.
    """
    op = "conv2d"
    _check_tensors(op, input, weight, bias)
    stride = pair(stride, "stride", op)
    dilation = pair(dilation, "dilation", op)
    groups = _check_groups(op, groups)
    F, C_per_group, kh, kw = weight.shape
    padding, extra = _padding_for(op, padding, (kh, kw), stride, dilation)
    _check_window(op, stride, dilation, padding)
    C, H, W = input.shape[-3:]
    if F % groups != 0:
        raise ValueError(f"{op}: out_channels (weight.shape[0] = {F}) must be divisible by "
                         f"groups={groups}")
    if C != C_per_group * groups:
        raise ValueError(f"{op}: groups={groups} and weight of shape {weight.shape} expect input "
                         f"with {C_per_group * groups} channels, got input of shape {input.shape}")
    if bias is not None and bias.shape != (F,):
        raise ValueError(f"{op}: bias must have shape ({F},), got {bias.shape}")
    window = Window(kh, kw, *stride, *padding, *dilation)
    oh, ow = window.output_hw(H + extra[0], W + extra[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: Calculated output size per channel ({oh} x {ow}) is too small: "
                         f"input ({H} x {W}) padded by {padding}, kernel ({kh} x {kw}) with "
                         f"dilation {dilation} and stride {stride}")
    input, unbatched = _batched(input)
    out = Conv2d.apply(input, weight, bias, window=window, groups=groups, extra_hw=extra)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-d transposed convolution: the input gradient of conv2d, run as a forward pass.

    input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_in, C_out/groups, kh, kw), as in
    PyTorch; bias (C_out,) or None. Returns (N, C_out, Ho, Wo) with
    Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1. output_padding
    (smaller than stride or dilation) picks among the input sizes a strided conv2d maps to H.
    """
    op = "conv_transpose2d"
    _check_tensors(op, input, weight, bias)
    stride = pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    output_padding = pair(output_padding, "output_padding", op)
    dilation = pair(dilation, "dilation", op)
    groups = _check_groups(op, groups)
    _check_window(op, stride, dilation, padding)
    C_in, C_out_per_group, kh, kw = weight.shape
    C, H, W = input.shape[-3:]
    if C_in % groups != 0:
        raise ValueError(f"{op}: in_channels (weight.shape[0] = {C_in}) must be divisible by "
                         f"groups={groups}")
    if C != C_in:
        raise ValueError(f"{op}: weight of shape {weight.shape} expects input with {C_in} "
                         f"channels, got input of shape {input.shape}")
    C_out = C_out_per_group * groups
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), got {bias.shape}")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ < 0 or op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding must be non-negative and smaller than either "
                             f"stride or dilation, got output_padding={output_padding}, "
                             f"stride={stride}, dilation={dilation}")
    out_hw = tuple(transpose_output_size(size, k, s, p, o, d) for size, k, s, p, o, d in
                   zip((H, W), (kh, kw), stride, padding, output_padding, dilation))
    if min(out_hw) < 1:
        raise ValueError(f"{op}: Calculated output size per channel ({out_hw[0]} x {out_hw[1]}) "
                         f"is too small for input ({H} x {W}), kernel ({kh} x {kw}), "
                         f"stride {stride}, padding {padding}, dilation {dilation}")
    window = Window(kh, kw, *stride, *padding, *dilation)
    input, unbatched = _batched(input)
    out = ConvTranspose2d.apply(input, weight, bias, window=window, groups=groups,
                                output_hw=out_hw)
    return out.squeeze(0) if unbatched else out
