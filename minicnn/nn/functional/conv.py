"""2-d convolution and transposed convolution, as im2col + matrix products.

Every receptive field of the input becomes a column (``im2col``), so the convolution is a matrix
product with the weight, per group:

    y = W @ cols          W (F/G, C/G*kh*kw) per group, cols (C/G*kh*kw, n*oh*ow) for n images

and backpropagation is three more of the same pieces:

    dW = dY @ cols^T      summed over the batch
    dX = col2im(W^T @ dY) col2im puts each column entry back on the pixel it came from
    db = sum of dY        over N, oh, ow

``dX`` is itself a convolution's transpose: ``conv_transpose2d`` is exactly that computation run
forward, and its own gradients are the convolution and the weight gradient above. So three
pieces, ``_convolve``, ``_convolve_transpose`` and ``_weight_grad``, serve both ops.

The batch goes through in tiles of T images whose column matrix, (C*kh*kw, T*oh*ow), has about
TILE_ELEMENTS = 2^20 entries (at least one image), so that each product is one BLAS call per
group and tile: large enough for BLAS to run near its peak and to synchronise its threads
rarely (one small product per image was 2-10% slower on 2 quiet cores, 25% under load), small
enough that a tile's columns are still in cache when the product reads them, and a fixed
scratch memory. The tiles start at image 0 and their size depends only on the layer's shape,
so every BLAS call gets the same operands however a computation is split: a batch gives the
results of its tiles run one by one, bit for bit (a BLAS product's rounding of a column depends
on the matrix's other sizes, so an image's results can differ in the last bits between batches
that tile it differently). The products come out channels first, (F, n*oh*ow), and are
rearranged to (n, F, oh, ow) (a copy, about 1% of the time).

Memory: a step's scratch is one tile's columns (4 MiB in float32), or one image's when those
are more. A workspace limit below that (``set_workspace_limit``) makes the tiles smaller, down
to one image; the results then change only by rounding.

A 1x1, stride-1, unpadded convolution needs no im2col: its columns are the input itself,
channels first.
"""

from typing import NamedTuple

import numpy as np

from minicnn.autograd import Function, Tensor
from minicnn.backend import get_array_module, kernels_for

__all__ = ["conv2d", "conv_transpose2d", "conv_output_size", "conv_transpose_output_size",
           "set_workspace_limit", "get_workspace_limit"]

DEFAULT_WORKSPACE_LIMIT = 256 * 2 ** 20
_workspace_limit = DEFAULT_WORKSPACE_LIMIT


def set_workspace_limit(nbytes):
    """Largest scratch memory, in bytes, that one convolution step may use for its column matrix
    (default 256 MiB; ``None``: no limit). Returns the previous limit.

    A step's columns are one tile of images (see the module docstring), TILE_ELEMENTS values
    at most unless one image has more. A limit below that makes the tiles smaller, down to one
    image (so one image's columns are the floor), which changes the results by rounding only;
    a limit above it changes nothing."""
    global _workspace_limit
    valid = nbytes is None or (isinstance(nbytes, int) and not isinstance(nbytes, bool)
                               and nbytes >= 1)
    if not valid:
        raise ValueError(f"set_workspace_limit: nbytes must be a positive int or None, "
                         f"got {nbytes!r}")
    previous, _workspace_limit = _workspace_limit, nbytes
    return previous


def get_workspace_limit():
    """The scratch-memory budget of a convolution step in bytes (None: unlimited)."""
    return _workspace_limit


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Output length of a convolution or pooling window sliding over ``size`` positions:

        floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1

    ``ceil_mode`` rounds up instead, as PyTorch does, but drops the last window if it would
    start inside the right padding. The result may be < 1; callers reject that.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    """Output length of a transposed convolution:
    (size - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


class _Geometry(NamedTuple):
    """A convolution's window: the scalar arguments of im2col / col2im, in their order."""
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int

    def output_hw(self, H, W):
        return (conv_output_size(H, self.kh, self.sh, self.ph, self.dh),
                conv_output_size(W, self.kw, self.sw, self.pw, self.dw))

    @property
    def is_pointwise(self):
        """1x1, stride 1, no padding: im2col would return the input itself, rearranged."""
        return self == (1, 1, 1, 1, 0, 0, 1, 1)


# ----- the three pieces ---------------------------------------------------------------------

TILE_ELEMENTS = 2 ** 20   # column-matrix entries per tile: of 2^18 ... 2^22 and of 4096 or 8192
                          # columns a tile, the fastest for ResNet-20's convs on 2 cores


