"""Devices as PyTorch names them, and how arrays move between them.

    device = mc.device("cuda" if mc.cuda.is_available() else "cpu")
    model.to(device)
    x = x.to(device, mc.float64)          # or .to("cuda:1"), .cuda(), .cpu(), .to(other_tensor)

A device is ``"cpu"`` or ``"cuda"`` with an optional index (``"cuda:1"``, ``("cuda", 1)``); a
tensor's ``.device`` always has one (``cuda:0``), as in PyTorch. GPU arrays are CuPy's, and CuPy
runs every kernel on its *current* device, so moving data to ``"cuda:N"`` also makes GPU N the
current device of the calling thread (``mc.cuda.set_device(N)``): a process works on one GPU at a
time, as a data-parallel rank does. ``"cuda"`` without an index is the current GPU.

Asking for CUDA where it cannot run raises RuntimeError naming what is missing (CuPy, a GPU,
NVRTC, cuBLAS: ``minicnn.backend.cuda.unavailable_reason``); an index past the last GPU raises
RuntimeError ("invalid device ordinal").
"""

import numpy as np

from minicnn.backend import get_array_module

__all__ = ["device", "device_of", "resolve", "for_this_rank", "move_array", "onto_device_of",
           "to_arguments", "tensor_to"]

TYPES = ("cpu", "cuda")


class device:
    """``torch.device``: ``device("cuda:1")``, ``device("cuda", 1)``, ``device("cpu")``,
    ``device(1)`` (GPU 1) or a device. ``type`` is "cpu" or "cuda", ``index`` an int >= 0 or
    None. Equal to a device of the same type and index (a string is never equal to it, as in
    PyTorch: compare ``t.device.type == "cuda"``). Raises RuntimeError for an unknown type, a
    malformed string or a negative index."""

    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            if index is not None:
                raise RuntimeError("device(device, index): the device already has its index")
            type, index = type.type, type.index
        elif isinstance(type, (int, np.integer)) and not isinstance(type, bool):
            type, index = "cuda", int(type)
        elif not isinstance(type, str):
            raise TypeError(f"device() expects a string, an int or a device, got "
                            f"{type.__class__.__name__}")
        name, colon, number = type.partition(":")
        if colon:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            if not number.isdigit() or str(int(number)) != number:
                raise RuntimeError(f"Invalid device string: {type!r}")
            index = int(number)
        if name not in TYPES:
            raise RuntimeError(f"Expected one of {', '.join(TYPES)} device type at start of "
                               f"device string: {name}")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"device index must be an int, got {index!r}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
            index = int(index)
        self._type, self._index = name, index

    @property
    def type(self):
        return self._type

    @property
    def index(self):
        return self._index

    def __str__(self):
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self):
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{index})"

    def __eq__(self, other):
        return (isinstance(other, device) and other._type == self._type
                and other._index == self._index)

    def __hash__(self):
        return hash((self._type, self._index))

    def __reduce__(self):
        return device, (self._type, self._index)


CPU = device("cpu")
_Device = device    # for the functions below whose ``device`` argument (PyTorch's name) hides it


def device_of(array):
    """The device that holds ``array``: cpu, or cuda:N for a CuPy array on GPU N."""
    if get_array_module(array) is np:
        return CPU
    return device("cuda", array.device.id)


def _cuda():
    from minicnn.backend import cuda
    cuda.require_device()
    return cuda.cupy_or_none()


def resolve(target, make_current=True):
    """``target`` as a device with its index; for cuda, a GPU that exists, made the current
    device when named and ``make_current``."""
    target = device(target)
    if target.type == "cpu":
        return CPU
    cupy = _cuda()
    if target.index is None:
        return device("cuda", cupy.cuda.runtime.getDevice())
    count = cupy.cuda.runtime.getDeviceCount()
    if target.index >= count:
        raise RuntimeError(f"CUDA error: invalid device ordinal (device {target}: this machine "
                           f"has {count} GPU{'s' if count != 1 else ''})")
    if make_current:
        cupy.cuda.Device(target.index).use()
    return target


def move_array(array, target):
    """``array`` on device ``target`` (a copy unless it is there already); the current device
    stays as it is."""
    target = resolve(target, make_current=False)
    if target.type == "cpu":
        return array if get_array_module(array) is np else array.get()
    cupy = _cuda()
    with cupy.cuda.Device(target.index):
        if isinstance(array, cupy.ndarray) and array.device.id != target.index:
            return array.copy()    # CuPy copies to the current device
        return cupy.asarray(array)


def onto_device_of(like, value):
    """``value`` (an array, a list, a number) where it can be written into the array ``like``:
    a host array or list goes to like's GPU, a GPU array to the host or to like's GPU; numbers
    and arrays already there as they are (copy_ and setitem copy across devices, as PyTorch's)."""
    on_host = get_array_module(like) is np
    if isinstance(value, (list, tuple)) and not on_host:
        return move_array(np.asarray(value), device_of(like))
    if not hasattr(value, "shape") or isinstance(value, np.generic):
        return value
    if (get_array_module(value) is np) == on_host and (on_host or
                                                       value.device.id == like.device.id):
        return value
    if on_host:
        return value.get()
    if isinstance(value, np.ndarray) and value.shape == ():
        return value[()]
    return move_array(value, device_of(like))


def for_this_rank(target):
    """The device a data-parallel rank uses for ``target``: "cuda" without an index becomes
    "cuda:(local rank % GPUs)" when several ranks share this machine (each takes its own GPU,
    round robin when there are more ranks than GPUs); anything else is left as it is."""
    from minicnn import distributed
    target = device(target)
    if target.type != "cuda" or target.index is not None or distributed.local_world_size() == 1:
        return target
    return device("cuda", distributed.local_rank() % _cuda().cuda.runtime.getDeviceCount())


def _is_tensor(value):
    from minicnn.autograd import Tensor
    return isinstance(value, Tensor)


def to_arguments(*args, device=None, dtype=None, non_blocking=False, copy=False):
    """The (device or None, numpy dtype or None, copy) of PyTorch's ``.to`` arguments:
    ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its device and dtype),
    and the keywords ``device=``, ``dtype=``, ``non_blocking=`` (accepted: copies here are
    synchronous) and ``copy=``. A string or an int is a device; anything else a dtype. Raises
    TypeError for more than two positional arguments or a value that is neither."""
    target, kind = device, dtype
    if len(args) > 2:
        raise TypeError(f"to() takes at most 2 positional arguments, got {len(args)}")
    for position, value in enumerate(args):
        if position == 0 and _is_tensor(value):
            target, kind = value.device, value.dtype
        elif isinstance(value, (str, _Device)) or (
                isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
            if isinstance(value, str) and value.partition(":")[0] not in TYPES:
                kind = value          # a dtype name: to("float64")
            else:
                target = value
        else:
            kind = value
    if target is not None:
        target = _Device(target)
    if kind is not None:
        try:
            kind = np.dtype(kind)
        except TypeError:
            raise TypeError(f"to() expects a device or a dtype, got {kind!r}") from None
    return target, kind, bool(copy)


def tensor_to(tensor, *args, **kwargs):
    """``Tensor.to``: the tensor on another device and / or in another dtype, in the graph
    (gradients flow back to the original); the tensor itself when nothing changes, unless
    ``copy=True``."""
    from minicnn import ops
    target, dtype, copy = to_arguments(*args, **kwargs)
    out = tensor
    if target is not None:
        out = ops.to_device(out, resolve(target))
    if dtype is not None:
        out = ops.cast(out, dtype)
    return out.clone() if copy and out is tensor else out
