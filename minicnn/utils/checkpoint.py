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
loading run NumPy with ``allow_pickle=False``: an archive that holds an object array is refused.

The file is written atomically: into a temporary file in the same folder, flushed to disk,
then renamed over the old one, so a write killed part-way leaves the previous checkpoint whole.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from minicnn.autograd import Tensor
from minicnn.backend import get_array_module

__all__ = ["save_checkpoint", "load_checkpoint", "atomic_write", "CheckpointError"]

FORMAT = "minicnn-checkpoint"
VERSION = 1
META_KEY = "__meta__"
_TAGS = ("__array__", "__tensor__", "__tuple__", "__dict__")


class CheckpointError(ValueError):
    """A file that is not a readable minicnn checkpoint."""


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, make it durable (fsync), then
    rename it to ``path`` (``os.replace`` is atomic). If ``write`` fails, ``path`` is untouched
    and the temporary file is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                                         suffix=".tmp")
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


def _unflatten(node, arrays):
    if isinstance(node, list):
        return [_unflatten(child, arrays) for child in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, content), = node.items()
        if tag in ("__array__", "__tensor__"):
            array = arrays(content)
            return Tensor(array, dtype=array.dtype) if tag == "__tensor__" else array
        if tag == "__tuple__":
            return tuple(_unflatten(child, arrays) for child in content)
        if tag == "__dict__":
            return {key: _unflatten(child, arrays) for key, child in content}
    return {key: _unflatten(child, arrays) for key, child in node.items()}


# ----- files ------------------------------------------------------------------------------------
def save_checkpoint(path, state):
    """Write ``state`` (see the module docstring) to ``path`` atomically as an ``.npz`` file."""
    arrays = {}
    tree = _flatten(state, "", arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)

    def write(file):
        np.savez(file, allow_pickle=False, **arrays)

    atomic_write(path, write)


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``. Never unpickles: raises CheckpointError
    for a file that is not a checkpoint or that holds an object array."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"{path!r} is not a readable .npz checkpoint ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path!r} is a single .npy array, not an .npz checkpoint")
    with archive:
        names = set(archive.files)
        meta = _read(archive, META_KEY, path) if META_KEY in names else None
        if meta is None or meta.dtype != np.uint8:
            raise CheckpointError(f"{path!r} has no {META_KEY} entry: not a minicnn checkpoint")
        try:
            meta = json.loads(meta.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path!r}: its metadata is not valid JSON ({error})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"{path!r} is not a minicnn checkpoint")
        if meta.get("version") != VERSION:
            raise CheckpointError(f"{path!r} has checkpoint format version {meta.get('version')}; "
                                  f"this minicnn reads version {VERSION}")

        def array(name):
            if name not in names:
                raise CheckpointError(f"{path!r} lacks the array {name!r} its metadata names")
            return _read(archive, name, path)

        return _unflatten(meta["tree"], array)


def _read(archive, name, path):
    try:
        return archive[name]
    except ValueError as error:   # NumPy refuses object arrays when allow_pickle=False
        raise CheckpointError(f"{path!r}: entry {name!r} cannot be read without unpickling "
                              f"({error}); refusing it") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"{path!r}: entry {name!r} is damaged ({error})") from None
