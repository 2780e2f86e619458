"""Reading PyTorch's ``.pt`` / ``.pth`` files without torch, and without running their pickles.

A file written by ``torch.save`` (the zip format, PyTorch >= 1.6) holds ``NAME/data.pkl``, a
pickle of the saved object, and ``NAME/data/KEY``, the raw bytes of each storage. In the pickle
a tensor is ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
hooks)``, and a storage is a persistent id ``("storage", torch.FloatStorage, KEY, location,
numel)``. The older format (``_use_new_zipfile_serialization=False``) is a stream of pickles:
a magic number, a protocol version, system information, the object, the list of storage keys,
then each storage's element count (8 bytes, little-endian) and bytes.

Unpickling runs whatever callable a pickle names, so, as ``torch.load(weights_only=True)``, the
unpickler here admits only these globals, each replaced by minicnn's own code:
``torch._utils._rebuild_tensor_v2`` / ``_rebuild_tensor`` / ``_rebuild_parameter``, the typed
storages (``torch.FloatStorage``, ...), ``collections.OrderedDict``, ``collections.Counter`` of
a dict (a scheduler's milestones) and ``torch.Size`` of ints (a shape); dicts, lists, tuples,
strings and numbers are plain opcodes. Any other global is refused, naming it, before anything
runs. As in ``minicnn.data.safe_pickle``, the pure-Python unpickler is used (its memo is a
dict), dict keys must be strings or ints (hashing a deeply nested key can crash the
interpreter), sets are refused, and BUILD is allowed only on an OrderedDict (a state dict's
``_metadata``, which is dropped).

A tensor comes back as a minicnn Tensor that views its storage, so tensors that share a storage
in the file share memory here, as after torch.load; an expanded or overlapping view (a stride of
0) stays a view, as in PyTorch, so loading never makes more elements than the file stores. A
half-precision or bfloat16 storage becomes float32 (exact) as it is read, before any view of it
is made, as minicnn computes in float32 and float64. Every size is checked against the bytes the
file holds before any array is made.
"""

import collections
import io
import pickle
import struct
import zipfile
import zlib

import numpy as np

from minicnn.autograd import Tensor
from minicnn.utils.checkpoint import CheckpointError

__all__ = ["load_torch_zip", "load_torch_legacy", "is_torch_legacy"]

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_MAX_PICKLE_BYTES = 1 << 28      # data.pkl of a state dict is kilobytes; refuse a bomb

# torch.<Name>Storage -> the NumPy dtype of its elements (bfloat16: its 16 bits, converted)
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}


