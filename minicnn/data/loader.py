"""DataLoader: batches of a dataset as Tensors, with PyTorch's arguments.

    loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2)
    for images, labels in loader:       # Tensors, collated as torch's default_collate does
        ...

Two ways to make a batch. A minicnn image dataset (one with ``get_batch(indices, generator)``,
as ArrayDataset, CIFAR10, MNIST and their Subsets) is read in one vectorised call per batch and
yields ``[images float32 (n, C, H, W), labels int64 (n,)]``: what ``default_collate`` makes of
its samples, without a Python loop over them. Any other dataset is read sample by sample and
the samples are merged by ``collate_fn`` (``default_collate``).

Everything random in an epoch is a function of (seed, epoch, batch index): the shuffle order
comes from a generator seeded with (seed, epoch), the augmentation of batch b (the generator
handed to ``get_batch``) from one seeded with (seed, epoch, b), and the worker processes' seeds
from (seed, epoch). So a run is repeatable, prefetching (a background thread, or worker
processes) does not change the batches, and ``state_dict()`` (three integers) resumes an
interrupted epoch at the exact next batch.
"""

import itertools
import numbers
import queue
import threading

import numpy as np

from minicnn.autograd import Tensor
from minicnn.data.collate import default_collate, default_convert
from minicnn.data.dataset import IterableDataset, _numpy_generator
from minicnn.data.transforms import call_transform
from minicnn.data.worker import ExceptionWrapper, IterableEnd, WorkerPool

_QUEUE_SIZE = 2  # batches the prefetch thread prepares ahead of the one being trained on
_POLL_SECONDS = 0.1  # how often a blocked producer checks that the consumer is still there


def _positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


class _Fetcher:
    """Makes one batch; the same object runs in the main process and in every worker."""

    def __init__(self, dataset, batching, batch_size, drop_last, collate_fn, transform, seed):
        self.dataset, self.batching = dataset, batching
        self.batch_size, self.drop_last = batch_size, drop_last
        self.iterable = isinstance(dataset, IterableDataset)
        self.collate_fn = collate_fn
        self.transform, self.seed = transform, seed
        # minicnn's vectorised path: only under the default collation it reproduces
        self.whole_batches = (collate_fn is default_collate and not self.iterable
                              and hasattr(dataset, "get_batch"))

    def fetch(self, epoch, batch, indices):
        """The batch ``batch`` of ``epoch``: the samples at ``indices``, collated (a single
        index without batching: the sample, converted)."""
        if hasattr(self.dataset, "set_epoch"):     # e.g. AlternatingFlip
            self.dataset.set_epoch(epoch)
        if not self.batching:
            return self.collate_fn(self.dataset[indices])
        if self.whole_batches:
            generator = np.random.default_rng([self.seed, epoch, 1, batch])
            images, labels = self.dataset.get_batch(np.asarray(indices, dtype=np.int64),
                                                    generator)
            if self.transform is not None:
                images = call_transform(self.transform, images, generator)
            return [Tensor(images, dtype=images.dtype), Tensor(labels, dtype=labels.dtype)]
        if hasattr(self.dataset, "__getitems__"):
            samples = self.dataset.__getitems__(indices)
        else:
            samples = [self.dataset[index] for index in indices]
        return self.collate_fn(samples)

    def next_batch(self, iterator):
        """The next batch from an iterable dataset's ``iterator``; StopIteration at its end."""
        if not self.batching:
            return self.collate_fn(next(iterator))
        samples = list(itertools.islice(iterator, self.batch_size))
        if not samples or (self.drop_last and len(samples) < self.batch_size):
            raise StopIteration
        return self.collate_fn(samples)


