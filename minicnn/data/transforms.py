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

import numbers

import numpy as np

from minicnn.backend.geometry import pair
from minicnn.random import default_generator


class Transform:
    """Base class: subclasses implement ``apply(batch, generator)`` on an (N, C, H, W) array."""

    def __call__(self, images, generator=None):
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
