"""Checkpoints as ``.npz`` files, never pickle.

A checkpoint is a nested structure of dicts, lists and tuples whose leaves are arrays, Tensors
and JSON values (numbers, strings, booleans, None):

    save_checkpoint("runs/last.npz", {"epoch": 3, "model": model.state_dict(),
                                      "optimizer": optimizer.state_dict()})
    state = load_checkpoint("runs/last.npz")
    model.load_state_dict(state["model"])

Every array becomes one entry of the ``.npz`` archive, named by its path in the structure
(``model/conv1.weight``); everything else goes into one JSON entry, ``__meta__``, in which an
array appears as ``{"__array__": name}`` (``"__tensor__"`` for a Tensor, which comes back as
a Tensor). Dicts with keys that are not strings (an optimizer's state is keyed by parameter
index) and tuples are tagged too, so a structure comes back as it went in. Both saving and
loading refuse object arrays (which only unpickling could read): nothing is ever unpickled.

Loading bounds everything it reads before it allocates it. The zip directory is checked
against the file first: every entry stored or deflated, a stored entry as long as its
compressed bytes, a deflated one at most DEFLATE_RATIO times them (deflate cannot do more),
the compressed entries no more than the file holds (so entries cannot overlap), and all the
entries together at most MAX_INFLATED bytes more than the file's own size. Then each entry's
``.npy`` header is checked against the size the directory gives it, and each array is read
once: metadata that names one array twice is refused. The JSON metadata may take MAX_META
bytes (save_checkpoint refuses more). So a crafted file (a shape of 2^40, a directory that
claims gigabytes, a deflate bomb, one entry named 3,000 times, 200 MB of "{}," deflated) is a
CheckpointError, not a MemoryError. The metadata may nest at most MAX_DEPTH levels, and its
tags must be well formed.

The file is written atomically: into a temporary file ``.NAME.XXXXXXXX.tmp`` in the same folder,
flushed to disk, then renamed over the old one, so a write killed part-way leaves the previous
checkpoint whole. It gets the mode any new file gets (0666 less the umask).
"""

import json
import math
import os
import secrets
import zipfile
import zlib

import numpy as np

from minicnn.autograd import Tensor
from minicnn.backend import get_array_module

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "is_checkpoint",
           "check_directory", "atomic_write", "CheckpointError"]

FORMAT = "minicnn-checkpoint"
VERSION = 1
META_KEY = "__meta__"
_TAGS = ("__array__", "__tensor__", "__tuple__", "__dict__")
MAX_DEPTH = 100     # a trainer's checkpoint nests about 6 levels
_CHUNK = 1 << 24    # bytes inflated at a time while reading an entry
# deflate writes at least 2 bits for every 258 bytes it repeats, so at most about 1032 bytes
# come out of one compressed byte
DEFLATE_RATIO = 1032
# what a file may inflate to beyond its own size (save_checkpoint stores its entries
# uncompressed, so its checkpoints need none of this)
MAX_INFLATED = 256 << 20
# the JSON metadata: a trainer's takes about 3 KB and 256 bytes an epoch; JSON makes up to 24
# bytes of objects from one byte ("{}," is a dict), so this bounds them to about 200 MB
MAX_META = 8 << 20


class CheckpointError(ValueError):
    """A file that is not a readable minicnn checkpoint."""


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, make it durable (fsync), then
    rename it to ``path`` (``os.replace`` is atomic). If ``write`` fails, ``path`` is untouched
    and the temporary file is removed. The file gets the mode the umask gives a new file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = _create_temporary(folder, os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_folder(folder)


def _create_temporary(folder, name):
    """(descriptor, path) of a new file ``.NAME.XXXXXXXX.tmp`` in ``folder``, created with mode
    0666 so that the umask applies as for any new file (tempfile.mkstemp forces 0600)."""
    while True:
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX; other systems have no directory handles)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ----- structure <-> (arrays, JSON) -------------------------------------------------------------
def _host_array(array):
    """A NumPy copy of a NumPy or CuPy array."""
    return array.get() if get_array_module(array) is not np else np.array(array)


