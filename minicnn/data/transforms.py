"""Image transforms, vectorised over a batch.

A transform takes a batch of images (N, C, H, W) or one image (C, H, W) and returns the same
kind of array; the random ones draw one decision per image in a single NumPy call, so a batch
costs a few array operations, not a Python loop over images. Names and parameters follow
torchvision's. Datasets hand transforms float32 images scaled to [0, 1] (``ToFloat``).

Randomness: a random transform draws from, in this order of precedence,
  1. the ``generator`` passed to the call (the DataLoader passes one derived from its seed, the
     epoch and the batch index, so that augmentation is repeatable and resumable mid-epoch,
     whatever the order in which batches are prepared);
  2. its own generator, given at construction (``generator=`` a seed or a numpy Generator) or
     set later with ``manual_seed(seed)``;
  3. minicnn's default generator (``minicnn.manual_seed``).
"""

import math
import numbers

import numpy as np

from minicnn.autograd import Tensor
from minicnn.backend.geometry import pair
from minicnn.random import default_generator


class Transform:
    """Base class: subclasses implement ``apply(batch, generator)`` on an (N, C, H, W) array.
    Called on a Tensor, a transform returns a Tensor (of the result's dtype)."""

    def __call__(self, images, generator=None):
        if isinstance(images, Tensor):
            result = self(images.numpy(), generator)
            return Tensor(result, dtype=result.dtype)
        images = np.asarray(images)
        if images.ndim == 3:
            return self.apply(images[None], generator)[0]
        if images.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected an image (C, H, W) or a batch "
                             f"(N, C, H, W), got shape {images.shape}")
        return self.apply(images, generator)

    def apply(self, batch, generator):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        return ""


class RandomTransform(Transform):
    """A transform that draws random numbers (see the module docstring for which generator)."""

    def __init__(self, generator=None):
        self.manual_seed(generator)

    def manual_seed(self, seed):
        """Use a generator seeded with ``seed`` (an int or a numpy Generator; None: minicnn's
        default generator)."""
        if seed is None or isinstance(seed, np.random.Generator):
            self.generator = seed
        elif isinstance(seed, numbers.Integral):
            self.generator = np.random.default_rng(int(seed))
        else:
            raise TypeError(f"{type(self).__name__}: generator must be None, an int seed or a "
                            f"numpy Generator, got {type(seed).__name__}")

    def _rng(self, generator):
        if generator is not None:
            return generator
        return self.generator if self.generator is not None else default_generator()


def call_transform(transform, images, generator=None):
    """Apply ``transform`` to ``images``; minicnn transforms also receive ``generator``, any
    other callable (e.g. a lambda) is called with the images alone."""
    if isinstance(transform, Transform):
        return transform(images, generator)
    return transform(images)


