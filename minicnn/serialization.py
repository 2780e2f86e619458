"""``mc.save(obj, f)`` and ``mc.load(f, map_location=None, weights_only=True)``, in PyTorch's
argument order.

    mc.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3},
            "ckpt.pt")
    state = mc.load("ckpt.pt")
    model.load_state_dict(mc.load("resnet18-f37072fd.pth"))     # a file torch.save wrote

``save`` writes minicnn's checkpoint format (``minicnn.utils.checkpoint``: an ``.npz`` zip of
arrays plus JSON, never a pickle) atomically: nested dicts, lists and tuples of Tensors, arrays,
numbers, strings, booleans and None, as state dicts, optimizer and scheduler states are. An
OrderedDict comes back as a dict (in the same order), a Parameter as a Tensor.

``load`` reads that format, and PyTorch's own files (the zip format, and the legacy one) without
torch and without running their pickles (``minicnn.utils.torch_file``): only tensors, storages,
OrderedDicts and plain containers are admitted, anything else raises pickle.UnpicklingError
naming the global. ``weights_only=False`` reads the same way: minicnn never unpickles anything
else.

map_location, as in torch.load: None (each tensor where it was saved: PyTorch's saved location,
the CPU for minicnn's files), a device ("cpu", "cuda", "cuda:1" or a device object), a dict
from saved locations to devices ({"cuda:0": "cpu"}), or a callable ``(tensor, location) ->
tensor``. A device that is absent raises RuntimeError before anything is read.
"""

import os
import zipfile

from minicnn import cuda
from minicnn.autograd import Tensor
from minicnn.utils.checkpoint import (CheckpointError, check_directory, is_checkpoint,
                                      read_checkpoint, save_checkpoint)
from minicnn.utils.torch_file import is_torch_legacy, load_torch_legacy, load_torch_zip

__all__ = ["save", "load"]


def save(obj, f):
    """Write ``obj`` to ``f`` (a path, written atomically, or an open binary file) in minicnn's
    checkpoint format (see the module docstring). Raises TypeError for a value it cannot store
    (an object other than Tensors, arrays, numbers, strings, None and dicts / lists / tuples of
    them), naming where it is."""
    save_checkpoint(f if hasattr(f, "write") else os.fspath(f), obj)


def _device(target):
    """"cpu" or "cuda:N" for a device name or object; RuntimeError when it is absent."""
    name = str(target)
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind != "cuda" or (index and not index.isdigit()):
        raise RuntimeError(f"map_location: unknown device {name!r}; minicnn has 'cpu' and "
                           f"'cuda' (or 'cuda:N')")
    count = cuda.device_count()
    if count == 0:
        raise RuntimeError("Attempting to deserialize object on a CUDA device but "
                           "mc.cuda.is_available() is False. If you are running on a CPU-only "
                           "machine, please use mc.load with map_location='cpu' to map your "
                           "storages to the CPU.")
    if int(index or 0) >= count:
        raise RuntimeError(f"Attempting to deserialize object on CUDA device {int(index)} but "
                           f"mc.cuda.device_count() is {count}. Please use mc.load with "
                           f"map_location to map your storages to an existing device.")
    return f"cuda:{int(index or 0)}"


def _placer(map_location):
    """``place(tensor, location)``: the tensor where ``map_location`` sends a tensor saved at
    ``location``. Devices named outright are checked now."""
    if callable(map_location) and not isinstance(map_location, str):
        return map_location
    if isinstance(map_location, dict):
        mapping = {str(source): _device(target) for source, target in map_location.items()}
        return lambda tensor, location: _moved(tensor, mapping.get(location, location))
    if map_location is not None:
        device = _device(map_location)
        return lambda tensor, location: _moved(tensor, device)
    return _moved


def _moved(tensor, location):
    """``tensor`` on the device ``location`` names (minicnn places on "cuda", not by index)."""
    kind = _device(location).split(":")[0]
    if kind == tensor.device:
        return tensor
    return tensor.to(kind).detach().requires_grad_(tensor.requires_grad)


def _tensors_placed(value, place):
    """``value`` with every Tensor in it replaced by ``place(tensor, "cpu")``."""
    if isinstance(value, Tensor):
        return place(value, "cpu")
    if isinstance(value, dict):
        return {key: _tensors_placed(item, place) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tensors_placed(item, place) for item in value)
    return value


def load(f, map_location=None, weights_only=True):
    """The object saved in ``f`` (a path or an open binary file) by ``mc.save`` or
    ``torch.save``, its tensors placed by ``map_location`` (see the module docstring).

    Raises FileNotFoundError / IsADirectoryError for a missing path or a folder,
    pickle.UnpicklingError naming the global for a PyTorch file that asks for anything but
    tensors and containers, CheckpointError (a ValueError) naming the file for a truncated,
    corrupt or unknown one, RuntimeError for a map_location device that is absent."""
    del weights_only    # always: nothing but tensors and containers is ever rebuilt
    place = _placer(map_location)
    if hasattr(f, "read"):
        return _load_file(f, repr(getattr(f, "name", f)), place)
    path = os.fspath(f)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a folder, not a file that mc.save or torch.save "
                                f"wrote")
    with open(path, "rb") as file:
        return _load_file(file, repr(path), place)


def _load_file(file, name, place):
    """load() of the open, seekable binary ``file``, called ``name`` in messages."""
    start = file.tell()
    head = file.read(16)
    size = file.seek(0, os.SEEK_END) - start
    file.seek(start)
    if is_torch_legacy(head):
        return load_torch_legacy(file.read(), name, place)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        damaged = "a zip archive that is truncated or damaged" if head[:2] == b"PK" \
            else "neither a minicnn checkpoint nor a PyTorch file"
        raise CheckpointError(f"{name}: {damaged} ({error})") from None
    with archive:
        try:
            check_directory(archive, size)      # sizes bounded before anything is inflated
        except CheckpointError as error:
            raise CheckpointError(f"{name}: {error}") from None
        if is_checkpoint(archive):
            try:
                return _tensors_placed(read_checkpoint(archive), place)
            except CheckpointError as error:
                raise CheckpointError(f"{name}: {error}") from None
        return load_torch_zip(archive, name, place)
