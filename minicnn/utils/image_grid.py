"""``make_grid``: a batch of images tiled into one image, as ``torchvision.utils.make_grid``.

For looking at a batch (``plt.imshow(make_grid(images).numpy().transpose(1, 2, 0))``); the
result is a new tensor outside the autograd graph.
"""

import math

from minicnn.autograd import Tensor
from minicnn.backend import get_array_module


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False,
              pad_value=0.0):
    """Tile images (B, C, H, W), a list of (C, H, W) tensors, one image (C, H, W) or (H, W) into
    a (3 or C, rows * (H + padding) + padding, columns * (W + padding) + padding) tensor,
    ``nrow`` images a row (torchvision.utils.make_grid's layout and arguments).

    One-channel images become three channels; one image alone comes back unpadded.
    ``normalize`` shifts the values to [0, 1] by ``value_range`` (low, high), or by each
    image's (``scale_each``) or the batch's min and max, clamping outside them. Raises TypeError
    for an input that is not a tensor or a list of tensors, or a ``value_range`` not a tuple;
    ValueError for a tensor of another rank."""
    if isinstance(tensor, (list, tuple)):
        if not all(isinstance(image, Tensor) for image in tensor):
            raise TypeError("make_grid: tensor must be a Tensor or a list of Tensors")
        xp = get_array_module(tensor[0].array)
        images = xp.stack([image.array for image in tensor])
    elif isinstance(tensor, Tensor):
        images = tensor.array
    else:
        raise TypeError(f"make_grid: tensor must be a Tensor or a list of Tensors, "
                        f"got {type(tensor).__name__}")
    xp = get_array_module(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"make_grid: images must be (B, C, H, W), (C, H, W) or (H, W), "
                         f"got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = xp.concatenate([images] * 3, axis=1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("make_grid: value_range has to be a tuple (min, max) if specified")
        images = images.astype(images.dtype if images.dtype.kind == "f" else xp.float32)
        groups = images if scale_each else images[None]
        images = xp.stack([_scaled(group, value_range, xp) for group in groups])
        images = images if scale_each else images[0]
    if images.shape[0] == 1:
        return Tensor(images[0].copy())
    count, channels, height, width = images.shape
    columns = min(nrow, count)
    rows = int(math.ceil(count / columns))
    cell_h, cell_w = height + padding, width + padding
    grid = xp.full((channels, rows * cell_h + padding, columns * cell_w + padding), pad_value,
                   dtype=images.dtype)
    for k in range(count):
        top, left = (k // columns) * cell_h + padding, (k % columns) * cell_w + padding
        grid[:, top:top + height, left:left + width] = images[k]
    return Tensor(grid)


def _scaled(images, value_range, xp):
    """``images`` clamped to (low, high) and mapped to [0, 1]; (low, high) = value_range, or
    the min and max of ``images``."""
    low, high = value_range if value_range is not None else (float(images.min()),
                                                             float(images.max()))
    return (xp.clip(images, low, high) - low) / max(high - low, 1e-5)
