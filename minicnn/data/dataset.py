"""Dataset classes as PyTorch's ``torch.utils.data``: Dataset, IterableDataset, TensorDataset,
Subset, ConcatDataset, ChainDataset and random_split.

A map-style dataset has ``__len__`` and ``__getitem__(index) -> sample``; an iterable-style one
has ``__iter__``. minicnn's in-memory image datasets (``ArrayDataset``) are map-style and also
have ``get_batch(indices, generator)``, which the DataLoader calls once a batch instead of once
an image; Subset and ConcatDataset keep that fast path when every dataset under them has it.
"""

import bisect
import math
import warnings

import numpy as np

from minicnn.random import default_generator

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__`` (and usually ``__len__``).
    ``a + b`` is ``ConcatDataset([a, b])``."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """An iterable-style dataset: subclasses define ``__iter__``. Under a DataLoader with
    ``num_workers > 0`` every worker iterates its own copy; ``get_worker_info()`` tells each one
    which part to yield. ``a + b`` is ``ChainDataset([a, b])``."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are ``tuple(tensor[i] for tensor in tensors)``; every tensor (or array) has the
    same first dimension. Raises ValueError when they differ."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        if any(len(tensor) != len(tensors[0]) for tensor in tensors):
            raise ValueError(f"Size mismatch between tensors: first dimensions "
                             f"{[len(tensor) for tensor in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (a sequence of ints): ``subset[i]`` is
    ``dataset[indices[i]]``. Attributes ``dataset`` and ``indices``, as PyTorch's. Over a
    minicnn image dataset it also has ``images``, ``labels`` (copies taken at each access),
    ``classes``, ``transform`` and the loader's ``get_batch``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._positions = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)

    @property
    def get_batch(self):
        """The dataset's ``get_batch`` on this subset's positions (AttributeError when the
        dataset has none, so that ``hasattr(subset, "get_batch")`` says whether it has)."""
        get_batch = self.dataset.get_batch

        def subset_batch(indices, generator=None):
            return get_batch(self._positions[np.asarray(indices, dtype=np.int64)], generator)
        return subset_batch

    @property
    def images(self):
        return self.dataset.images[self._positions]

    @property
    def labels(self):
        return self.dataset.labels[self._positions]

    @property
    def classes(self):
        return self.dataset.classes

    @property
    def transform(self):
        return self.dataset.transform

    def __repr__(self):
        return f"Subset of {len(self)} samples of {type(self.dataset).__name__}"


class ConcatDataset(Dataset):
    """The samples of ``datasets`` one after another. ``cumulative_sizes[k]`` is the number of
    samples in the first k + 1 datasets. Raises ValueError for an empty list, TypeError for an
    IterableDataset (use ChainDataset)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for dataset in self.datasets:
            if isinstance(dataset, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def _locate(self, index):
        """(dataset number, index inside it) of the sample ``index`` of the concatenation."""
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} "
                             f"samples")
        return which, index - (self.cumulative_sizes[which - 1] if which else 0)

    def __getitem__(self, index):
        which, inner = self._locate(index)
        return self.datasets[which][inner]

    @property
    def get_batch(self):
        """One ``get_batch`` over every dataset (each must have one, else AttributeError): the
        batch's positions are split by dataset, read, and put back in the batch's order."""
        readers = [dataset.get_batch for dataset in self.datasets]

        def concat_batch(indices, generator=None):
            indices = np.asarray(indices, dtype=np.int64)
            which = np.searchsorted(self.cumulative_sizes, indices, side="right")
            starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
            images, labels = [], []
            order = np.argsort(which, kind="stable")
            for k in np.unique(which):
                part = indices[which == k] - starts[k]
                part_images, part_labels = readers[k](part, generator)
                images.append(part_images)
                labels.append(part_labels)
            back = np.argsort(order, kind="stable")   # from dataset order to batch order
            return np.concatenate(images)[back], np.concatenate(labels)[back]
        return concat_batch


class ChainDataset(IterableDataset):
    """The samples of the iterable ``datasets`` one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for dataset in self.datasets:
            if not isinstance(dataset, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from dataset

    def __len__(self):
        return sum(len(dataset) for dataset in self.datasets)


def _numpy_generator(generator):
    """The NumPy Generator behind ``generator`` (None: minicnn's default generator)."""
    if generator is None:
        return default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be None or a numpy Generator (mc.manual_seed returns one), "
                    f"got {type(generator).__name__}")


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into Subsets of ``lengths``: ints summing to ``len(dataset)``
    or fractions summing to 1 (floored, the remainder handed out one at a time from the first
    subset on, as PyTorch). The permutation is drawn from ``generator`` (a numpy Generator;
    None: minicnn's default). Raises ValueError when the lengths do not add up."""
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(len(dataset) * fraction)))
        for i in range(len(dataset) - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              f"empty dataset.", stacklevel=2)
        lengths = counts
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    permutation = _numpy_generator(generator).permutation(len(dataset)).tolist()
    offsets = np.cumsum(lengths).tolist()
    return [Subset(dataset, permutation[offset - length:offset])
            for offset, length in zip(offsets, lengths)]

