"""``mc.cuda``: PyTorch's ``torch.cuda`` checks, for the GPUs CuPy sees.

    if mc.cuda.is_available():
        model.to("cuda")

``is_available()`` is True when minicnn's CUDA kernel set can run here: CuPy is installed, it
sees a GPU, and NVRTC and cuBLAS load and work (checked once per process by compiling and
launching one of minicnn's kernels and a 1x1 cuBLAS product; ``unavailable_reason()`` names what
is missing). ``device_count()`` is the number of GPUs CuPy sees (0 without CuPy or a driver).
"""

from minicnn.device import device, resolve

__all__ = ["is_available", "device_count", "current_device", "set_device", "synchronize",
           "unavailable_reason"]


def _kernel_set():
    """minicnn.backend.cuda, imported on first use (importing minicnn loads no CUDA code)."""
    from minicnn.backend import cuda
    return cuda


def is_available():
    """Whether tensors and models can go to "cuda" (see the module docstring). Never raises."""
    return _kernel_set().available()


def unavailable_reason():
    """Why CUDA cannot be used here, in words ("" when it can)."""
    return _kernel_set().unavailable_reason()


def device_count():
    """The number of GPUs CuPy sees (0 without CuPy, a driver or a GPU)."""
    return _kernel_set().device_count()


def current_device():
    """The index of the current GPU (where "cuda" without an index goes). Raises RuntimeError
    when CUDA is not available."""
    return resolve("cuda", make_current=False).index


def set_device(target):
    """Make GPU ``target`` (an int, "cuda:N" or a device) the current one for this thread.
    Raises RuntimeError when CUDA is not available or the GPU does not exist."""
    target = device(target)
    if target.type != "cuda":
        raise ValueError(f"set_device expects a CUDA device, got {target}")
    resolve(target)


def synchronize():
    """Wait until the current GPU has finished its queued work. Raises RuntimeError when CUDA is
    not available."""
    _kernel_set().require_device()
    _kernel_set().cupy_or_none().cuda.Device().synchronize()
