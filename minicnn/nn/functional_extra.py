"""More of ``torch.nn.functional``: activations (GELU, SiLU, ELU, PReLU, softplus), padding,
resizing, normalisation over features and groups, 1-d convolution, one-hot, and the binary,
L1, smooth-L1 and KL losses. Re-exported by ``minicnn.nn.functional``.

A reader of the textbook spine can skip this file: most ops here are compositions of the
spine's ops (their gradients follow), and the few Functions state their backward's math.
Formulas and defaults are PyTorch 2.13's, checked by tests/spec/test_pytorch_conformance.py.
"""

import math
import warnings

import numpy as np

from minicnn import ops, tensor_api
from minicnn.autograd import Function, Tensor
from minicnn.backend import get_array_module, index_add, validate
from minicnn.nn.functional._arguments import check_input
from minicnn.nn.functional.conv import conv2d

__all__ = ["gelu", "silu", "elu", "prelu", "softplus", "logsigmoid", "one_hot", "pad",
           "normalize", "interpolate", "upsample", "embedding", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "l1_loss", "smooth_l1_loss", "huber_loss",
           "kl_div", "layer_norm", "group_norm", "conv1d"]


# ----- activations ---------------------------------------------------------------------------

class GELU(Function):
    def forward(self, x, approximate):
        self.approximate = approximate
        self.save_for_backward(x)
        return self.kernels.gelu_forward(x, approximate)

    def backward(self, grad_y):
        # dx = dy * gelu'(x)   shapes: any, elementwise (the math: reference.gelu_backward)
        x, = self.saved
        return self.kernels.gelu_backward(grad_y, x, self.approximate), None


def gelu(input, *, approximate="none"):
    """x * Phi(x) (Hendrycks & Gimpel, 2016), Phi the standard normal CDF; ``approximate="tanh"``
    uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got "
                           f"{approximate!r}")
    check_input("gelu", input)
    return GELU.apply(input, approximate)


def silu(input, inplace=False):
    """x * sigmoid(x) (also called swish)."""
    return input * ops.sigmoid(input)


class ELU(Function):
    def forward(self, x, alpha):
        xp = get_array_module(x)
        self.alpha = alpha
        y = xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))
        self.save_for_backward(x, y)
        return y.astype(x.dtype, copy=False)

    def backward(self, grad_y):
        # y = x for x > 0, alpha (e^x - 1) otherwise:  dx = dy, or dy (y + alpha) = dy alpha e^x
        x, y = self.saved
        return grad_y * get_array_module(x).where(x > 0, 1, y + self.alpha), None


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (e^x - 1) otherwise (Clevert et al., 2016)."""
    check_input("elu", input)
    return ELU.apply(input, float(alpha))


def prelu(input, weight):
    """max(0, x) + weight * min(0, x), with one weight (shape (1,)) or one per channel (C,),
    channels being dimension 1 (dimension 0 of a 1-d input)."""
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim >= 2 else input.shape[0]
        if weight.shape != (channels,):
            raise RuntimeError(f"prelu: weight of shape {weight.shape} does not fit input of "
                               f"shape {input.shape} ({channels} channels)")
        if input.ndim >= 2:
            weight = weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    else:
        weight = weight.reshape(())
    return tensor_api.where(input > 0, input, weight * input)


class LogSigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(x)
        # log sigmoid(x) = -softplus(-x) = min(x, 0) - log(1 + e^-|x|), finite everywhere
        return (xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)

    def backward(self, grad_y):
        # d log sigmoid(x) / dx = 1 - sigmoid(x) = sigmoid(-x)
        x, = self.saved
        return grad_y * ops._sigmoid(get_array_module(x), -x)


def logsigmoid(input):
    """log(1 / (1 + e^-x)), computed as min(x, 0) - log(1 + e^-|x|): finite for any x."""
    check_input("logsigmoid", input)
    return LogSigmoid.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's cut-off)."""
    check_input("softplus", input)
    smooth = -logsigmoid(-input * beta) / beta
    return tensor_api.where(input * beta > threshold, input, smooth)