def _tiles(N, rows, L, itemsize):
    """Ranges [start, stop) of the images of a batch, T at a time from image 0, with
    T = TILE_ELEMENTS // (rows * L): the images whose column matrix, (rows, T*L), has about
    TILE_ELEMENTS entries, or fewer under a lower workspace limit (at least one image)."""
    elements = TILE_ELEMENTS
    if _workspace_limit is not None:
        elements = min(elements, _workspace_limit // itemsize)
    per_tile = max(1, elements // (rows * L))
    for start in range(0, N, per_tile):
        yield start, min(N, start + per_tile)


def _channels_first(a):
    """(n, C, h, w) -> (C, n*h*w), the channels as rows, the images side by side (a copy when
    n > 1)."""
    return a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def _columns(kernels, x, geometry):
    """im2col(x) (C*kh*kw, n*oh*ow). A pointwise conv's columns are the input itself, channels
    first, so it skips im2col."""
    if geometry.is_pointwise:
        return _channels_first(x)
    return kernels.im2col(x, *geometry)


def _convolve(kernels, x, weight, groups, geometry):
    """y (N, F, oh, ow) = W @ im2col(x), per tile and group.  x (N, C, H, W), W (F, C/G, kh, kw):
    per group (F/G, C/G*kh*kw) @ (C/G*kh*kw, n*oh*ow) -> (F, n, oh, ow), rearranged to y."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    F = weight.shape[0]
    oh, ow = geometry.output_hw(H, W)
    w = weight.reshape(groups, F // groups, -1)                  # (G, F/G, C/G*kh*kw)
    y = xp.empty((N, F, oh, ow), dtype=x.dtype)
    for start, stop in _tiles(N, C * geometry.kh * geometry.kw, oh * ow, x.itemsize):
        n = stop - start
        cols = _columns(kernels, x[start:stop], geometry).reshape(groups, -1, n * oh * ow)
        y[start:stop] = xp.matmul(w, cols).reshape(F, n, oh, ow).transpose(1, 0, 2, 3)
    return y


def _convolve_transpose(kernels, grad_y, weight, groups, geometry, input_hw):
    """dX (N, C, H, W) = col2im(W^T @ dY), per tile and group.  dY (N, F, oh, ow),
    W (F, C/G, kh, kw): per group (C/G*kh*kw, F/G) @ (F/G, n*oh*ow). This is the input
    gradient of _convolve, and the forward pass of a transposed convolution."""
    xp = get_array_module(grad_y)
    N, F, oh, ow = grad_y.shape
    H, W = input_hw
    C = weight.shape[1] * groups
    w_t = weight.reshape(groups, F // groups, -1).transpose(0, 2, 1)   # (G, C/G*kh*kw, F/G)
    dx = xp.empty((N, C, H, W), dtype=grad_y.dtype)
    for start, stop in _tiles(N, C * geometry.kh * geometry.kw, oh * ow, grad_y.itemsize):
        n = stop - start
        dy = _channels_first(grad_y[start:stop]).reshape(groups, F // groups, -1)
        dcols = xp.matmul(w_t, dy).reshape(-1, n * oh * ow)          # (C*kh*kw, n*oh*ow)
        if geometry.is_pointwise:   # the columns are the image itself, channels first
            dx[start:stop] = dcols.reshape(C, n, H, W).transpose(1, 0, 2, 3)
        else:
            dx[start:stop] = kernels.col2im(dcols, n, C, H, W, *geometry)
    return dx


def _weight_grad(kernels, x, grad_y, groups, geometry):
    """dW (F, C/G, kh, kw) = dY @ im2col(x)^T, summed over the tiles.
    x (N, C, H, W), dY (N, F, oh, ow): per group (F/G, n*oh*ow) @ (n*oh*ow, C/G*kh*kw)."""
    xp = get_array_module(x)
    N, C = x.shape[:2]
    F, oh, ow = grad_y.shape[1:]
    dw = xp.zeros((groups, F // groups, C // groups * geometry.kh * geometry.kw), dtype=x.dtype)
    for start, stop in _tiles(N, C * geometry.kh * geometry.kw, oh * ow, x.itemsize):
        cols = _columns(kernels, x[start:stop], geometry).reshape(groups, dw.shape[2], -1)
        dy = _channels_first(grad_y[start:stop]).reshape(groups, F // groups, -1)
        dw += xp.matmul(dy, cols.transpose(0, 2, 1))
    return dw.reshape(F, C // groups, geometry.kh, geometry.kw)


def _pad_end(x, extra_h, extra_w):
    """x with extra_h zero rows at the bottom and extra_w zero columns at the right."""
    if extra_h == 0 and extra_w == 0:
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))


# ----- the differentiable ops ---------------------------------------------------------------

class Conv2d(Function):
    def forward(self, x, weight, bias, geometry, groups, extra_hw):
        self.kernels = kernels_for(x)       # the one kernel choice for this op
        self.geometry, self.groups, self.input_hw = geometry, groups, x.shape[2:]
        # padding="same" with an even dilated kernel: PyTorch pads the extra row/column at the end
        x = _pad_end(x, *extra_hw)
        self.save_for_backward(x, weight)
        y = _convolve(self.kernels, x, weight, groups, geometry)
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
            grad_x = _convolve_transpose(self.kernels, grad_y, weight, self.groups, self.geometry,
                                         x.shape[2:])[:, :, :H, :W]
        if self.needs_grad[1]:
            grad_weight = _weight_grad(self.kernels, x, grad_y, self.groups, self.geometry)
        if self.needs_grad[2]:
            grad_bias = grad_y.sum(axis=(0, 2, 3))
        return grad_x, grad_weight, grad_bias


class ConvTranspose2d(Function):
    def forward(self, x, weight, bias, geometry, groups, output_hw):
        self.kernels = kernels_for(x)       # the one kernel choice for this op
        self.geometry, self.groups, self.input_hw = geometry, groups, x.shape[2:]
        # output_padding >= stride (allowed when dilation > stride) leaves output rows that the
        # matching convolution would turn into extra input rows: they are zero here
        conv_hw = geometry.output_hw(*output_hw)
        x = _pad_end(x, conv_hw[0] - x.shape[2], conv_hw[1] - x.shape[3])
        self.save_for_backward(x, weight)
        y = _convolve_transpose(self.kernels, x, weight, groups, geometry, output_hw)
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
            grad_x = _convolve(self.kernels, grad_y, weight, self.groups, self.geometry)
            grad_x = grad_x[:, :, :H, :W]
        if self.needs_grad[1]:
            grad_weight = _weight_grad(self.kernels, grad_y, x, self.groups, self.geometry)
        if self.needs_grad[2]:
            grad_bias = grad_y.sum(axis=(0, 2, 3))
        return grad_x, grad_weight, grad_bias


# ----- argument checking --------------------------------------------------------------------

def _pair(value, name, op):
    """An int or a pair of ints as (height, width)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        pair = tuple(value)
    else:
        pair = (value, value)
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


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
        return _pair(padding, "padding", op), (0, 0)
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride})")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple(t // 2 for t in totals), tuple(t % 2 for t in totals)


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
    stride = _pair(stride, "stride", op)
    dilation = _pair(dilation, "dilation", op)
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
    geometry = _Geometry(kh, kw, *stride, *padding, *dilation)
    oh, ow = geometry.output_hw(H + extra[0], W + extra[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: Calculated output size per channel ({oh} x {ow}) is too small: "
                         f"input ({H} x {W}) padded by {padding}, kernel ({kh} x {kw}) with "
                         f"dilation {dilation} and stride {stride}")
    input, unbatched = _batched(input)
    out = Conv2d.apply(input, weight, bias, geometry=geometry, groups=groups, extra_hw=extra)
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
    stride = _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
    output_padding = _pair(output_padding, "output_padding", op)
    dilation = _pair(dilation, "dilation", op)
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
    out_hw = tuple(conv_transpose_output_size(size, k, s, p, o, d) for size, k, s, p, o, d in
                   zip((H, W), (kh, kw), stride, padding, output_padding, dilation))
    if min(out_hw) < 1:
        raise ValueError(f"{op}: Calculated output size per channel ({out_hw[0]} x {out_hw[1]}) "
                         f"is too small for input ({H} x {W}), kernel ({kh} x {kw}), "
                         f"stride {stride}, padding {padding}, dilation {dilation}")
    geometry = _Geometry(kh, kw, *stride, *padding, *dilation)
    input, unbatched = _batched(input)
    out = ConvTranspose2d.apply(input, weight, bias, geometry=geometry, groups=groups,
                                output_hw=out_hw)
    return out.squeeze(0) if unbatched else out
