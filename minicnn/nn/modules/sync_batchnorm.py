"""SyncBatchNorm: batch normalisation with the statistics of the batch over all ranks."""

from minicnn.nn.functional.sync_batch_norm import sync_batch_norm
from minicnn.nn.modules.norm import _BatchNorm

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, *) inputs whose training statistics (mean, variance, and the sums
    of the backward pass) are taken over the whole batch of every rank of
    ``minicnn.distributed``, as PyTorch's ``nn.SyncBatchNorm``: the same numbers as one
    BatchNorm on the concatenated batch. The running statistics are updated with the global
    ones, so they agree on every rank. In eval mode, and in a world of one, it is BatchNorm.

    Plain BatchNorm under ``DistributedDataParallel`` normalises each rank's shard with that
    shard's statistics (so a rank's batch of B/N images decides them); use this layer when
    B/N is small."""

    _functional = staticmethod(sync_batch_norm)

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm1d / BatchNorm2d below it (itself included) replaced
        by a SyncBatchNorm holding the same parameters and buffers (the same objects, so an
        optimizer built before still trains them), at the same place in the state dict.
        Returns the converted module. ``process_group`` must be None: the world is every rank."""
        if process_group is not None:
            raise ValueError("convert_sync_batchnorm: minicnn synchronises over every rank; "
                             "process_group must be None")
        converted = module
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)
            for table in ("_parameters", "_buffers"):
                getattr(converted, table).update(getattr(module, table))
            converted.train(module.training)
        for name, child in module.named_children():
            converted.add_module(name, cls.convert_sync_batchnorm(child))
        return converted
