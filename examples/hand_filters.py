"""Filters set by hand, applied with ``F.conv2d``: what a first convolution layer can compute
before any training. A box blur averages a neighbourhood; the Sobel filters (Sobel and
Feldman, 1968) respond to horizontal and vertical edges; the Laplacian to both, and to nothing
where the image is flat.

    python examples/hand_filters.py [--image I] [--out filters.png]

The image is test image I of the Fashion-MNIST subset shipped with minicnn. The terminal shows
each filter and its response as a text heat map; --out draws them (needs matplotlib). The same
filters on a full dataset: any image of `minicnn show activations CHECKPOINT` is a layer of
trained filters doing this.
"""

import argparse

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.teach.pictures import text_heat_map
from minicnn.utils import plotting

FILTERS = {
    "box blur": np.full((3, 3), 1 / 9),
    "Sobel x (vertical edges)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "Sobel y (horizontal edges)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
}


def apply_filters(image):
    """image (H, W) -> responses (4, H, W): one conv2d with the four filters as its weight
    (4, 1, 3, 3), padding 1 so that the responses keep the image's size."""
    weight = np.stack(list(FILTERS.values()))[:, None].astype(np.float32)
    x = mc.tensor(image[None, None].astype(np.float32))
    return F.conv2d(x, mc.tensor(weight), padding=1).numpy()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=int, default=0, help="test image index (default 0)")
    parser.add_argument("--out", metavar="FILE.png", help="draw the image and the responses")
    args = parser.parse_args()
    test_set = mc.data.embedded_fashion_mnist(train=False)
    image = test_set.images[args.image, 0] / 255.0
    label = test_set.classes[test_set.labels[args.image]]
    responses = apply_filters(image)
    print(f"test image {args.image} ({label}), 28x28:")
    print("\n".join("    " + line for line in text_heat_map(image)))
    for (name, kernel), response in zip(FILTERS.items(), responses):
        print(f"{name}: kernel {kernel.round(3).tolist()}; response in "
              f"[{response.min():+.2f}, {response.max():+.2f}] (|response| shown)")
        print("\n".join("    " + line for line in text_heat_map(response)))
    if args.out:
        if not plotting.available():
            raise SystemExit("--out needs matplotlib (pip install matplotlib)")
        plt = plotting.pyplot()
        figure, axes = plt.subplots(1, 5, figsize=(13, 3))
        axes[0].imshow(image, cmap="gray")
        axes[0].set_title(f"input: {label}")
        for ax, name, response in zip(axes[1:], FILTERS, responses):
            limit = np.abs(response).max()
            ax.imshow(response, cmap="gray" if name == "box blur" else "RdBu_r",
                      vmin=None if name == "box blur" else -limit,
                      vmax=None if name == "box blur" else limit)
            ax.set_title(name, fontsize=9)
        for ax in axes:
            ax.set_axis_off()
        plotting.save_png(figure, args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