class Compose(Transform):
    """Apply ``transforms`` in order (each receives the call's generator)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, images, generator=None):
        for transform in self.transforms:
            images = call_transform(transform, images, generator)
        return images

    def __repr__(self):
        lines = "".join(f"\n    {transform!r}" for transform in self.transforms)
        return f"Compose({lines}\n)"


class ToFloat(Transform):
    """uint8 images to float32 scaled to [0, 1] (torchvision's ToTensor without the Tensor);
    float images are returned as float32, unscaled, so applying it twice is harmless."""

    def apply(self, batch, generator):
        if batch.dtype == np.uint8:
            return batch.astype(np.float32) / np.float32(255)  # as ToTensor: bit-identical
        if not np.issubdtype(batch.dtype, np.floating):
            raise TypeError(f"ToFloat: expected uint8 or float images, got {batch.dtype}")
        return batch.astype(np.float32, copy=False)


to_float = ToFloat()


class Normalize(Transform):
    """``(image - mean[c]) / std[c]`` per channel c; ``mean`` and ``std`` hold C values (or one
    for every channel)."""

    def __init__(self, mean, std, inplace=False):
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std evaluated to zero ({self.std.tolist()}), "
                             f"leading to division by zero")
        self.inplace = inplace

    def apply(self, batch, generator):
        channels = batch.shape[1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(f"Normalize: {name} has {len(values)} values for images with "
                                 f"{channels} channels")
        if not np.issubdtype(batch.dtype, np.floating):
            raise TypeError(f"Normalize: expected float images (use ToFloat first), "
                            f"got {batch.dtype}")
        mean = self.mean.astype(batch.dtype).reshape(1, -1, 1, 1)
        std = self.std.astype(batch.dtype).reshape(1, -1, 1, 1)
        if self.inplace:
            batch -= mean
            batch /= std
            return batch
        return (batch - mean) / std

    def extra_repr(self):
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


class SubtractMean(Transform):
    """``image - mean`` with ``mean`` an array (C, H, W): per-pixel mean subtraction, the
    only preprocessing of AlexNet (Krizhevsky et al. 2012) and of the CIFAR ResNets (He et al.
    2016, section 4.2), ``mean`` being the training images' mean (e.g. ``images.mean(0)`` of
    the [0, 1] images). ValueError when the images' shape (C, H, W) is not ``mean``'s."""

    def __init__(self, mean):
        self.mean = np.asarray(mean, dtype=np.float64)
        if self.mean.ndim != 3:
            raise ValueError(f"SubtractMean: mean must be an array (C, H, W), got shape "
                             f"{self.mean.shape}")

    def apply(self, batch, generator):
        if batch.shape[1:] != self.mean.shape:
            raise ValueError(f"SubtractMean: images of shape {batch.shape[1:]} for a mean of "
                             f"shape {self.mean.shape}")
        if not np.issubdtype(batch.dtype, np.floating):
            raise TypeError(f"SubtractMean: expected float images (use ToFloat first), "
                            f"got {batch.dtype}")
        return batch - self.mean.astype(batch.dtype)

    def extra_repr(self):
        return f"mean of shape {self.mean.shape}"


def _padding_lrtb(padding):
    """torchvision's padding forms: p (all sides), (left/right, top/bottom) or
    (left, top, right, bottom); returns (left, right, top, bottom)."""
    if isinstance(padding, numbers.Integral):
        padding = (padding,)
    if not isinstance(padding, (tuple, list)) or not all(
            isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding):
        raise TypeError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got "
                        f"{padding!r:.60}")
    padding = tuple(int(p) for p in padding)
    if any(p < 0 for p in padding):
        raise ValueError(f"padding must be non-negative, got {padding}")
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) == 4:
        return padding[0], padding[2], padding[1], padding[3]
    raise ValueError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got {padding}")


_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def pad(batch, left, right, top, bottom, padding_mode="constant", fill=0):
    """Pad the last two axes of ``batch`` as np.pad does (torchvision's padding modes)."""
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
    widths = [(0, 0)] * (batch.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode == "constant":
        return np.pad(batch, widths, mode="constant", constant_values=fill)
    return np.pad(batch, widths, mode=padding_mode)


class RandomCrop(RandomTransform):
    """Crop a random ``size`` window (an int or (height, width)) from each image, after padding
    it by ``padding`` (an int, (left/right, top/bottom) or (left, top, right, bottom)) with
    ``padding_mode`` "constant" (``fill``), "edge", "reflect" or "symmetric", as torchvision.
    ``pad_if_needed`` pads images smaller than ``size`` to that size first."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant",
                 generator=None):
        super().__init__(generator)
        self.size = pair(size, "size", "RandomCrop", 1)
        self.padding = _padding_lrtb(padding) if padding is not None else (0, 0, 0, 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def apply(self, batch, generator):
        left, right, top, bottom = self.padding
        height, width = self.size
        if self.pad_if_needed:
            grow_h = max(0, height - (batch.shape[2] + top + bottom))
            grow_w = max(0, width - (batch.shape[3] + left + right))
            top, bottom, left, right = top + grow_h, bottom + grow_h, left + grow_w, right + grow_w
        if left or right or top or bottom:
            batch = pad(batch, left, right, top, bottom, self.padding_mode, self.fill)
        n, _, padded_h, padded_w = batch.shape
        if height > padded_h or width > padded_w:
            raise ValueError(f"RandomCrop: required crop size {(height, width)} is larger than "
                             f"the (padded) image size {(padded_h, padded_w)}")
        rng = self._rng(generator)
        tops = rng.integers(0, padded_h - height + 1, size=n)
        lefts = rng.integers(0, padded_w - width + 1, size=n)
        # every (height, width) window of every image, as a view; then one gather picks each
        # image's own window: (N, C, H', W', height, width)[n, :, top_n, left_n] -> (N, C, h, w)
        windows = np.lib.stride_tricks.sliding_window_view(batch, (height, width), axis=(2, 3))
        return windows[np.arange(n), :, tops, lefts]

    def extra_repr(self):
        left, right, top, bottom = self.padding
        return (f"size={self.size}, padding={(left, top, right, bottom)}, "
                f"padding_mode={self.padding_mode!r}")


class RandomHorizontalFlip(RandomTransform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def apply(self, batch, generator):
        flip = self._rng(generator).random(batch.shape[0]) < self.p
        return np.where(flip[:, None, None, None], batch[..., ::-1], batch)

    def extra_repr(self):
        return f"p={self.p}"


class Cutout(RandomTransform):
    """Cutout (DeVries and Taylor, 2017): set a ``size`` x ``size`` square of each image to
    ``fill``. The square's centre is uniform over the image and the square is clipped at the
    borders, as in the paper, so it may fall partly outside. Apply it after Normalize, where 0
    is the mean pixel."""

    def __init__(self, size, fill=0.0, generator=None):
        super().__init__(generator)
        if not isinstance(size, numbers.Integral) or size < 0:
            raise ValueError(f"Cutout: size must be a non-negative int, got {size!r}")
        self.size = int(size)
        self.fill = fill

    def apply(self, batch, generator):
        n, _, height, width = batch.shape
        rng = self._rng(generator)
        centre_y = rng.integers(0, height, size=n)
        centre_x = rng.integers(0, width, size=n)
        half = self.size // 2
        # the square spans [centre - half, centre - half + size) in each axis, clipped
        top, left = (centre_y - half)[:, None], (centre_x - half)[:, None]
        rows, cols = np.arange(height), np.arange(width)
        in_rows = (rows >= top) & (rows < top + self.size)      # (N, H)
        in_cols = (cols >= left) & (cols < left + self.size)    # (N, W)
        hole = in_rows[:, None, :, None] & in_cols[:, None, None, :]
        return np.where(hole, np.asarray(self.fill, dtype=batch.dtype), batch)

    def extra_repr(self):
        return f"size={self.size}, fill={self.fill}"


# ----------------------------------------------------------------------------- torchvision's

class ToTensor:
    """torchvision's ToTensor: an image as a Tensor (C, H, W). A uint8 image (H, W, C) or
    (H, W), as NumPy or PIL gives it, is moved to (C, H, W) and scaled to [0, 1] (x / 255 in
    float32), other integer images are moved and keep their values and dtype (as torchvision);
    a float (H, W, C) ndarray from outside minicnn would be ambiguous here, so float
    arrays are taken to be minicnn's already-scaled (C, H, W) images or (N, C, H, W) batches
    (what minicnn's datasets hand their transform) and returned as a Tensor unchanged, as
    ToTensor leaves float values unscaled. Raises TypeError for a Tensor or a non-image,
    ValueError for an array of another number of dimensions."""

    def __call__(self, pic, generator=None):
        if isinstance(pic, Tensor):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        array = np.asarray(pic)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        if array.dtype.kind == "f":
            if array.ndim not in (3, 4):
                raise ValueError(f"ToTensor: a float image is minicnn's (C, H, W) or a batch "
                                 f"(N, C, H, W), got {array.ndim} dimensions")
            return Tensor(array, dtype=array.dtype)
        if array.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {array.ndim} dimensions.")
        chw = np.ascontiguousarray((array[:, :, None] if array.ndim == 2 else array)
                                   .transpose(2, 0, 1))
        if array.dtype == np.uint8:
            return Tensor(chw.astype(np.float32) / np.float32(255))
        return Tensor(chw, dtype=chw.dtype)     # other integers: moved, not scaled

    def __repr__(self):
        return "ToTensor()"


class Lambda:
    """Apply the user's function ``lambd`` to the images (as torchvision's Lambda)."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got "
                            f"{type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, images, generator=None):
        return self.lambd(images)

    def __repr__(self):
        return "Lambda()"


class InterpolationMode:
    """torchvision's names for the interpolation methods Resize supports."""
    NEAREST = "nearest"
    BILINEAR = "bilinear"


def _resize_weights(in_size, out_size, interpolation, antialias):
    """(out_size, in_size) float64 matrix W with resized = W @ x along one axis, as PyTorch's
    ``F.interpolate(..., align_corners=False)``. Bilinear: each output pixel i centred at
    c = s (i + 1/2) in input coordinates (s = in/out) weighs input pixel j by the triangle
    max(0, 1 - |j + 1/2 - c| / f), normalised over the pixels inside the image, with f = s when
    antialiasing a reduction (s > 1), else 1 (PyTorch's _upsample_bilinear2d_aa, which is
    PIL's; with f = 1 this is the plain bilinear interpolation). Nearest: pixel floor(s i)."""
    scale = in_size / out_size
    weights = np.zeros((out_size, in_size))
    if interpolation == InterpolationMode.NEAREST:
        weights[np.arange(out_size),
                np.minimum(np.floor(np.arange(out_size) * scale).astype(np.int64),
                           in_size - 1)] = 1
        return weights
    width = scale if antialias and scale > 1 else 1.0
    centres = scale * (np.arange(out_size) + 0.5)                        # (out,)
    offsets = (np.arange(in_size)[None, :] + 0.5 - centres[:, None]) / width
    weights = np.maximum(0.0, 1.0 - np.abs(offsets))                     # (out, in)
    return weights / weights.sum(axis=1, keepdims=True)


def resize(batch, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    """``batch`` (N, C, H, W) resized to ``size`` (height, width) by separable interpolation
    (see _resize_weights): out = W_h @ x @ W_w^T per image and channel. uint8 images are
    computed in float and rounded back to uint8, as torchvision does."""
    height, width = size
    rows = _resize_weights(batch.shape[2], height, interpolation, antialias)
    cols = _resize_weights(batch.shape[3], width, interpolation, antialias)
    dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
    resized = np.einsum("ph,nchw,qw->ncpq", rows.astype(dtype), batch.astype(dtype),
                        cols.astype(dtype), optimize=True)
    if batch.dtype == np.uint8:
        return np.clip(np.round(resized), 0, 255).astype(np.uint8)
    return resized.astype(batch.dtype, copy=False)


def _interpolation(interpolation):
    if interpolation not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest' "
                         f"(InterpolationMode.BILINEAR / NEAREST), got {interpolation!r}")
    return interpolation


def resized_size(height, width, size, max_size=None):
    """torchvision's output size for Resize: ``size`` (h, w) as given, or an int (or a
    one-element sequence) for the smaller edge, the other edge keeping the aspect ratio
    (truncated), then both scaled down so that the longer edge is at most ``max_size``."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(size[0]), int(size[1])
    size = size[0] if isinstance(size, (tuple, list)) else size
    short, long = min(height, width), max(height, width)
    new_short, new_long = int(size), int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size = {max_size} must be strictly greater than the "
                             f"requested size for the smaller edge size = {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


class Resize(Transform):
    """Resize every image to ``size``: (height, width), or an int for the smaller edge (the
    larger one keeps the aspect ratio, at most ``max_size``), by bilinear interpolation
    (antialiased when shrinking, torchvision's default) or nearest neighbour, as
    torchvision's Resize on tensors (``F.interpolate(..., align_corners=False)``)."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        if isinstance(size, (tuple, list)) and len(size) not in (1, 2) or \
                not isinstance(size, (tuple, list, numbers.Integral)):
            raise ValueError(f"If size is a sequence, it should have 1 or 2 values, got {size}")
        self.size, self.max_size = size, max_size
        self.interpolation, self.antialias = _interpolation(interpolation), antialias

    def apply(self, batch, generator):
        out = resized_size(batch.shape[2], batch.shape[3], self.size, self.max_size)
        return resize(batch, out, self.interpolation, self.antialias)

    def extra_repr(self):
        return (f"size={self.size}, interpolation={self.interpolation}, "
                f"max_size={self.max_size}, antialias={self.antialias}")


class CenterCrop(Transform):
    """The central ``size`` (an int or (height, width)) window of each image; an image smaller
    than that is first padded with zeros, as torchvision (its top-left corner at
    round((H - h) / 2), round((W - w) / 2), rounding half to even as Python's round)."""

    def __init__(self, size):
        self.size = pair(size[0] if isinstance(size, (tuple, list)) and len(size) == 1
                         else size, "size", "CenterCrop", 1)

    def apply(self, batch, generator):
        height, width = self.size
        image_h, image_w = batch.shape[2:]
        if height > image_h or width > image_w:
            grow_h, grow_w = max(0, height - image_h), max(0, width - image_w)
            batch = pad(batch, grow_w // 2, (grow_w + 1) // 2, grow_h // 2, (grow_h + 1) // 2)
            image_h, image_w = batch.shape[2:]
        top, left = int(round((image_h - height) / 2.0)), int(round((image_w - width) / 2.0))
        return batch[:, :, top:top + height, left:left + width]

    def extra_repr(self):
        return f"size={self.size}"


class Pad(Transform):
    """Pad every image by ``padding`` (an int, (left/right, top/bottom) or (left, top, right,
    bottom)) with ``padding_mode`` "constant" (``fill``), "edge", "reflect" or "symmetric"."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        self.padding = _padding_lrtb(padding)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.fill, self.padding_mode = fill, padding_mode

    def apply(self, batch, generator):
        return pad(batch, *self.padding, self.padding_mode, self.fill)

    def extra_repr(self):
        left, right, top, bottom = self.padding
        return (f"padding={(left, top, right, bottom)}, fill={self.fill}, "
                f"padding_mode={self.padding_mode!r}")


def _check_range(values, name, owner):
    values = tuple(float(v) for v in values)
    if len(values) != 2:
        raise ValueError(f"{owner}: {name} should be a sequence of 2 values, got {values}")
    if values[0] > values[1]:
        raise ValueError(f"{owner}: {name} should be of kind (min, max), got {values}")
    return values


class RandomResizedCrop(RandomTransform):
    """torchvision's RandomResizedCrop: from each image a window of a random area (a fraction
    in ``scale`` of the image's) and aspect ratio (log-uniform in ``ratio``), tried 10 times
    until it fits, else the central crop of the nearest allowed ratio; the window is resized
    to ``size``. Each image has its own window, so this loops over the batch."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias=True, generator=None):
        super().__init__(generator)
        self.size = pair(size[0] if isinstance(size, (tuple, list)) and len(size) == 1
                         else size, "size", "RandomResizedCrop", 1)
        self.scale = _check_range(scale, "scale", "RandomResizedCrop")
        self.ratio = _check_range(ratio, "ratio", "RandomResizedCrop")
        self.interpolation, self.antialias = _interpolation(interpolation), antialias

    def get_params(self, height, width, rng):
        """(top, left, h, w) of one image's window, as torchvision's get_params."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                return top, int(rng.integers(0, width - w + 1)), h, w
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            w, h = width, int(round(width / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            h, w = height, int(round(height * max(self.ratio)))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, batch, generator):
        rng = self._rng(generator)
        out = []
        for image in batch:
            top, left, h, w = self.get_params(image.shape[1], image.shape[2], rng)
            window = image[None, :, top:top + h, left:left + w]
            out.append(resize(window, self.size, self.interpolation, self.antialias)[0])
        return np.stack(out) if out else np.zeros((0, batch.shape[1], *self.size), batch.dtype)

    def extra_repr(self):
        return (f"size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"interpolation={self.interpolation}, antialias={self.antialias}")


class RandomErasing(RandomTransform):
    """torchvision's RandomErasing (Zhong et al., 2017): with probability ``p`` each image gets
    one rectangle of a random area (a fraction in ``scale``) and aspect ratio (log-uniform in
    ``ratio``), tried 10 times until it fits strictly inside, set to ``value``: a number, one
    per channel, or "random" (standard normal noise). Apply it after ToTensor / Normalize."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False,
                 generator=None):
        super().__init__(generator)
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not 0 <= p <= 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p, self.value, self.inplace = p, value, inplace
        self.scale = _check_range(scale, "scale", "RandomErasing")
        self.ratio = _check_range(ratio, "ratio", "RandomErasing")

    def apply(self, batch, generator):
        rng = self._rng(generator)
        batch = batch if self.inplace else batch.copy()
        channels, height, width = batch.shape[1:]
        if isinstance(self.value, (tuple, list)) and len(self.value) not in (1, channels):
            raise ValueError(f"If value is a sequence, it should have either a single value or "
                             f"{channels} (number of input channels)")
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for image in batch:
            if rng.random() >= self.p:
                continue
            for _ in range(10):
                erase_area = height * width * rng.uniform(*self.scale)
                aspect = math.exp(rng.uniform(*log_ratio))
                h = int(round(math.sqrt(erase_area * aspect)))
                w = int(round(math.sqrt(erase_area / aspect)))
                if h < height and w < width:
                    top = int(rng.integers(0, height - h + 1))
                    left = int(rng.integers(0, width - w + 1))
                    if self.value == "random":
                        fill = rng.standard_normal((channels, h, w))
                    else:
                        fill = np.asarray(self.value, dtype=np.float64).reshape(-1, 1, 1)
                    image[:, top:top + h, left:left + w] = fill
                    break
        return batch

    def extra_repr(self):
        return (f"p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value}, "
                f"inplace={self.inplace}")
