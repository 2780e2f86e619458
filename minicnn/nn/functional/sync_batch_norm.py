"""Batch normalisation over the global batch of data-parallel training (SyncBatchNorm).

Each rank holds a shard of the batch. The forward pass gathers every rank's per-channel count,
mean and sum of squared deviations and combines them exactly (Chan, Golub and LeVeque, "Updating
formulae and a pairwise algorithm for computing sample variances", 1979); the backward pass sums
the two per-channel reductions that the input gradient needs over the ranks. Every rank sees the
same statistics, so the result is the batch norm of the concatenated batch.
"""

import numpy as np

from minicnn import distributed
from minicnn.autograd import Function, raw
from minicnn.backend import get_array_module
from minicnn.backend.reference import CHANNEL_AXES
from minicnn.nn.functional.norm import _as_planes, batch_norm, check_batch_norm

__all__ = ["sync_batch_norm"]

def _host(array):
    """A float64 NumPy copy (collectives run on host memory)."""
    xp = get_array_module(array)
    return np.asarray(array if xp is np else xp.asnumpy(array), dtype=np.float64)


class SyncBatchNorm(Function):
    def forward(self, x, weight, bias, running_mean, running_var, momentum, eps):
        xp = get_array_module(x)
        planes = _as_planes(x)
        C = planes.shape[1]
        count = planes.size // C
        mean = planes.mean(axis=CHANNEL_AXES) if count else xp.zeros(C, dtype=x.dtype)
        centered = planes - mean[:, None, None]
        squares = (centered * centered).sum(axis=CHANNEL_AXES)
        local = np.concatenate([[count], _host(mean), _host(squares)])
        everyone = distributed.all_gather(local)                      # (ranks, 1 + 2C)
        counts, means, squares = everyone[:, :1], everyone[:, 1:C + 1], everyone[:, C + 1:]
        total = counts.sum()
        if total <= 1:
            raise ValueError(f"sync_batch_norm: expected more than 1 value per channel over the "
                             f"ranks when training, got {int(total)}")
        global_mean = (counts * means).sum(axis=0) / total
        sum_squares = (squares + counts * (means - global_mean) ** 2).sum(axis=0)
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * xp.asarray(global_mean)
            running_var[...] = ((1 - momentum) * running_var
                                + momentum * xp.asarray(sum_squares / (total - 1)))
        mean = xp.asarray(global_mean.astype(x.dtype))
        # normalising with fixed statistics is the inference kernel's affine map
        y, invstd = self.kernels.batch_norm_inference_forward(
            planes, mean, xp.asarray((sum_squares / total).astype(x.dtype)), weight, bias, eps)
        self.total = total
        self.save_for_backward(planes, weight, mean, invstd)
        return y.reshape(x.shape)

    def backward(self, grad_y):
        # xhat = (x - mean) * invstd over the M values per channel of all ranks; sum_all over
        # all ranks, sum over this rank's (N, C, *) shard:
        # dx = invstd / M * w * (M dy - sum_all(dy) - xhat sum_all(dy xhat))  (N, C, *)
        # dw = sum(dy xhat) (C,) ; db = sum(dy) (C,): this rank's terms, which
        # DistributedDataParallel then averages over the ranks like every other gradient
        planes, weight, mean, invstd = self.saved
        xp = get_array_module(planes)
        # term 1, dy * w * invstd, and this rank's sums, from the inference kernel's backward
        term1, sum_dy_xhat, sum_dy = self.kernels.batch_norm_inference_backward(
            _as_planes(grad_y), planes, mean, invstd, weight)
        C = sum_dy.shape[0]
        totals = distributed.all_reduce(np.concatenate([_host(sum_dy), _host(sum_dy_xhat)]))
        scale = invstd if weight is None else invstd * weight
        # terms 2 and 3: w invstd mean_all(dy) + w invstd mean_all(dy xhat) xhat, per channel
        shift = xp.asarray((totals[:C] / self.total).astype(planes.dtype)) * scale
        slope = xp.asarray((totals[C:] / self.total).astype(planes.dtype)) * scale * invstd
        centered = planes - mean[:, None, None]
        grad_x = term1 - shift[:, None, None] - slope[:, None, None] * centered
        return grad_x.reshape(grad_y.shape), sum_dy_xhat, sum_dy


def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5):
    """``F.batch_norm`` (same arguments, checks and errors) whose training statistics are those
    of the batch over every rank of ``minicnn.distributed``: each rank passes its shard
    (N_r, C, *). Outside training, and in a world of one, it is ``F.batch_norm``. Every rank must
    call it in the same order (it runs a collective forward and backward)."""
    if not training or distributed.world_size() == 1:
        return batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                          eps)
    eps = check_batch_norm("sync_batch_norm", input, running_mean, running_var, weight, bias,
                           training, momentum, eps)
    return SyncBatchNorm.apply(input, weight, bias, running_mean=raw(running_mean),
                               running_var=raw(running_var), momentum=float(momentum), eps=eps)
