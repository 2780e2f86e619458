"""DistributedSampler: each rank's shard of a dataset, for data-parallel training."""

import math

import numpy as np

from minicnn import distributed

__all__ = ["DistributedSampler"]


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"DistributedSampler: {name} must be an int, got {value!r}")
    return int(value)


class DistributedSampler:
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
