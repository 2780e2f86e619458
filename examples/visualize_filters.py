"""Show the first-layer filters of a trained network: what its first convolution looks for.

    minicnn train                                   # writes runs/lenet5-fashion-mnist-embedded/
    python examples/visualize_filters.py [CHECKPOINT] [--out PATH]

CHECKPOINT is a .npz written by `minicnn train` or the Trainer (default: the main job's
best.npz). The filters are those of the model's first 4-d weight (F, C, kh, kw), each scaled
to its own range, tiled in a grid. With matplotlib this saves OUT.png; without it, OUT.pgm (a
greyscale image any viewer opens; colour filters are averaged to grey) and prints each filter
as numbers. OUT is, by default, next to the checkpoint: runs/X/best.npz gives
runs/X/best-filters.png.
"""

import argparse
import os
import sys

import numpy as np

from minicnn.utils import plotting
from minicnn.utils.checkpoint import load_checkpoint

DEFAULT_CHECKPOINT = "runs/lenet5-fashion-mnist-embedded/best.npz"


def first_filters(model_state):
    """(name, weight array) of the first 4-d entry of a state dict (its first convolution)."""
    for name, value in model_state.items():
        array = value.numpy()
        if array.ndim == 4:
            return name, array
    sys.exit("the checkpoint's model has no convolution (no 4-d weight)")


def print_filters(weight):
    for index, kernel in enumerate(weight):
        print(f"filter {index} (channel 0 of {weight.shape[1]}):")
        for row in kernel[0]:
            print("  " + " ".join(f"{value:+.2f}" for value in row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--out", help="file name without extension (default: CHECKPOINT "
                                      "without .npz, then -filters)")
    args = parser.parse_args()
    if args.out is None:
        args.out = os.path.splitext(args.checkpoint)[0] + "-filters"

    name, weight = first_filters(load_checkpoint(args.checkpoint)["model"])
    print(f"{name}: {weight.shape[0]} filters of {weight.shape[1]}x{weight.shape[2]}x"
          f"{weight.shape[3]}, from {args.checkpoint}")
    if plotting.available():
        plotting.plot_filters(weight, args.out + ".png")
        print(f"saved {args.out}.png")
    else:
        print_filters(weight)
        plotting.write_pgm(args.out + ".pgm", plotting.filter_grid(weight))
        print(f"matplotlib is not installed: saved {args.out}.pgm instead")
    print(f"weights: mean {np.mean(weight):+.4f}, std {np.std(weight):.4f}")


if __name__ == "__main__":
    main()
