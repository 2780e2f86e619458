"""Normalisation layers: BatchNorm1d, BatchNorm2d and LocalResponseNorm."""

import numpy as np

from minicnn.autograd import Tensor
from minicnn.backend.validate import check_int
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.functional.norm import check_momentum
from minicnn.nn.modules.budget import empty_parameter
from minicnn.nn.modules.module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalisation with PyTorch's parameters (weight = 1, bias = 0) and buffers
    (running_mean = 0, running_var = 1, num_batches_tracked = 0, int64), in that order.

    Training normalises with the batch's statistics and updates the running ones with
    ``momentum`` (None: a cumulative average over the batches seen); eval uses the running ones
    (or the batch's, when track_running_stats=False). Raises TypeError / ValueError for a
    num_features that is not an int >= 0 and a momentum that is not a number or None."""

    expected_dims = ()
    _functional = staticmethod(F.batch_norm)   # SyncBatchNorm swaps in its collective version

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=np.float32, *, bias=True):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", type(self).__name__, 0)
        if momentum is not None:
            check_momentum(momentum)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(empty_parameter((self.num_features,), dtype))
            if bias:
                self.bias = Parameter(empty_parameter((self.num_features,), dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input):
        if input.ndim not in self.expected_dims:
            expected = " or ".join(f"{d}D" for d in self.expected_dims)
            raise ValueError(f"{type(self).__name__}: expected {expected} input "
                             f"(got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return self._functional(input, self.running_mean if track else None,
                                self.running_var if track else None, self.weight, self.bias,
                                use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs (statistics over N, or N and L)."""

    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs (statistics over N, H and W)."""

    expected_dims = (4,)


class LocalResponseNorm(Module):
    """y_c = x_c / (k + alpha / size * sum of x_j^2 over the size channels around c) ^ beta.
    Raises TypeError / ValueError for a size that is not an int >= 1."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        check_int(size, "size", type(self).__name__, 1)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
