"""``mc.accelerator``: PyTorch's device-agnostic ``torch.accelerator`` checks. minicnn's one
accelerator is CUDA (through CuPy), so each answer is ``mc.cuda``'s.

    device = mc.accelerator.current_accelerator() if mc.accelerator.is_available() else "cpu"

minicnn has no build-time CUDA switch: the accelerator "built in" is the one usable now, so
``current_accelerator()`` is ``mc.device("cuda")`` when ``mc.cuda.is_available()`` and None
otherwise, whatever ``check_available``.
"""

from minicnn import cuda
from minicnn.device import device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "set_device_index", "synchronize"]


def is_available():
    """Whether an accelerator (a GPU minicnn's CUDA kernels run on) can be used. Never raises."""
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``mc.device("cuda")`` when CUDA is available, else None (see the module docstring)."""
    return device("cuda") if cuda.is_available() else None


def device_count():
    """The number of GPUs (0 without CuPy, a driver or a GPU)."""
    return cuda.device_count() if cuda.is_available() else 0


def current_device_index():
    """The index of the current GPU. Raises RuntimeError when none is available."""
    _require()
    return cuda.current_device()


def set_device_index(index):
    """Make GPU ``index`` (an int or a device) the current one. Raises RuntimeError when none is
    available or it does not exist."""
    _require()
    cuda.set_device(index)


def synchronize(device=None):
    """Wait for the current GPU's queued work (``device``, PyTorch's argument, may name it; another
    GPU is not waited on). Raises RuntimeError when none is available."""
    _require()
    cuda.synchronize()


def _require():
    if not cuda.is_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")
