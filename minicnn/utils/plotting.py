"""Plots of a training run: loss and accuracy curves, a confusion matrix, first-layer filters.

matplotlib is optional (``pip install matplotlib``): it is imported only when a plot is drawn,
with the non-interactive Agg backend, and PNG files are written atomically. Without it,
``available()`` is False and ``notice_skipped`` says so once. The filter grid itself
(``filter_grid``) needs only NumPy, and ``write_pgm`` saves it as a greyscale PGM image that any
image viewer opens.
"""

import io
import os

import numpy as np

from minicnn.utils.checkpoint import atomic_write

__all__ = ["available", "notice_skipped", "plot_history", "plot_confusion_matrix",
           "plot_filters", "first_layer_filters", "filter_grid", "write_pgm"]

_notified = False


def available():
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def notice_skipped(stream):
    """Say once per process that plots are skipped for want of matplotlib."""
    global _notified
    if not _notified:
        _notified = True
        stream.write("plots skipped: matplotlib is not installed (pip install matplotlib)\n")
        stream.flush()


def pyplot():
    """matplotlib.pyplot on the Agg back end (PNG files, no display); ImportError without
    matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(figure, path):
    """Write ``figure`` to ``path`` as a PNG (120 dpi), atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write(path, lambda file: file.write(buffer.getvalue()))


def plot_history(history, out_dir, title=None):
    """``loss.png`` and ``accuracy.png`` in ``out_dir`` from a Trainer's history, titled
    "``title``: loss per epoch" (and accuracy); returns the paths. The epoch axis has integer
    ticks only, and a one-epoch history is drawn at epoch 1 of an axis from 0 to 2."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator
    epochs = [record["epoch"] for record in history]
    paths = []
    for name, train_key, test_key, scale, label in (
            ("loss", "train_loss", "test_loss", 1, "cross-entropy loss"),
            ("accuracy", "train_accuracy", "test_top1", 100, "top-1 accuracy (%)")):
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(epochs, [scale * r[train_key] for r in history], marker="o", label="train")
        tested = [r for r in history if test_key in r]     # all but with Trainer's eval_every
        if tested:
            axes.plot([r["epoch"] for r in tested], [scale * r[test_key] for r in tested],
                      marker="o", label="test")
        axes.set_title(f"{title + ': ' if title else ''}{label.split(' (')[0]} per epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(epochs) == 1:
            axes.set_xlim(epochs[0] - 1, epochs[0] + 1)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
        path = os.path.join(out_dir, f"{name}.png")
        save_png(figure, path)
        plt.close(figure)
        paths.append(path)
    return paths


def plot_confusion_matrix(confusion, path, class_names=None, title="confusion matrix"):
    """A (K, K) count matrix (row = true class) as a heat map with the counts written in."""
    plt = pyplot()
    confusion = np.asarray(confusion)
    classes = len(confusion)
    names = list(class_names) if class_names is not None else [str(k) for k in range(classes)]
    figure, axes = plt.subplots(figsize=(1 + 0.6 * classes, 1 + 0.6 * classes))
    axes.imshow(confusion, cmap="Blues")
    axes.set_xticks(range(classes), names, rotation=90)
    axes.set_yticks(range(classes), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if classes <= 20:
        threshold = confusion.max() / 2
        for (row, column), count in np.ndenumerate(confusion):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > threshold else "black")
    save_png(figure, path)
    plt.close(figure)


def first_layer_filters(model):
    """The weight array (F, C, kh, kw) of the model's first 4-d parameter (its first
    convolution), or None if it has none."""
    for _, param in model.named_parameters():
        if param.ndim == 4:
            return param.numpy()
    return None


def filter_grid(weight, padding=1):
    """Tile filters (F, C, kh, kw) into one image in [0, 1], each filter scaled to its own range:
    (rows, cols, 3) when C == 3 (shown as colour), else (rows, cols) with the C channels of a
    filter side by side."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise ValueError(f"filter_grid: weight must be (F, C, kh, kw), got shape {weight.shape}")
    low = weight.min(axis=(1, 2, 3), keepdims=True)
    high = weight.max(axis=(1, 2, 3), keepdims=True)
    weight = (weight - low) / np.maximum(high - low, 1e-12)
    filters, channels, kh, kw = weight.shape
    if channels == 3:
        tiles = weight.transpose(0, 2, 3, 1)                           # (F, kh, kw, 3)
    else:
        tiles = weight.transpose(0, 2, 1, 3).reshape(filters, kh, channels * kw)
    columns = int(np.ceil(np.sqrt(filters)))
    rows = int(np.ceil(filters / columns))
    th, tw = tiles.shape[1:3]
    grid = np.ones((rows * (th + padding) + padding, columns * (tw + padding) + padding)
                   + tiles.shape[3:])
    for index, tile in enumerate(tiles):
        top = padding + (index // columns) * (th + padding)
        left = padding + (index % columns) * (tw + padding)
        grid[top:top + th, left:left + tw] = tile
    return grid


def plot_filters(weight, path, title=None):
    """The filters of a first convolution (F, C, kh, kw) as a PNG grid, titled ``title``
    (default: "N first-layer filters, C x kh x kw")."""
    plt = pyplot()
    grid = filter_grid(weight)
    figure, axes = plt.subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1]))
    axes.imshow(grid, cmap=None if grid.ndim == 3 else "gray", interpolation="nearest")
    axes.set_axis_off()
    filters, channels, kh, kw = np.shape(weight)
    axes.set_title(title or f"{filters} first-layer filters, {channels} x {kh} x {kw}")
    save_png(figure, path)
    plt.close(figure)


def write_pgm(path, image, scale=8):
    """Save a 2-d image in [0, 1] as a binary greyscale PGM, each pixel a ``scale`` x ``scale``
    block (a colour grid is averaged to grey)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=2)
    pixels = np.kron(np.round(255 * np.clip(image, 0, 1)), np.ones((scale, scale))).astype(np.uint8)
    header = f"P5\n{pixels.shape[1]} {pixels.shape[0]}\n255\n".encode("ascii")
    atomic_write(path, lambda file: file.write(header + pixels.tobytes()))
