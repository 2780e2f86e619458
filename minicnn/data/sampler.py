"""Samplers: the order in which a DataLoader takes a dataset's indices, as PyTorch's
``torch.utils.data`` samplers (SequentialSampler, RandomSampler, SubsetRandomSampler,
WeightedRandomSampler, BatchSampler), and DistributedSampler: each rank's shard of a dataset,
for data-parallel training. Random samplers draw from NumPy generators, so the orders differ
from PyTorch's; the rules (lengths, replacement, drop_last) are PyTorch's."""

import math
import numbers

import numpy as np

from minicnn import distributed
from minicnn.data.dataset import _numpy_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler"]


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices) and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _epoch_generator(generator):
    """A generator for one pass: seeded from ``generator`` (None: minicnn's default), so each
    pass draws a new order and ``mc.manual_seed`` makes the passes repeatable."""
    return np.random.default_rng(int(_numpy_generator(generator).integers(2**63)))


class RandomSampler(Sampler):
    """A random permutation of the indices (``replacement=False``; ``num_samples`` beyond the
    dataset's length repeats whole permutations, then part of one), or ``num_samples`` indices
    drawn uniformly with replacement. Raises TypeError for a non-bool replacement, ValueError
    for a num_samples that is not a positive int."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        if not isinstance(self.num_samples, numbers.Integral) or \
                isinstance(self.num_samples, bool) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        size, rng = len(self.data_source), _epoch_generator(self.generator)
        if self.replacement:
            return iter(rng.integers(0, size, size=self.num_samples).tolist())
        whole, part = divmod(self.num_samples, size)
        order = [rng.permutation(size) for _ in range(whole)] + [rng.permutation(size)[:part]]
        return iter(np.concatenate(order).tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order, a new one each pass."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        order = _epoch_generator(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in order])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in [0, len(weights)) drawn with probabilities proportional to
    ``weights`` (with or without replacement). Raises ValueError for a num_samples that is not
    a positive int, or weights that are not a 1-d sequence of non-negative numbers."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, numbers.Integral) or isinstance(num_samples, bool) or \
                num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1 or np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError(f"weights should be a 1-d sequence of non-negative numbers with a "
                             f"positive sum, got shape {weights.shape}")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError("cannot sample n_sample > prob_dist.size(-1) samples without "
                             "replacement")
        self.weights, self.num_samples = weights, int(num_samples)
        self.replacement, self.generator = replacement, generator

    def __iter__(self):
        drawn = _epoch_generator(self.generator).choice(
            len(self.weights), size=self.num_samples, replace=self.replacement,
            p=self.weights / self.weights.sum())
        return iter(drawn.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last, smaller one is dropped when
    ``drop_last``. Raises ValueError for a batch_size that is not a positive int or a
    drop_last that is not a bool."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or \
                batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"DistributedSampler: {name} must be an int, got {value!r}")
    return int(value)


class DistributedSampler(Sampler):
    """The dataset indices of one rank, as PyTorch's ``DistributedSampler``: iterating yields
    ``num_samples`` indices, and the shards of the ``num_replicas`` ranks are disjoint.

    The indices of an epoch are a permutation of ``range(len(dataset))`` drawn from
    ``seed + epoch`` (the same on every rank; ``shuffle=False``: in order). Unless ``drop_last``,
    that list is padded with its own first indices up to a multiple of ``num_replicas`` (so a
    few images count twice per epoch); with ``drop_last`` its tail is cut to a multiple instead.
    Rank r takes the entries r, r + num_replicas, r + 2 num_replicas, ... The permutation comes
    from NumPy's generator, so the orders differ from PyTorch's; the rules above are PyTorch's.

    num_replicas, rank: default to ``minicnn.distributed.world_size()`` and ``rank()``.
    Call ``set_epoch(epoch)`` before each epoch for a new order (minicnn's DataLoader does it).
    Raises ValueError for a rank outside [0, num_replicas - 1] or num_replicas < 1, TypeError
    for a num_replicas, rank or seed that is not an int.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        num_replicas = distributed.world_size() if num_replicas is None \
            else _count(num_replicas, "num_replicas")
        rank = distributed.rank() if rank is None else _count(rank, "rank")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, _count(seed, "seed"), drop_last
        self.epoch = 0
        size = len(dataset)
        if drop_last and size % num_replicas != 0:
            self.num_samples = math.ceil((size - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(size / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Shuffle the next iteration with ``seed + epoch``."""
        self.epoch = _count(epoch, "epoch")

    def indices(self):
        """This rank's indices for the current epoch: int64 array of length num_samples."""
        size = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(size)
        else:
            order = np.arange(size)
        if self.drop_last:
            order = order[:self.total_size]
        else:
            padding = self.total_size - size
            order = np.concatenate([order, np.resize(order, padding)])
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
                f"{self.num_samples} samples)")