# ----- one-hot, padding, resizing ------------------------------------------------------------

def one_hot(tensor, num_classes=-1):
    """(*) int64 class indices -> (*, num_classes) int64 with a 1 at each index; num_classes -1
    takes max + 1."""
    if tensor.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor")
    xp = get_array_module(tensor.array)
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.array.max()) + 1
    if tensor.numel() and (int(tensor.array.min()) < 0 or int(tensor.array.max()) >= num_classes):
        raise RuntimeError("Class values must be non-negative and smaller than num_classes")
    return Tensor((tensor.array[..., None] == xp.arange(num_classes)).astype(np.int64))


class IndexAlongDims(Function):
    """y = x picked along each listed dim at given positions (-1: no element, y = ``fill``
    there): the one op behind padding (every mode) and nearest-neighbour resizing."""

    def forward(self, x, picks, fill):
        xp = get_array_module(x)
        self.picks, self.shape = picks, x.shape
        for dim, positions in picks:
            x = xp.take(x, xp.maximum(positions, 0), axis=dim)
            missing = positions < 0
            if missing.any():
                shape = [1] * x.ndim
                shape[dim] = -1
                x = xp.where(missing.reshape(shape), xp.asarray(fill, dtype=x.dtype), x)
        return x

    def backward(self, grad_y):
        # each output element passes its gradient to the element it was picked from (summed
        # where one element was picked several times); fill positions pass nothing.
        # Undone one dim at a time, last first: dy (..., n_out, ...) -> dx (..., n_in, ...)
        xp = get_array_module(grad_y)
        shapes = [self.shape]
        for dim, positions in self.picks[:-1]:
            shape = list(shapes[-1])
            shape[dim] = len(positions)
            shapes.append(tuple(shape))
        grad = grad_y
        for (dim, positions), shape in zip(reversed(self.picks), reversed(shapes)):
            kept = positions >= 0
            out = xp.zeros(shape, dtype=grad.dtype)
            index = (slice(None),) * dim + (positions[kept],)
            index_add(out, index, grad[(slice(None),) * dim + (xp.flatnonzero(kept),)])
            grad = out
        return grad, None, None