class DataLoader:
    """Iterate over ``dataset`` in batches, as ``torch.utils.data.DataLoader``.

    batch_size: samples a batch (None: no batching, each sample converted by
    ``default_convert``); shuffle: a new order every epoch; sampler: an iterable of indices
    that gives the order instead (a ``DistributedSampler``: this rank's shard; the loader calls
    a sampler's ``set_epoch(epoch)`` before each epoch); batch_sampler: an iterable of lists
    of indices, instead of batch_size, shuffle, sampler and drop_last; drop_last: skip the last,
    smaller batch; collate_fn: merges a list of samples (default ``default_collate``);
    num_workers: load in that many worker processes (see ``minicnn.data.worker``), with
    prefetch_factor batches ahead of each (default 2), worker_init_fn(worker_id) called in
    each, multiprocessing_context ("fork", "spawn", "forkserver" or a context), timeout seconds
    to wait for a batch (0: for ever), persistent_workers: keep the workers between epochs;
    in_order=False: yield batches as workers finish them; pin_memory, pin_memory_device:
    accepted, nothing to do on the CPU; generator: a numpy Generator the seed is drawn from.

    minicnn's own: seed (an int; None: drawn from ``generator``, or from minicnn's default
    generator, so ``mc.manual_seed`` makes it repeatable); transform: applied to the images of
    each whole batch, for datasets with ``get_batch``; prefetch: prepare the next batches of
    such a dataset in a background thread when num_workers is 0.

    Raises ValueError for arguments PyTorch refuses (with its messages).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True, seed=None, transform=None, prefetch=True):
        iterable = isinstance(dataset, IterableDataset)
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if prefetch_factor is not None and not _positive_int(prefetch_factor):
            raise ValueError(f"prefetch_factor option should be a positive integer, got "
                             f"{prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is "
                                 "mutually exclusive with drop_last")
        elif not _positive_int(batch_size):
            raise ValueError(f"batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size!r}")
        batching = batch_size is not None or batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if batching else default_convert
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle, self.sampler, self.batch_sampler = bool(shuffle), sampler, batch_sampler
        self.drop_last, self.collate_fn = drop_last, collate_fn
        self.num_workers, self.timeout = int(num_workers), timeout
        self.prefetch_factor = 2 if num_workers > 0 and prefetch_factor is None \
            else prefetch_factor
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.persistent_workers, self.in_order = persistent_workers, in_order
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        self.generator = generator
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = int(_numpy_generator(generator).integers(2**63)) if seed is None \
            else int(seed)
        self.transform = transform
        self.prefetch = prefetch
        self._fetcher = _Fetcher(dataset, batching, self.batch_size, drop_last, collate_fn,
                                 transform, self.seed)
        if transform is not None and not self._fetcher.whole_batches:
            raise ValueError("DataLoader: transform= needs a minicnn image dataset (with "
                             "get_batch) and the default collate_fn; give other datasets "
                             "their transform themselves")
        self._pool = None       # the worker processes, kept between epochs if persistent
        self.epoch = 0          # the epoch that the next iteration runs
        self._start_batch = 0   # where the next iteration starts in it (set when resuming)
        self._position = None   # (epoch, batches consumed) of the iteration in progress

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        samples = len(self.dataset if self.sampler is None else self.sampler)
        if self.batch_size is None:
            return samples
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
            if self._fetcher.iterable or batch < len(self):
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
        self._fetcher.seed = self.seed
        self._position = None
        self._shutdown_workers()     # persistent workers hold the old seed

    def _shutdown_workers(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # ---------------------------------------------------------------- the batches
    def order(self, epoch):
        """The dataset indices of ``epoch``, in the order batches take them (a list)."""
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(epoch)
            return list(self.sampler)
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch, 0]).permutation(
                len(self.dataset)).tolist()
        return list(range(len(self.dataset)))

    def _index_batches(self, epoch, start):
        """(batch number, indices) of ``epoch`` from batch ``start`` on; the indices are a list,
        or one index when batch_size is None."""
        if self.batch_sampler is not None:
            if hasattr(self.batch_sampler, "set_epoch"):
                self.batch_sampler.set_epoch(epoch)
            batches = enumerate(self.batch_sampler)
            return itertools.islice(batches, start, None)
        order = self.order(epoch)
        if self.batch_size is None:
            return itertools.islice(enumerate(order), start, None)
        return ((batch, order[batch * self.batch_size:(batch + 1) * self.batch_size])
                for batch in range(start, len(self)))

    def _single_process(self, epoch, start):
        if self._fetcher.iterable:
            yield from itertools.islice(self._iterable_batches(), start, None)
            return
        for batch, indices in self._index_batches(epoch, start):
            yield self._fetcher.fetch(epoch, batch, indices)

    def _iterable_batches(self):
        iterator = iter(self.dataset)
        while True:
            try:
                batch = self._fetcher.next_batch(iterator)
            except StopIteration:
                return
            yield batch

    def _multi_process(self, epoch, start):
        """The batches of ``epoch`` from batch ``start`` on, made by the worker processes."""
        pool = self._pool
        if pool is None:
            base_seed = int(np.random.default_rng([self.seed, epoch, 2]).integers(2**62))
            pool = WorkerPool(self._fetcher, self.num_workers, base_seed, self.worker_init_fn,
                              self.multiprocessing_context)
            if self.persistent_workers:
                self._pool = pool
        iteration = pool.new_iteration()
        if self._fetcher.iterable:
            tasks = ((batch, None) for batch in itertools.count())
        else:
            tasks = self._index_batches(epoch, start)
        active = list(range(self.num_workers))   # workers whose iterable is not exhausted
        outstanding = {}                         # send index -> worker, in the order sent
        received = {}                            # send index -> data, not yet yielded
        turn, send_indices = itertools.count(), itertools.count()

        def send_next():
            task = next(tasks, None) if active else None
            if task is not None:
                worker, send_index = active[next(turn) % len(active)], next(send_indices)
                pool.send(worker, (iteration, send_index, epoch, *task))
                outstanding[send_index] = worker

        try:
            for _ in range(self.prefetch_factor * self.num_workers):
                send_next()
            skipped = 0
            while outstanding:
                wanted = next(iter(outstanding)) if self.in_order else \
                    next((index for index in outstanding if index in received), None)
                if wanted is None or wanted not in received:
                    task_iteration, send_index, data = pool.receive(self.timeout)
                    if task_iteration == iteration:
                        received[send_index] = data
                    continue
                data = received.pop(wanted)
                del outstanding[wanted]
                if isinstance(data, IterableEnd) and data.worker_id in active:
                    active.remove(data.worker_id)
                send_next()
                if isinstance(data, IterableEnd):
                    continue
                if isinstance(data, ExceptionWrapper):
                    data.reraise()
                if skipped < start and self._fetcher.iterable:
                    skipped += 1
                    continue
                yield data
        finally:
            if pool is not self._pool:
                pool.shutdown()

    def __iter__(self):
        epoch, start = self.epoch, self._start_batch
        self.epoch, self._start_batch = epoch + 1, 0
        self._position = (epoch, start)
        if self.num_workers > 0:
            batches = self._multi_process(epoch, start)
        else:
            batches = self._single_process(epoch, start)
            if self.prefetch and self._fetcher.whole_batches:
                batches = _prefetched(batches)
        try:
            for batch_index, batch in enumerate(batches, start):
                self._position = (epoch, batch_index + 1)  # counted once handed out
                yield batch
        finally:
            batches.close()

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._shutdown_workers()

    def __repr__(self):
        return (f"DataLoader(batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers}, seed={self.seed}, "
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
