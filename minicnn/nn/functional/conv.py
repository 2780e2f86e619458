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

from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.backend.geometry import Window, padding_for, pair, transpose_output_size
from minicnn.backend.validate import check_int
from minicnn.nn.functional._arguments import check_input, run_batched

__all__ = ["conv2d", "conv_transpose2d"]


def _pad_end(x, extra_h, extra_w):
    """x with extra_h zero rows at the bottom and extra_w zero columns at the right."""
    if extra_h == 0 and extra_w == 0:
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))


class Conv2d(Function):
    def forward(self, x, weight, bias, window, groups, extra_hw):
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


# ----- the public functions and their argument checks --------------------------------------

def _check(op, input, weight, bias, groups, transposed):
    """Tensors of one float dtype (input 3-d or 4-d, weight 4-d, bias 1-d or None) whose channels
    agree with groups; returns groups as an int."""
    check_input(op, input, (3, 4))
    check_input(op, weight, (4,), "weight")
    if bias is not None:
        check_input(op, bias, (1,), "bias")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and value.dtype != input.dtype:
            raise TypeError(f"{op}: {name} dtype {value.dtype} does not match input dtype "
                            f"{input.dtype}")
    if 0 in weight.shape:
        raise ValueError(f"{op}: weight must have at least one channel in and out and a kernel of "
                         f"at least 1 x 1, got weight of shape {weight.shape}")
    groups = check_int(groups, "groups", op, 1)
    if weight.shape[0] % groups != 0:
        raise ValueError(f"{op}: weight.shape[0] = {weight.shape[0]} must be divisible by "
                         f"groups={groups}")
    C_in, C_out = weight.shape[0], weight.shape[1] * groups
    if not transposed:
        C_in, C_out = C_out, C_in
    if input.shape[-3] != C_in:
        raise ValueError(f"{op}: groups={groups} and weight of shape {weight.shape} expect input "
                         f"with {C_in} channels, got input of shape {input.shape}")
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), got {bias.shape}")
    return groups


def conv_geometry(op, kernel_size, stride, padding, dilation, output_padding=None):
    """The checked Window of a convolution, or of a transposed one when ``output_padding`` is
    given, and the zeros added at the end of each dimension: "same"'s odd row / column, or the
    transposed convolution's output_padding (smaller than stride or dilation). Raises TypeError
    / ValueError naming the argument. The layers run it when they are built, the ops when they
    run."""
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride, dilation = pair(stride, "stride", op, 1), pair(dilation, "dilation", op, 1)
    if output_padding is None:
        padding, extra = padding_for(padding, kernel, stride, dilation, op)
    else:
        padding = pair(padding, "padding", op, 0)
        extra = pair(output_padding, "output_padding", op, 0)
        if any(o >= max(s, d) for o, s, d in zip(extra, stride, dilation)):
            raise ValueError(f"{op}: output_padding must be smaller than either stride or "
                             f"dilation, got output_padding={extra}, stride={stride}, "
                             f"dilation={dilation}")
    return Window(*kernel, *stride, *padding, *dilation), extra


def _check_output(op, output_hw, input, window):
    if min(output_hw) < 1:
        raise ValueError(f"{op}: Calculated output size per channel {output_hw} is too small "
                         f"for input of shape {input.shape} and {window}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution (cross-correlation, as in every deep-learning framework).

    input (N, C, H, W) or unbatched (C, H, W); weight (F, C/groups, kh, kw); bias (F,) or None.
    padding: int, pair, "valid" (none) or "same" (output size = input size; stride 1 only; for
    an even dilated kernel the extra row / column of zeros goes at the bottom / right, as in
    PyTorch). groups splits the channels into groups convolved separately (groups = C with
    F = k*C is a depthwise convolution). Returns (N, F, oh, ow) with
    oh = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1.
    Raises TypeError / ValueError naming the argument that is wrong.
    """
    op = "conv2d"
    groups = _check(op, input, weight, bias, groups, transposed=False)
    window, extra = conv_geometry(op, weight.shape[2:], stride, padding, dilation)
    H, W = input.shape[-2:]
    _check_output(op, window.output_hw(H + extra[0], W + extra[1]), input, window)
    return run_batched(Conv2d, input, weight, bias, window=window, groups=groups, extra_hw=extra)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-d transposed convolution: the input gradient of conv2d, run as a forward pass.

    input (N, C_in, H, W) or unbatched (C_in, H, W); weight (C_in, C_out/groups, kh, kw), as in
    PyTorch; bias (C_out,) or None. Returns (N, C_out, Ho, Wo) with
    Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1. output_padding
    (smaller than stride or dilation) picks among the input sizes a strided conv2d maps to H.
    Raises TypeError / ValueError naming the argument that is wrong.
    """
    op = "conv_transpose2d"
    groups = _check(op, input, weight, bias, groups, transposed=True)
    window, output_padding = conv_geometry(op, weight.shape[2:], stride, padding, dilation,
                                           output_padding)
    (kh, kw, sh, sw, ph, pw, dh, dw), (oph, opw), (H, W) = window, output_padding, input.shape[-2:]
    output_hw = (transpose_output_size(H, kh, sh, ph, oph, dh),
                 transpose_output_size(W, kw, sw, pw, opw, dw))
    _check_output(op, output_hw, input, window)
    return run_batched(ConvTranspose2d, input, weight, bias, window=window, groups=groups,
                       output_hw=output_hw)
