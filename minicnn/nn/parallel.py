"""DistributedDataParallel: the same model on every rank, its gradients averaged over the ranks.

    import minicnn.distributed as dist
    model = nn.parallel.DistributedDataParallel(model)    # after model.to(device)
    for images, labels in loader:                         # a DistributedSampler shards the data
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward() # returns with averaged gradients
        optimizer.step()                                  # identical update on every rank

As PyTorch's (Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel
Training", VLDB 2020): at construction rank 0's parameters and buffers are copied to every rank;
the parameters are grouped, in the reverse order of ``module.parameters()`` (roughly the order
their gradients are ready in the backward pass), into buckets of at most ``bucket_cap_mb``; a
hook on each parameter (``Tensor.register_post_accumulate_grad_hook``) copies its gradient into
its bucket, and a full bucket starts a non-blocking sum over the ranks (``MPI_Iallreduce``)
while the backward pass goes on with the layers below. Buckets start in index order on every
rank, so the ranks issue the same collectives in the same order. When the last bucket has
started, the hook waits for all of them and writes the averages (sum / world size) back into
``param.grad``: ``backward()`` returns with the gradients of the mean loss over the global batch.

MPICH moves a non-blocking collective forward only inside MPI calls; each hook tests the
buckets in flight to drive them. ``MPIR_CVAR_ASYNC_PROGRESS=1`` gives MPICH a progress thread.

Batch norm: each rank normalises with its own batch's statistics, and with
``broadcast_buffers=True`` (the default) rank 0's buffers (running mean and variance) are copied
to every rank before each training forward, so all ranks evaluate with rank 0's running
statistics. ``nn.SyncBatchNorm.convert_sync_batchnorm(model)`` normalises with the statistics of
the global batch instead.

``find_unused_parameters=True``: each training forward walks the autograd graph from the
outputs and marks the parameters it does not reach as ready, so that a model which skips
layers (stochastic depth, auxiliary heads) still completes its buckets; a parameter that no
rank used keeps ``grad`` None, as in PyTorch. Without it, such a model raises RuntimeError at
the next forward.
"""

import zlib

import numpy as np

from minicnn import distributed
from minicnn.autograd import Tensor, is_grad_enabled
from minicnn.backend import get_array_module
from minicnn.nn.data_parallel import DataParallel  # noqa: F401  (torch.nn.parallel.DataParallel)
from minicnn.nn.modules.module import Module

__all__ = ["DataParallel", "DistributedDataParallel"]


