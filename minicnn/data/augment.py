"""Alternating flip (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU", section
3.6): rather than a fair coin for every image in every epoch, one coin per image decides its
flip in the first epoch, and each later epoch mirrors every image the other way from the epoch
before. Every pair of consecutive epochs then shows each image once mirrored and once not, which
random flipping does only half of the time; airbench measures it worth about as much as 10-20%
more epochs for short runs.

    train = AlternatingFlip(mc.data.CIFAR10(root, train=True, transform=...), seed=0)
    loader = mc.data.DataLoader(train, batch_size=1024, shuffle=True)

The DataLoader tells the dataset the epoch of every batch it makes (``set_epoch``), in the main
process and in each worker alike, so the flips are a function of (seed, image, epoch) only and a
resumed run repeats them.
"""

import numpy as np

from minicnn.data.dataset import Dataset

__all__ = ["AlternatingFlip"]


class AlternatingFlip(Dataset):
    """``dataset`` (a map-style dataset of (image (C, H, W), label) samples) with image i
    mirrored along the width in epoch e when ``first[i] != (e is odd)``, where ``first`` holds
    one fair coin per image drawn from ``seed``. Keeps the fast ``get_batch`` path of minicnn's
    image datasets (the transform runs first, then the flip)."""

    def __init__(self, dataset, seed=0):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"AlternatingFlip: seed must be a non-negative integer, "
                             f"got {seed!r}")
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0
        self.first = np.random.default_rng([self.seed, 0xF11B]).random(len(dataset)) < 0.5

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def flips(self, indices):
        """Boolean array: which of the images at ``indices`` are mirrored in this epoch."""
        return self.first[np.asarray(indices, dtype=np.int64)] != bool(self.epoch % 2)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        if self.flips(index):
            image = np.ascontiguousarray(np.asarray(image)[..., ::-1])
        return image, label

    def __len__(self):
        return len(self.dataset)

    @property
    def get_batch(self):
        """The dataset's ``get_batch`` with this epoch's flips (AttributeError without one)."""
        get_batch = self.dataset.get_batch

        def flipped_batch(indices, generator=None):
            images, labels = get_batch(indices, generator)
            flip = self.flips(indices)
            images[flip] = images[flip][..., ::-1]
            return images, labels
        return flipped_batch

    @property
    def images(self):
        return self.dataset.images

    @property
    def labels(self):
        return self.dataset.labels

    @property
    def classes(self):
        return self.dataset.classes

    @property
    def transform(self):
        return self.dataset.transform

    def __repr__(self):
        return f"AlternatingFlip of {len(self)} samples of {type(self.dataset).__name__}"