def _pad_positions(size, before, after, mode):
    """For one dim of ``size``: the input position of each output position (-1: the constant)."""
    positions = np.arange(-before, size + after)
    if mode == "constant":
        return np.where((positions >= 0) & (positions < size), positions, -1)
    if mode == "reflect":
        period = 2 * (size - 1)
        folded = np.abs(positions) % period if period else np.zeros_like(positions)
        return np.where(folded < size, folded, period - folded)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    return positions % size    # circular


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad) // 2 dimensions: pad = (left, right) for the last dim, then
    (top, bottom) for the one before, and so on. ``mode``: "constant" (``value``, default 0;
    a negative pad crops), "reflect" (mirror without the edge, pad < size), "replicate" (the
    edge repeated) or "circular" (wrap around, pad <= size); the non-constant modes pad the
    last 1, 2 or 3 dims of a batched or unbatched input, as in PyTorch."""
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"Padding length must be divisible by 2 and at most twice the number "
                         f"of dimensions of the input, got pad={pad} for shape {input.shape}")
    dims = len(pad) // 2
    if mode != "constant":
        if value not in (None, 0):
            raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if input.ndim not in (dims + 1, dims + 2) or dims > 3:
            raise NotImplementedError(f"Only 2D, 3D, 4D, 5D padding with non-constant padding "
                                      f"are supported for now (pad={pad}, input shape "
                                      f"{input.shape}, mode {mode})")
    xp = get_array_module(input.array)
    picks = []
    for k in range(dims):
        dim = input.ndim - 1 - k
        before, after, size = pad[2 * k], pad[2 * k + 1], input.shape[dim]
        if mode == "reflect" and (before >= size or after >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({before}, {after}) at "
                               f"dimension {dim} of input {input.shape}")
        if mode == "circular" and (before > size or after > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + before + after < 0 or (mode != "constant" and min(before, after) < 0):
            raise RuntimeError(f"pad: padding ({before}, {after}) leaves dimension {dim} of "
                               f"input {input.shape} with a negative size")
        picks.append((dim, xp.asarray(_pad_positions(size, before, after, mode))))
    return IndexAlongDims.apply(input, picks, 0.0 if value is None else float(value))


def _output_sizes(input, size, scale_factor, op):
    """The output spatial size and the scale (input / output) per spatial dim, as PyTorch
    takes them: from ``size``, or floor(in * scale_factor) with the scale 1 / scale_factor."""
    spatial = input.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: either size or scale_factor should be defined, not both")
    if size is not None:
        size = (size,) * len(spatial) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != len(spatial):
            raise ValueError(f"{op}: size {size} does not fit input of shape {input.shape}")
        return size, [n / s for n, s in zip(spatial, size)]
    factors = scale_factor if isinstance(scale_factor, (tuple, list)) \
        else (scale_factor,) * len(spatial)
    if len(factors) != len(spatial):
        raise ValueError(f"{op}: scale_factor {scale_factor} does not fit input {input.shape}")
    return tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors)), \
        [1.0 / f for f in factors]


def _linear_weights(in_size, out_size, scale, align_corners, dtype):
    """The (out_size, in_size) matrix of 1-d linear interpolation, PyTorch's source positions:
    align_corners: src = dst (in - 1) / (out - 1); otherwise src = (dst + 0.5) scale - 0.5,
    clamped at 0."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    frac = src - low
    weights = np.zeros((out_size, in_size))
    np.add.at(weights, (np.arange(out_size), low), 1 - frac)
    np.add.at(weights, (np.arange(out_size), high), frac)
    return weights.astype(dtype)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, L) or (N, C, H, W) ``input`` to ``size`` or by
    ``scale_factor``. ``mode``: "nearest" (src = floor(dst * scale)), "nearest-exact"
    (src = floor((dst + 0.5) * scale)), "linear" (3-d) or "bilinear" (4-d), with
    ``align_corners`` as in PyTorch (default False); ``recompute_scale_factor`` takes the scale
    from the output size. Raises ValueError for a mode that does not fit the input."""
    op = "interpolate"
    check_input(op, input, (3, 4))
    if antialias:
        raise NotImplementedError("interpolate: antialias is not supported by minicnn")
    linear = {"linear": 3, "bilinear": 4}
    if mode not in ("nearest", "nearest-exact") and linear.get(mode) != input.ndim:
        raise ValueError(f"{op}: mode {mode!r} does not fit a {input.ndim}-d input (nearest, "
                         "nearest-exact, linear for 3-d, bilinear for 4-d)")
    if align_corners is not None and mode not in linear:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    sizes, scales = _output_sizes(input, size, scale_factor, op)
    if recompute_scale_factor:      # the scale from the sizes, not from scale_factor
        scales = [n / m for n, m in zip(input.shape[2:], sizes)]
    xp = get_array_module(input.array)
    if mode in linear:
        out = input
        for k, (n, m, scale) in enumerate(zip(input.shape[2:], sizes, scales)):
            weights = Tensor(xp.asarray(_linear_weights(n, m, scale, bool(align_corners),
                                                        input.dtype)))
            # y = A x along this dim: move it last, multiply by A^T, move it back
            out = ops.transpose(ops.matmul(ops.transpose(out, 2 + k, -1), weights.T), 2 + k, -1)
        return out
    offset = 0.5 if mode == "nearest-exact" else 0.0
    picks = [(2 + k, xp.asarray(np.minimum(np.floor((np.arange(m) + offset) * scale)
                                           .astype(np.int64), n - 1)))
             for k, (n, m, scale) in enumerate(zip(input.shape[2:], sizes, scales))]
    return IndexAlongDims.apply(input, picks, 0.0)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """The deprecated name of ``interpolate`` (same arguments)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