class _Bucket:
    """Gradients of consecutive parameters (one dtype) in one flat host array."""

    def __init__(self, params, dtype):
        self.params = params
        sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.buffer = np.zeros(int(self.offsets[-1]), dtype=dtype)
        self.used = np.zeros(len(params), dtype=np.int32)   # parameters that got a gradient
        self.ready = 0
        self.work = None
        self.used_work = None

    def view(self, index):
        return self.buffer[self.offsets[index]:self.offsets[index + 1]]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (see the module docstring).

    module: the model, already on its device and dtype; ``.module`` returns it.
    broadcast_buffers: copy rank 0's buffers to all ranks before each training forward.
    bucket_cap_mb: the largest bucket, in MiB (PyTorch's default 25).
    find_unused_parameters: allow parameters that get no gradient in a pass.

    Raises ValueError when the ranks' models differ in parameter shapes or dtypes (caught by
    comparing a fingerprint over the ranks before the first broadcast).
    """

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25,
                 find_unused_parameters=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got "
                            f"{type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.world_size = distributed.world_size()
        params = [p for p in module.parameters() if p.requires_grad]
        self._check_same_model(params)
        for tensor in list(module.parameters()) + list(module.buffers()):
            self._broadcast(tensor)
        self._buckets = self._make_buckets(params, bucket_cap_mb * 2**20)
        self._where = {}            # id(param) -> (bucket, index in bucket)
        for bucket in self._buckets:
            for index, param in enumerate(bucket.params):
                self._where[id(param)] = (bucket, index)
                param.register_post_accumulate_grad_hook(self._grad_ready)
        self._reducing = False      # between a training forward and the end of its backward
        self._next_bucket = 0       # the first bucket whose reduction has not started

    # ----- set-up -------------------------------------------------------------------------------
    def _check_same_model(self, params):
        layout = repr([(p.shape, str(p.dtype)) for p in params]).encode()
        fingerprint = np.array([zlib.crc32(layout)], dtype=np.int64)
        everyone = distributed.all_gather(fingerprint)
        if (everyone != fingerprint).any():
            raise ValueError("DistributedDataParallel: the ranks' models differ in their "
                             "parameters' shapes or dtypes; every rank must build the same model")

    @staticmethod
    def _broadcast(tensor):
        """Rank 0's values into ``tensor`` on every rank (through a host copy on a GPU)."""
        xp = get_array_module(tensor.array)
        host = np.ascontiguousarray(tensor.numpy())
        distributed.broadcast(host, src=0)
        tensor.array[...] = xp.asarray(host)

    @staticmethod
    def _make_buckets(params, capacity_bytes):
        buckets, current = [], []
        for param in reversed(params):
            if current and (param.dtype != current[0].dtype or
                            sum(p.array.nbytes for p in current) + param.array.nbytes
                            > capacity_bytes):
                buckets.append(_Bucket(current, current[0].dtype))
                current = []
            current.append(param)
        if current:
            buckets.append(_Bucket(current, current[0].dtype))
        return buckets

    # ----- forward ------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self.training and self.broadcast_buffers:
            for buffer in self.module.buffers():
                self._broadcast(buffer)
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.training:
            self._prepare_for_backward(output)
        return output

    def _prepare_for_backward(self, output):
        if self._reducing:
            raise RuntimeError(
                "DistributedDataParallel: the previous backward pass did not give every "
                "parameter a gradient, so its reduction never finished. Pass "
                "find_unused_parameters=True if the model skips some parameters in a pass, and "
                "call backward() once after each forward.")
        for i, bucket in enumerate(self._buckets):
            if bucket.buffer.dtype != bucket.params[0].dtype:    # model.double() after wrapping
                self._buckets[i] = bucket = _Bucket(bucket.params, bucket.params[0].dtype)
                for index, param in enumerate(bucket.params):
                    self._where[id(param)] = (bucket, index)
            bucket.ready, bucket.work, bucket.used_work = 0, None, None
            bucket.used[...] = 0
        self._reducing, self._next_bucket = bool(self._buckets), 0
        if self.find_unused_parameters:
            reached = _leaves_reached(output)
            for bucket in self._buckets:
                for param in bucket.params:
                    if id(param) not in reached:
                        self._mark_ready(bucket)

    # ----- the reduction, driven by the backward pass -------------------------------------------
    def _grad_ready(self, param):
        if not self._reducing:
            return      # a backward without a training forward through this wrapper
        bucket, index = self._where[id(param)]
        bucket.view(index)[...] = np.asarray(param.grad.numpy()).reshape(-1)
        bucket.used[index] = 1
        self._mark_ready(bucket)

    def _mark_ready(self, bucket):
        bucket.ready += 1
        for started in self._buckets[:self._next_bucket]:
            started.work.is_completed()      # lets MPI move the reductions in flight forward
        buckets = self._buckets
        while self._next_bucket < len(buckets) and \
                buckets[self._next_bucket].ready == len(buckets[self._next_bucket].params):
            self._start(buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(buckets):
            self._finish()

    def _start(self, bucket):
        for index, used in enumerate(bucket.used):
            if not used:
                bucket.view(index)[...] = 0
        bucket.work = distributed.all_reduce(bucket.buffer, async_op=True)
        if self.find_unused_parameters:
            bucket.used_work = distributed.all_reduce(bucket.used.copy(), async_op=True)

    def _finish(self):
        """Wait for every bucket; param.grad = sum over ranks / world size."""
        for bucket in self._buckets:
            bucket.work.wait()
            used = bucket.used_work.wait() if bucket.used_work is not None else bucket.used
            bucket.buffer /= self.world_size
            for index, param in enumerate(bucket.params):
                if not used[index]:
                    continue
                xp = get_array_module(param.array)
                average = xp.asarray(bucket.view(index).reshape(param.shape))
                if param.grad is None:
                    param.grad = Tensor(average.copy())
                else:
                    param.grad.array[...] = average
        self._reducing = False

    def extra_repr(self):
        return (f"world_size={self.world_size}, {len(self._buckets)} gradient bucket(s), "
                f"broadcast_buffers={self.broadcast_buffers}, "
                f"find_unused_parameters={self.find_unused_parameters}")


def _leaves_reached(outputs):
    """ids of the leaf tensors from which the graph of ``outputs`` (a Tensor, or a tuple / list /
    dict of them, as GoogLeNet returns) is computed."""
    stack = [outputs]
    tensors = []
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            tensors.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
    reached, seen = set(), set()
    functions = [t.grad_fn for t in tensors if t.grad_fn is not None]
    while functions:
        fn = functions.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for parent, _ in fn.next_functions:     # a leaf that requires grad, a Function, or None
            if isinstance(parent, Tensor):
                reached.add(id(parent))
            elif parent is not None:
                functions.append(parent)
    return reached