class _StorageType:
    """Stands for ``torch.<name>`` in a pickle: only its name and element type are used.
    ``dtype`` is how an element is stored in the file, ``loaded_dtype`` how it is held once read
    (float32 for half precision and bfloat16)."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])
        self.loaded_dtype = np.dtype(np.float32) if name in ("HalfStorage", "BFloat16Storage") \
            else self.dtype

    def loaded(self, elements):
        """The 1-d array ``elements`` (as the file stores them) in ``loaded_dtype``."""
        if self.name == "BFloat16Storage":    # bfloat16 is float32's upper half
            return (elements.astype(np.uint32) << 16).view(np.float32)
        return elements.astype(self.loaded_dtype, copy=False)


class _Storage:
    """A storage read from the file: a 1-d array of its elements and its saved location."""

    def __init__(self, storage_type, array, location):
        self.storage_type, self.array, self.location = storage_type, array, location


class _TorchUnpickler(pickle._Unpickler):
    """Rebuilds tensors, storages, OrderedDicts and plain containers, and nothing else (see the
    module docstring). ``read_storage(storage_type, key, location, numel)`` gives a _Storage;
    ``place(tensor, location)`` puts a rebuilt tensor where map_location says."""

    def __init__(self, file, read_storage, place):
        super().__init__(file, encoding="utf-8")
        self.read_storage, self.place = read_storage, place

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("collections", "Counter"):
            return _counter
        if (module, name) == ("torch", "Size"):
            return _size
        raise pickle.UnpicklingError(
            f"refusing to load the global '{module}.{name}': a PyTorch weights file may hold "
            f"only tensors, storages, OrderedDicts, Counters, sizes and plain containers (of "
            f"what torch.load(weights_only=True) allows); nothing in the file was run")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and type(pid[4]) is int and pid[4] >= 0):
            raise pickle.UnpicklingError("refusing a persistent id that is not "
                                         "('storage', torch.<Type>Storage, key, location, numel)")
        if len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError("refusing a storage view (a legacy file's "
                                         "view_metadata)")
        return self.read_storage(pid[1], pid[2], pid[3], pid[4])

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                           backward_hooks=None, metadata=None):
        return self._rebuild_tensor(storage, storage_offset, size, stride)

    def _rebuild_tensor(self, storage, storage_offset, size, stride):
        """A Tensor viewing ``storage`` from ``storage_offset`` with ``size`` and ``stride``
        (in elements), after checking that every element it reaches lies in the storage."""
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError("a tensor must be rebuilt from a storage")
        if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
                and len(size) <= 32 and all(type(n) is int and n >= 0 for n in size + stride)
                and type(storage_offset) is int and storage_offset >= 0):
            raise pickle.UnpicklingError(f"a tensor's offset, size and stride must be "
                                         f"non-negative ints, got {storage_offset!r:.40}, "
                                         f"{size!r:.80}, {stride!r:.80}")
        array = storage.array
        if 0 not in size:
            last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= len(array):
                raise pickle.UnpicklingError(
                    f"a tensor of size {size} and stride {stride} at offset {storage_offset} "
                    f"reaches element {last} of a storage of {len(array)}")
        view = np.lib.stride_tricks.as_strided(
            array[storage_offset:] if 0 not in size else array[:0], shape=size,
            strides=tuple(s * array.itemsize for s in stride))
        return self.place(Tensor(view, dtype=view.dtype), storage.location)

    def load_build(self):
        # BUILD sets attributes: allowed only for a state dict's _metadata, which is dropped
        state, target = self.stack.pop(), self.stack[-1]
        if not isinstance(target, collections.OrderedDict) or not isinstance(state, dict):
            raise pickle.UnpicklingError("refusing BUILD of anything but an OrderedDict's "
                                         "metadata")

    @staticmethod
    def _check_keys(keys):
        if not all(type(key) in (str, int) for key in keys):
            raise pickle.UnpicklingError("refusing a dict key that is not a string or an int")

    def load_dict(self):
        self._check_keys(self.stack[0::2])
        pickle._Unpickler.load_dict(self)

    def load_setitem(self):
        self._check_keys(self.stack[-2:-1])
        pickle._Unpickler.load_setitem(self)

    def load_setitems(self):
        self._check_keys(self.stack[0::2])
        pickle._Unpickler.load_setitems(self)

    def refuse_set(self):
        raise pickle.UnpicklingError("refusing a set: a weights file holds none")

    dispatch = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: load_build,
                pickle.DICT[0]: load_dict, pickle.SETITEM[0]: load_setitem,
                pickle.SETITEMS[0]: load_setitems, pickle.EMPTY_SET[0]: refuse_set,
                pickle.ADDITEMS[0]: refuse_set, pickle.FROZENSET[0]: refuse_set}


def _counter(counts=()):
    """``collections.Counter`` of a dict (a scheduler's milestones), the one form torch writes;
    its keys were checked as the dict was built."""
    if type(counts) not in (dict, tuple) or (type(counts) is tuple and counts):
        raise pickle.UnpicklingError("refusing a Counter of anything but a dict")
    return collections.Counter(dict(counts))


def _size(dims):
    """``torch.Size``, a tuple of ints (a tensor's shape), as a tuple."""
    if type(dims) is not tuple or not all(type(n) is int for n in dims):
        raise pickle.UnpicklingError("refusing a torch.Size of anything but ints")
    return dims


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError("a parameter must be rebuilt from a tensor")
    return data.requires_grad_(bool(requires_grad) and data.dtype.kind == "f")


# what the pure-Python unpickler raises on a malformed stream
_MALFORMED = (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
              struct.error, OverflowError, RecursionError, zipfile.BadZipFile, zlib.error)


def _unpickle(file, read_storage, place, name):
    """Run the restricted unpickler on ``file``; errors name the file ``name``."""
    try:
        return _TorchUnpickler(file, read_storage, place).load()
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(f"{name}: {error}") from None
    except CheckpointError as error:
        raise CheckpointError(f"{name}: {error}") from None
    except _MALFORMED as error:
        raise CheckpointError(f"{name}: not a readable PyTorch file ({type(error).__name__}: "
                              f"{error})") from None


def _member(archive, info):
    """The bytes of the archive's entry ``info``; CheckpointError when they are damaged."""
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as error:
        raise CheckpointError(f"entry {info.filename!r} is damaged ({error})") from None


def load_torch_zip(archive, name, place):
    """The object saved by ``torch.save`` in the open ZipFile ``archive`` (the file ``name``,
    for messages). Raises pickle.UnpicklingError for a refused global, CheckpointError for a
    damaged file."""
    pickles = [info for info in archive.infolist() if info.filename.endswith("/data.pkl")
               and info.filename.count("/") == 1]
    if len(pickles) != 1:
        raise CheckpointError(f"{name}: not a PyTorch file (no single NAME/data.pkl entry)")
    prefix = pickles[0].filename[:-len("data.pkl")]
    if pickles[0].file_size > _MAX_PICKLE_BYTES:
        raise CheckpointError(f"{name}: its data.pkl announces {pickles[0].file_size:,} bytes")
    entries = {info.filename: info for info in archive.infolist()}
    try:
        byteorder = "little"
        if prefix + "byteorder" in entries:
            byteorder = _member(archive, entries[prefix + "byteorder"]).decode("ascii",
                                                                               "replace").strip()
        if byteorder not in ("little", "big"):
            raise CheckpointError(f"unknown byte order {byteorder!r:.20}")
        pickled = _member(archive, pickles[0])
    except CheckpointError as error:
        raise CheckpointError(f"{name}: {error}") from None
    storages = {}

    def read_storage(storage_type, key, location, numel):
        if key not in storages:
            info = entries.get(f"{prefix}data/{key}")
            if info is None:
                raise CheckpointError(f"its pickle names storage {key!r:.40}, which the archive "
                                      f"lacks")
            dtype = storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
            if info.file_size != numel * dtype.itemsize:
                raise CheckpointError(f"storage {key!r:.40} announces {numel:,} elements of "
                                      f"{dtype.itemsize} bytes; the archive stores "
                                      f"{info.file_size:,} bytes")
            data = bytearray(_member(archive, info))
            if len(data) != info.file_size:
                raise CheckpointError(f"storage {key!r:.40} is truncated")
            array = storage_type.loaded(np.frombuffer(data, dtype=dtype))
            storages[key] = _Storage(storage_type, array, location)
        return storages[key]

    return _unpickle(io.BytesIO(pickled), read_storage, place, name)


def is_torch_legacy(head):
    """Whether the bytes ``head`` begin a legacy (pre-zip) torch.save stream: its first pickle
    is the magic number (``\\x80 \\x02 \\x8a \\x0a`` and 10 bytes)."""
    return head[:4] == b"\x80\x02\x8a\x0a" and \
        int.from_bytes(head[4:14], "little") == LEGACY_MAGIC


def load_torch_legacy(data, name, place):
    """The object of the legacy torch.save stream ``data`` (bytes). Raises as load_torch_zip.

    Its storages' bytes follow the object's pickle, so the pickle is read twice: once over
    stand-in storages (zero-stride views, nothing allocated) to find where it ends, then, once
    the storages are read, for real."""
    file = io.BytesIO(data)
    no_storages = {}

    def stand_in(storage_type, key, location, numel):
        if numel * storage_type.dtype.itemsize > len(data):
            raise CheckpointError(f"storage {key!r:.40} announces {numel:,} elements, more "
                                  f"than the file holds")
        array = np.broadcast_to(np.zeros(1, storage_type.loaded_dtype), (numel,))
        return no_storages.setdefault(key, _Storage(storage_type, array, location))

    def header():
        return _unpickle(file, stand_in, lambda tensor, location: tensor, name)

    if header() != LEGACY_MAGIC or header() != 1001 or not isinstance(header(), dict):
        raise CheckpointError(f"{name}: not a legacy PyTorch file (magic number, protocol 1001, "
                              f"system information)")
    start = file.tell()
    header()                                # the object, over stand-ins
    keys = header()
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise CheckpointError(f"{name}: its storage keys are not a list of strings")
    storages = {}
    for key in keys:
        if key not in no_storages:
            raise CheckpointError(f"{name}: storage {key!r:.40} is not used by the object")
        stand = no_storages[key]
        (numel,) = struct.unpack("<q", file.read(8).ljust(8, b"\0"))
        nbytes = len(stand.array) * stand.storage_type.dtype.itemsize
        if numel != len(stand.array):
            raise CheckpointError(f"{name}: storage {key!r:.40} holds {numel:,} elements, its "
                                  f"pickle announced {len(stand.array):,}")
        raw = bytearray(file.read(nbytes))
        if len(raw) != nbytes:
            raise CheckpointError(f"{name}: storage {key!r:.40} is truncated")
        storages[key] = _Storage(stand.storage_type,
                                 stand.storage_type.loaded(np.frombuffer(
                                     raw, dtype=stand.storage_type.dtype)),
                                 stand.location)
    missing = sorted(set(no_storages) - set(storages))
    if missing:
        raise CheckpointError(f"{name}: the storages {missing[:5]} are missing")
    end = file.tell()
    file.seek(start)
    result = _unpickle(file, lambda storage_type, key, location, numel: storages[key], place,
                       name)
    file.seek(end)
    return result