def _flatten(value, path, arrays):
    """The JSON form of ``value``; arrays found on the way are added to ``arrays``."""
    if isinstance(value, (Tensor, np.ndarray, np.generic)) or get_array_module(value) is not np:
        tag = "__tensor__" if isinstance(value, Tensor) else "__array__"
        array = _host_array(value.array if isinstance(value, Tensor) else value)
        if array.dtype.hasobject:
            raise TypeError(f"checkpoint: {path or 'value'} is an object array; only numeric, "
                            "boolean and string arrays can be saved without pickle")
        name, suffix = path or "value", 0
        while name in arrays or name == META_KEY:    # e.g. the keys "a/b" and "a" -> "b"
            suffix += 1
            name = f"{path or 'value'}#{suffix}"
        arrays[name] = array
        return {tag: name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, dict):
        keys = list(value)
        for key in keys:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"checkpoint: dict keys must be str or int, got {key!r} "
                                f"in {path or 'the checkpoint'}")
        children = {key: _flatten(value[key], f"{path}/{key}" if path else str(key), arrays)
                    for key in keys}
        if all(isinstance(key, str) and key not in _TAGS for key in keys):
            return children
        return {"__dict__": [[key, child] for key, child in children.items()]}
    raise TypeError(f"checkpoint: cannot store {type(value).__name__} at {path or 'top level'} "
                    "(use arrays, Tensors, numbers, strings, None, and dicts/lists/tuples of them)")


def _unflatten(node, arrays, depth=0):
    """The structure described by the JSON ``node``; ``arrays(name)`` reads an array. Raises
    CheckpointError for metadata nested deeper than MAX_DEPTH, with a malformed tag, or naming
    a tensor whose array is not numbers or booleans (a structured or string dtype)."""
    if depth > MAX_DEPTH:
        raise CheckpointError(f"its metadata nests deeper than {MAX_DEPTH} levels")
    if isinstance(node, list):
        return [_unflatten(child, arrays, depth + 1) for child in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, content), = node.items()
        if tag in ("__array__", "__tensor__"):
            array = arrays(content)
            if tag == "__array__":
                return array
            if array.dtype.kind not in "biufc":
                raise CheckpointError(f"entry {content!r:.80} is a tensor of dtype "
                                      f"{array.dtype}; a tensor holds numbers or booleans")
            return Tensor(array, dtype=array.dtype)
        if tag == "__tuple__":
            if not isinstance(content, list):
                raise CheckpointError(f"malformed metadata: __tuple__ holds "
                                      f"{type(content).__name__}, not a list")
            return tuple(_unflatten(child, arrays, depth + 1) for child in content)
        if tag == "__dict__":
            if not isinstance(content, list) or not all(
                    isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))
                    for pair in content):
                raise CheckpointError("malformed metadata: __dict__ must hold [key, value] "
                                      "pairs with str or int keys")
            return {key: _unflatten(child, arrays, depth + 1) for key, child in content}
    return {key: _unflatten(child, arrays, depth + 1) for key, child in node.items()}