class Embedding(Function):
    def forward(self, weight, indices, padding_idx, scale_grad_by_freq):
        self.indices, self.padding_idx, self.shape = indices, padding_idx, weight.shape
        self.scale_grad_by_freq = scale_grad_by_freq
        return weight[indices]

    def backward(self, grad_y):
        # y[...] = W[indices[...]]:  dW[k] = sum of dy at the positions holding index k (divided
        # by how often k occurs, with scale_grad_by_freq), and 0 for padding_idx;
        # dy (*, D) -> dW (V, D)
        xp = get_array_module(grad_y)
        grad = xp.zeros(self.shape, dtype=grad_y.dtype)
        index_add(grad, self.indices, grad_y)
        if self.scale_grad_by_freq:
            counts = xp.bincount(self.indices.reshape(-1), minlength=self.shape[0])
            grad /= xp.maximum(counts, 1).astype(grad.dtype)[:, None]
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return grad, None, None, None


def _renormalize_rows(weight, indices, max_norm, norm_type):
    """PyTorch's embedding_renorm_: each looked-up row of norm above max_norm is scaled, in
    place and outside the graph, by max_norm / (norm + 1e-7)."""
    xp = get_array_module(weight.array)
    rows = xp.unique(indices)
    norms = (xp.abs(weight.array[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    weight.array[rows] *= scale.astype(weight.dtype)[:, None]


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` (V, D) at the int64 indices ``input`` (*): (*, D). The row
    padding_idx gets no gradient; ``max_norm`` first rescales, in place, each looked-up row
    whose ``norm_type`` norm exceeds it; ``scale_grad_by_freq`` divides a row's gradient by how
    often it occurs in ``input``. Raises IndexError for an index outside [0, V)."""
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported by minicnn")
    input = ops.as_tensor(input)
    if input.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: Expected tensor for argument #1 'indices' to have an "
                           f"integer scalar type, but got {input.dtype}")
    V = weight.shape[0]
    if input.numel() and (int(input.array.min()) < 0 or int(input.array.max()) >= V):
        raise IndexError(f"embedding: index out of range in self (num_embeddings={V})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += V
    if max_norm is not None:
        _renormalize_rows(weight, input.array, float(max_norm), float(norm_type))
    return Embedding.apply(weight, input.array, padding_idx, bool(scale_grad_by_freq))


# ----- normalisation -------------------------------------------------------------------------

def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    norm = tensor_api.norm(input, p, dim, keepdim=True)
    return input / tensor_api.clamp(norm, min=eps)


def _standardize(x, dims, eps):
    """(x - mean) / sqrt(var + eps) over dims, the biased variance (as layer and group norm)."""
    mean = ops.mean(x, dims, keepdim=True)
    centered = x - mean
    variance = ops.mean(centered * centered, dims, keepdim=True)
    return centered / ops.sqrt(variance + eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) dims (Ba et al., 2016), then scale and shift
    elementwise by weight and bias (of normalized_shape)."""
    check_input("layer_norm", input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    if input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        expected = ", ".join(map(str, shape))
        raise RuntimeError(f"layer_norm: expected input with shape [*, {expected}], but got "
                           f"input of size {list(input.shape)}")
    out = _standardize(input, tuple(range(input.ndim - len(shape), input.ndim)), eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each of ``num_groups`` groups of channels of (N, C, *) over its channels and
    positions (Wu & He, 2018), then scale and shift per channel by weight and bias (C,)."""
    check_input("group_norm", input)
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise RuntimeError(f"group_norm: expected input (N, C, *) with C divisible by "
                           f"num_groups={num_groups}, got shape {input.shape}")
    N, C = input.shape[:2]
    grouped = input.reshape(N, num_groups, -1)
    out = _standardize(grouped, (2,), eps).reshape(input.shape)
    channel = (1, C) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(channel)
    return out if bias is None else out + bias.reshape(channel)


# ----- 1-d convolution -----------------------------------------------------------------------

def _single(value, name):
    if isinstance(value, str):
        return value
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(value) != 1:
        raise ValueError(f"conv1d: {name} must be an int or a 1-tuple, got {value}")
    return value[0]


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution of (N, C, L) or (C, L) input with weight (F, C/groups, k): conv2d on a
    height of 1. Returns (N, F, floor((L + 2 padding - dilation (k - 1) - 1) / stride) + 1)."""
    check_input("conv1d", input, (2, 3))
    check_input("conv1d", weight, (3,), "weight")
    padding = _single(padding, "padding")
    out = conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, _single(stride, "stride")),
                 padding if isinstance(padding, str) else (0, padding),
                 (1, _single(dilation, "dilation")), groups)
    return out.squeeze(-2)


# ----- losses --------------------------------------------------------------------------------

def _reduce(loss, reduction):
    validate.loss_arguments("loss", reduction)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _same_shape_target(op, input, target):
    target = ops.as_tensor(target)
    if target.shape != input.shape:
        raise ValueError(f"{op}: Using a target size ({target.shape}) that is different to the "
                         f"input size ({input.shape}) is deprecated. Please ensure they have "
                         "the same size.")
    return ops.cast(target, input.dtype)


class BinaryCrossEntropy(Function):
    def forward(self, x, t):
        xp = get_array_module(x)
        with np.errstate(divide="ignore"):
            log_x, log_1mx = xp.maximum(xp.log(x), -100), xp.maximum(xp.log1p(-x), -100)
        self.save_for_backward(x, t, log_x, log_1mx)
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, grad_loss):
        # loss = -(t log x + (1 - t) log(1 - x)), each log clamped at -100 (PyTorch):
        # dx = dloss (x - t) / max(x (1 - x), 1e-12) ; dt = dloss (log(1 - x) - log x)
        x, t, log_x, log_1mx = self.saved
        xp = get_array_module(x)
        grad_x = grad_loss * (x - t) / xp.maximum(x * (1 - x), 1e-12)
        return grad_x, grad_loss * (log_1mx - log_x)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (t log x + (1 - t) log(1 - x)) on probabilities ``input`` in [0, 1], each log clamped
    at -100 as in PyTorch; weight broadcasts to the input. Raises RuntimeError for an input
    outside [0, 1]."""
    check_input("binary_cross_entropy", input)
    target = _same_shape_target("binary_cross_entropy", input, target)
    if input.numel() and not bool(((input.array >= 0) & (input.array <= 1)).all()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """-w (p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) from logits, stable for any x
    (log sigmoid is computed as -softplus(-x)); ``pos_weight`` p (one per class, broadcast
    along the last dim) weighs the positive term, ``weight`` the whole loss."""
    if size_average is not None or reduce is not None:
        raise ValueError("size_average and reduce are deprecated: use reduction")
    check_input("binary_cross_entropy_with_logits", input)
    target = _same_shape_target("binary_cross_entropy_with_logits", input, target)
    positive = target * logsigmoid(input)
    if pos_weight is not None:
        positive = positive * pos_weight
    loss = -(positive + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """|input - target|, reduced."""
    target = _same_shape_target("l1_loss", input, target)
    return _reduce(ops.abs(input - target), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target); beta 0
    is the L1 loss (Girshick, Fast R-CNN, 2015)."""
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    target = _same_shape_target("smooth_l1_loss", input, target)
    d = input - target
    size = ops.abs(d)
    if beta == 0:
        return _reduce(size, reduction)
    return _reduce(tensor_api.where(size < beta, 0.5 * d * d / beta, size - 0.5 * beta),
                   reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere (d = input - target)."""
    target = _same_shape_target("huber_loss", input, target)
    d = input - target
    size = ops.abs(d)
    return _reduce(tensor_api.where(size < delta, 0.5 * d * d, delta * (size - 0.5 * delta)),
                   reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence t (log t - x) with ``input`` x log-probabilities and ``target``
    t probabilities (log-probabilities with ``log_target``: e^t (t - x)); 0 where t = 0.
    reduction "batchmean" divides the sum by the batch size (the mathematical KL); "mean", the
    default, by the number of elements, as PyTorch."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    target = ops.as_tensor(target)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        positive = target > 0
        safe = tensor_api.where(positive, target, 1.0)   # log(1) = 0 keeps t = 0 terms at 0
        loss = target * (ops.log(safe) - input)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning, stacklevel=2)
    return _reduce(loss, reduction)
