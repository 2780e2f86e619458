"""Make the Fashion-MNIST subset shipped in minicnn/data/embedded/ (run from the repository root):

    python3 minicnn/data/embedded/make_embedded_fashion_mnist.py [SOURCE_FOLDER]

SOURCE_FOLDER holds the four official IDX files (default: Debian's dataset-fashion-mnist package,
/usr/share/datasets/fashion-mnist). The subset is balanced and seeded: 1,500 training images per
class from the official training split and 200 test images per class from the official test
split, kept in their official order. Running it again writes byte-identical files.
"""

import sys
from pathlib import Path

import numpy as np

from minicnn.data.idx import read_idx, write_idx

SEED = 0
TRAIN_PER_CLASS = 1500
TEST_PER_CLASS = 200
SPLITS = {"train": TRAIN_PER_CLASS, "t10k": TEST_PER_CLASS}


def balanced_indices(labels, per_class, rng):
    """``per_class`` indices of each class, drawn without replacement, in ascending order."""
    chosen = [rng.choice(np.flatnonzero(labels == label), size=per_class, replace=False)
              for label in range(10)]
    return np.sort(np.concatenate(chosen))


def main(source=Path("/usr/share/datasets/fashion-mnist")):
    target = Path(__file__).resolve().parent
    rng = np.random.default_rng(SEED)
    for split, per_class in SPLITS.items():
        images = read_idx(source / f"{split}-images-idx3-ubyte.gz", ndim=3)
        labels = read_idx(source / f"{split}-labels-idx1-ubyte.gz", ndim=1)
        keep = balanced_indices(labels, per_class, rng)
        write_idx(target / f"{split}-images-idx3-ubyte.gz", images[keep])
        write_idx(target / f"{split}-labels-idx1-ubyte.gz", labels[keep])
        print(f"{split}: kept {len(keep)} of {len(labels)} images ({per_class} per class)")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:2]))