# ----- files ------------------------------------------------------------------------------------
def save_checkpoint(path, state):
    """Write ``state`` (see the module docstring) to ``path`` atomically as an ``.npz`` file
    (or into ``path``, when it is an open binary file)."""
    arrays = {}
    tree = _flatten(state, "", arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode("utf-8")
    if len(meta) > MAX_META:
        raise ValueError(f"checkpoint: the values other than arrays take {len(meta):,} bytes "
                         f"of JSON, more than the {MAX_META:,} a checkpoint may hold; store "
                         "long lists of numbers as arrays")
    arrays[META_KEY] = np.frombuffer(meta, dtype=np.uint8)

    def write(file):
        np.savez(file, allow_pickle=False, **arrays)

    if hasattr(path, "write"):      # an open binary file (mc.save accepts one, as torch.save)
        write(path)
    else:
        atomic_write(path, write)


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``. Never unpickles: raises CheckpointError
    (naming ``path``) for a file that is not a well-formed checkpoint or that holds an object
    array, FileNotFoundError when there is no file, IsADirectoryError for a folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        inside = [name for name in ("best.npz", "last.npz")
                  if os.path.isfile(os.path.join(path, name))]
        hint = f"; pass a file in it, such as {os.path.join(path, inside[0])}" if inside else ""
        raise IsADirectoryError(f"checkpoint {path!r} is a folder, not a checkpoint file{hint}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as error:
        raise CheckpointError(f"{path!r} is not a readable .npz checkpoint ({error})") from None
    try:
        with archive:
            check_directory(archive, os.path.getsize(path))
            return read_checkpoint(archive)
    except CheckpointError as error:
        raise CheckpointError(f"{path!r}: {error}") from None


def check_directory(archive, file_size):
    """CheckpointError unless the sizes that the zip directory of ``archive`` (a file of
    ``file_size`` bytes) claims are ones the file can hold (see the module docstring)."""
    compressed = inflated = 0
    for info in archive.infolist():
        name = info.filename
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"entry {name!r:.80} uses compression method "
                                  f"{info.compress_type}; a checkpoint's entries are stored "
                                  "or deflated")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CheckpointError(f"entry {name!r:.80} is stored uncompressed in "
                                  f"{info.compress_size:,} bytes but its directory claims "
                                  f"{info.file_size:,}")
        if info.file_size > DEFLATE_RATIO * info.compress_size:
            raise CheckpointError(f"entry {name!r:.80} claims {info.file_size:,} bytes from "
                                  f"{info.compress_size:,} compressed, more than deflate can "
                                  "produce")
        compressed += info.compress_size
        inflated += info.file_size
    if compressed > file_size:
        raise CheckpointError(f"its entries claim {compressed:,} compressed bytes, more than "
                              f"the file's {file_size:,}")
    if inflated > file_size + MAX_INFLATED:
        raise CheckpointError(f"its entries inflate to {inflated:,} bytes, more than "
                              f"{MAX_INFLATED >> 20} MiB beyond the file's {file_size:,}")


def is_checkpoint(archive):
    """Whether the open ZipFile ``archive`` is a minicnn checkpoint (has the metadata entry)."""
    return META_KEY + ".npy" in archive.namelist()


def read_checkpoint(archive):
    """The structure stored in the open ZipFile ``archive``; raises CheckpointError (without
    the file's name) for a malformed one."""
    entries = {info.filename[:-len(".npy")]: info for info in archive.infolist()
               if info.filename.endswith(".npy")}
    if META_KEY not in entries:
        raise CheckpointError(f"no {META_KEY} entry: not a minicnn checkpoint")
    if entries[META_KEY].file_size > MAX_META + 128:     # + the .npy header
        raise CheckpointError(f"its metadata takes {entries[META_KEY].file_size:,} bytes, more "
                              f"than the {MAX_META:,} a checkpoint may hold")
    meta = _read_entry(archive, entries[META_KEY])
    if meta.dtype != np.uint8 or meta.ndim != 1:
        raise CheckpointError(f"its {META_KEY} entry is not UTF-8 bytes: not a minicnn "
                              "checkpoint")
    try:
        meta = json.loads(meta.tobytes().decode("utf-8"))
    except ValueError as error:     # not UTF-8, not JSON, or an int of over 4,300 digits
        raise CheckpointError(f"its metadata is not valid JSON ({str(error)[:200]})") from None
    except RecursionError:
        raise CheckpointError(f"its metadata nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "tree" not in meta:
        raise CheckpointError("not a minicnn checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint format version {meta.get('version')!r}; this minicnn "
                              f"reads version {VERSION}")

    read = set()

    def array(name):
        if not isinstance(name, str) or name not in entries:
            raise CheckpointError(f"no array {name!r:.80}, which its metadata names")
        if name in read:
            raise CheckpointError(f"its metadata names array {name!r:.80} more than once; a "
                                  "checkpoint names each array once")
        read.add(name)
        return _read_entry(archive, entries[name])

    return _unflatten(meta["tree"], array)


def _read_entry(archive, info):
    """The array of the ``.npy`` entry ``info`` of a zip ``archive``. Its header is read and
    checked against the size the archive stores before the data is inflated."""
    name = info.filename[:-len(".npy")]
    try:
        with archive.open(info) as file:
            version = np.lib.format.read_magic(file)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(file)
            if dtype.hasobject:
                raise CheckpointError(f"entry {name!r} is an object array, which only "
                                      "unpickling could read; minicnn never unpickles, so it "
                                      "is refused")
            count = math.prod(shape)
            size = count * dtype.itemsize
            stored = info.file_size - file.tell()
            if size != stored:
                raise CheckpointError(f"entry {name!r}: its header announces shape {shape} of "
                                      f"{dtype} ({size:,} bytes) but the archive stores "
                                      f"{stored:,} bytes")
            data = bytearray(size)
            view, filled = memoryview(data), 0
            while filled < size and (read := file.readinto(view[filled:filled + _CHUNK])):
                filled += read
            if filled != size:
                raise CheckpointError(f"entry {name!r} is truncated")
            return np.frombuffer(data, dtype=dtype, count=count).reshape(
                shape, order="F" if fortran_order else "C")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error,
            NotImplementedError) as error:   # NotImplementedError: an unknown compression
        raise CheckpointError(f"entry {name!r} is damaged ({error})") from None
