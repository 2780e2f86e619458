"""Weight initialisation, with PyTorch's names, fan computation and gains.

Every function fills its tensor in place (a write that its version counter counts, as
PyTorch's) and returns it. ``generator`` is a
``numpy.random.Generator``; without one, minicnn's default generator is used
(``minicnn.manual_seed`` makes it repeatable).
"""

import math
import warnings

import numpy as np

from minicnn.autograd import increment_version
from minicnn.backend import get_array_module
from minicnn.random import default_generator


def calculate_gain(nonlinearity, param=None):
    """The gain that keeps the variance of activations steady through a nonlinearity."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, bool) or not isinstance(param, (int, float))):
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field, where the
    receptive field is the product of shape[2:] (kh * kw for a conv weight)."""
    if tensor.ndim < 2:
        raise ValueError("fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {tensor.shape}")
    receptive_field = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    xp = get_array_module(tensor.array)
    tensor.array[...] = xp.asarray(values).astype(tensor.dtype, copy=False)
    increment_version(tensor)     # a write: a backward that saved the old values raises
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    rng = generator or default_generator()
    return _fill(tensor, rng.uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    rng = generator or default_generator()
    return _fill(tensor, rng.normal(mean, std, size=tensor.shape))


def constant_(tensor, val):
    tensor.array[...] = val
    increment_version(tensor)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def _is_empty(tensor):
    """A tensor with a zero-size dimension has no fan; initialising it does nothing (as PyTorch)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015)."""
    if _is_empty(tensor):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan) (He et al., 2015)."""
    if _is_empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def dirac_(tensor, groups=1):
    """PyTorch's ``nn.init.dirac_``: a conv weight (O, I, *kernel), 3 to 5 dimensions, that
    passes its input through: in each of ``groups`` groups of O / groups filters, filter d is
    1 at the kernel's centre of input channel d (d < min(O / groups, I)) and 0 everywhere else.
    ValueError for a tensor of another rank or O not divisible by groups."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3, 4 or 5-dimensional tensor, got shape {tensor.shape}")
    if tensor.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups "
                         f"({groups})")
    per_group = tensor.shape[0] // groups
    values = np.zeros(tensor.shape)
    centre = tuple(size // 2 for size in tensor.shape[2:])
    for group in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(group * per_group + d, d) + centre] = 1
    return _fill(tensor, values)


def whitening_(tensor, images, eps=5e-4):
    """Fill a conv weight (F, C, kh, kw) with the whitening filters of the kh x kw patches of
    ``images`` (N, C, H, W, an array or Tensor, already normalised as the network's input), and
    return it: with K = C*kh*kw and S = X^T X / P the (K, K) second-moment matrix of the P
    patches X (P, K) (uncentred, as the normalised images have about zero mean),
    S = V diag(lambda) V^T, the filters are V_k / sqrt(lambda_k + eps), largest lambda first,
    then, when F = 2K, their negatives, so that an activation after the layer keeps both signs.
    Applied to the patches, the first K filters give outputs of covariance
    diag(lambda / (lambda + eps)), about the identity: the decorrelated input of Coates and Ng
    (2012), used frozen as the first layer by airbench (Jordan 2024). ValueError unless F is K
    or 2K and the images have C channels, at least kh x kw pixels and only finite values."""
    array = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    if tensor.ndim != 4 or array.ndim != 4:
        raise ValueError(f"whitening_: expected a conv weight (F, C, kh, kw) and images "
                         f"(N, C, H, W), got shapes {tensor.shape} and {array.shape}")
    filters, channels, kh, kw = tensor.shape
    k = channels * kh * kw
    if filters not in (k, 2 * k):
        raise ValueError(f"whitening_: a weight of {channels}x{kh}x{kw} patches has {k} or "
                         f"{2 * k} filters, got {filters}")
    if array.shape[1] != channels or array.shape[2] < kh or array.shape[3] < kw:
        raise ValueError(f"whitening_: images of shape {array.shape} for {channels}x{kh}x{kw} "
                         "patches")
    if not np.isfinite(array).all():
        raise ValueError("whitening_: the images hold NaN or infinite values; their patch "
                         "statistics would be too")
    # patches (P, K), each flattened in the weight's (C, kh, kw) order
    windows = np.lib.stride_tricks.sliding_window_view(array.astype(np.float64), (kh, kw),
                                                       axis=(2, 3))
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, k)
    eigenvalues, eigenvectors = np.linalg.eigh(patches.T @ patches / len(patches))
    order = np.argsort(eigenvalues)[::-1]
    scaled = (eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)).T.reshape(
        k, channels, kh, kw)
    return _fill(tensor, scaled if filters == k else np.concatenate([scaled, -scaled]))
