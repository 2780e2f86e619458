"""DataLoader: batches of a dataset, shuffled with a seed, prepared in a background thread.

Everything random in an epoch is a function of (seed, epoch, batch index): the shuffle order
comes from a generator seeded with (seed, epoch) and the augmentation of batch b from one seeded
with (seed, epoch, b). So a run is repeatable, the prefetch thread may prepare batches ahead
without changing them, and ``state_dict()`` (three integers) resumes an interrupted epoch at
the exact next batch.
"""

import queue
import threading

import numpy as np

from minicnn.data.transforms import call_transform
from minicnn.random import default_generator

_QUEUE_SIZE = 2  # batches prepared ahead of the one being trained on
_POLL_SECONDS = 0.1  # how often a blocked producer checks that the consumer is still there


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``: each batch is (images float32
    numpy array (n, C, H, W), labels int64 numpy array (n,)).

    shuffle: a new order every epoch, drawn from ``seed``; sampler: instead of shuffle, an
    iterable of dataset indices that gives the order (a ``DistributedSampler``: this rank's
    shard; the loader calls its ``set_epoch(epoch)`` before each epoch, so a resumed run gets
    the same orders); drop_last: skip the last, smaller batch; seed: an int (None: drawn from
    minicnn's default generator, so ``mc.manual_seed`` makes it repeatable); transform:
    applied to each whole batch after the dataset's own transform; prefetch: prepare the next
    batches in a background thread.

    The dataset needs ``len()`` and either ``get_batch(indices, generator)`` (minicnn datasets:
    one vectorised call per batch) or ``dataset[i] -> (image, label)``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, *, drop_last=False,
                 seed=None, transform=None, prefetch=True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(default_generator().integers(2**63)) if seed is None else int(seed)
        self.transform = transform
        self.prefetch = prefetch
        self.epoch = 0          # the epoch that the next iteration runs
        self._start_batch = 0   # where the next iteration starts in it (set when resuming)
        self._position = None   # (epoch, batches consumed) of the iteration in progress

    def __len__(self):
        samples = len(self.dataset if self.sampler is None else self.sampler)
        if self.drop_last:
            return samples // self.batch_size
        return -(-samples // self.batch_size)

    # ---------------------------------------------------------------- state, for resuming
    def state_dict(self):
        """{"seed", "epoch", "batch"}: the next batch that iteration will yield. Taken inside
        the loop after a batch was trained, it points at the batch after it; taken after a
        complete epoch, at the first batch of the next one."""
        if self._position is not None:
            epoch, batch = self._position
            if batch < len(self):
                return {"seed": self.seed, "epoch": epoch, "batch": batch}
            return {"seed": self.seed, "epoch": epoch + 1, "batch": 0}
        return {"seed": self.seed, "epoch": self.epoch, "batch": self._start_batch}

    def load_state_dict(self, state):
        """Continue from ``state`` (from state_dict): the next iteration starts there.
        ValueError naming the field unless it holds integers: seed and epoch >= 0, and a batch
        of this loader (0 <= batch < len(self))."""
        if not isinstance(state, dict) or set(state) != {"seed", "epoch", "batch"}:
            raise ValueError(f"loader state must be a dict with the keys 'seed', 'epoch' and "
                             f"'batch', got {state!r:.80}")
        for name, high in (("seed", 2**128), ("epoch", 2**62), ("batch", len(self))):
            value = state[name]
            if type(value) is not int or not 0 <= value < high:
                raise ValueError(f"loader state {name}: expected an integer in [0, {high}), "
                                 f"got {value!r:.60}")
        self.seed, self.epoch, self._start_batch = state["seed"], state["epoch"], state["batch"]
        self._position = None

    # ---------------------------------------------------------------- the batches
    def order(self, epoch):
        """The dataset indices of ``epoch``, in the order batches take them."""
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(epoch)
            return np.fromiter(self.sampler, dtype=np.int64)
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch, 0]).permutation(len(self.dataset))
        return np.arange(len(self.dataset))

    def _make_batch(self, epoch, batch, indices):
        generator = np.random.default_rng([self.seed, epoch, 1, batch])
        if hasattr(self.dataset, "get_batch"):
            images, labels = self.dataset.get_batch(indices, generator)
        else:
            items = [self.dataset[int(i)] for i in indices]
            images = np.stack([np.asarray(image, dtype=np.float32) for image, _ in items])
            labels = np.array([label for _, label in items], dtype=np.int64)
        if self.transform is not None:
            images = call_transform(self.transform, images, generator)
        return images, labels

    def _batches(self, epoch, start):
        order = self.order(epoch)
        for batch in range(start, len(self)):
            indices = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            yield self._make_batch(epoch, batch, indices)

    def __iter__(self):
        epoch, start = self.epoch, self._start_batch
        self.epoch, self._start_batch = epoch + 1, 0
        self._position = (epoch, start)
        batches = self._batches(epoch, start)
        if self.prefetch:
            batches = _prefetched(batches)
        try:
            for batch_index, batch in enumerate(batches, start):
                self._position = (epoch, batch_index + 1)  # counted once handed out
                yield batch
        finally:
            batches.close()

    def __repr__(self):
        return (f"DataLoader(batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, prefetch={self.prefetch}, "
                f"{len(self)} batches)")


class _Stop(Exception):
    """The consumer went away; the producer thread stops."""


def _prefetched(batches):
    """Yield the items of the generator ``batches``, computed in a background thread at most
    _QUEUE_SIZE items ahead. An exception in the thread is raised here; closing this generator
    (a ``break`` in the consumer's loop) stops the thread."""
    items = queue.Queue(maxsize=_QUEUE_SIZE)
    stop = threading.Event()
    done = object()

    def put(item):
        while True:
            if stop.is_set():
                raise _Stop
            try:
                items.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def produce():
        try:
            for item in batches:
                put((item, None))
            put((done, None))
        except _Stop:
            pass
        except BaseException as error:  # noqa: BLE001  (handed to the consumer, raised there)
            try:
                put((None, error))
            except _Stop:
                pass
        finally:
            batches.close()

    thread = threading.Thread(target=produce, name="minicnn-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
