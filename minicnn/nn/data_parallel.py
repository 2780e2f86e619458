"""``nn.DataParallel``: PyTorch's single-process wrapper, as far as one process drives one device.

    net = nn.DataParallel(net)     # kuangliu/pytorch-cifar: if device == 'cuda'

PyTorch's DataParallel without CUDA, or with one GPU, runs the wrapped module on the whole batch
(on ``device_ids[0]``, the output gathered to ``output_device``); so does this one, with the same
numbers and the same state-dict keys (``module.`` before each name). Splitting a batch over
several GPUs from one Python process is not provided: given more than one device, it raises
ValueError and points to ``nn.parallel.DistributedDataParallel`` (one process a GPU), which is
also PyTorch's recommendation.
"""

from minicnn import cuda
from minicnn.device import device
from minicnn.nn.modules.module import Module

__all__ = ["DataParallel"]


class DataParallel(Module):
    """Run ``module`` on ``device_ids[0]`` (default: every visible GPU; none without CUDA) and
    move its outputs to ``output_device`` (default ``device_ids[0]``). Raises ValueError for
    more than one device (see the module docstring); ``forward`` raises RuntimeError when a
    parameter or buffer of ``module`` is not on ``device_ids[0]``, as PyTorch's."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        self.dim = dim
        if not cuda.is_available():
            self.device_ids, self.output_device, self.src_device_obj = [], None, None
            return
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        devices = [device("cuda", i) if isinstance(i, int) else device(i) for i in device_ids]
        if len(devices) != 1:
            raise ValueError(f"DataParallel: minicnn drives one GPU a process, got device_ids "
                             f"{list(device_ids)}; pass device_ids=[0], or run one process a "
                             f"GPU with nn.parallel.DistributedDataParallel")
        self.device_ids = [d.index for d in devices]
        self.src_device_obj = devices[0]
        out = devices[0] if output_device is None else output_device
        self.output_device = device("cuda", out) if isinstance(out, int) else device(out)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        for name, tensor in list(self.module.named_parameters()) + list(
                self.module.named_buffers()):
            if tensor.device != self.src_device_obj:
                raise RuntimeError(f"module must have its parameters and buffers on device "
                                   f"{self.src_device_obj} (device_ids[0]) but found one of "
                                   f"them ({name}) on device: {tensor.device}")
        inputs = [_to(value, self.src_device_obj) for value in inputs]
        kwargs = {key: _to(value, self.src_device_obj) for key, value in kwargs.items()}
        return _to(self.module(*inputs, **kwargs), self.output_device)


def _to(value, target):
    """``value`` with every tensor in it (nested tuples, lists, dicts) moved to ``target``."""
    if isinstance(value, (list, tuple)):
        return type(value)(_to(item, target) for item in value)
    if isinstance(value, dict):
        return {key: _to(item, target) for key, item in value.items()}
    return value.to(target) if hasattr(value, "to") and hasattr(value, "device") else value
