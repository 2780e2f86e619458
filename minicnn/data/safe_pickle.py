"""A restricted unpickler for the python release of CIFAR-10 / CIFAR-100.

Unpickling runs whatever callable a pickle names, so a hostile file can execute code, and even
NumPy's own reconstructors are unsafe: ``_reconstruct(ndarray, shape, ...)`` allocates any shape
uninitialised (a 128-byte pickle becomes 300,000 images of heap memory, a 134-byte one asks for
286 GiB). So no real callable is handed to the pickle. A CIFAR batch is a dict of lists, byte
strings, strings, ints and one uint8 array; dicts, lists and scalars are plain opcodes, and the
few globals that the official files and their re-pickles name are replaced by stand-ins that
accept only the official layout's arguments:

- ``numpy.core.multiarray._reconstruct`` / ``numpy.dtype`` / ``ndarray.__setstate__`` (Python 2's
  cPickle, which wrote the official files, and protocols 2-4): the array is built only from
  uint8 bytes already read from the file, whose length must match the shape;
- ``numpy.core.numeric._frombuffer`` (protocol 5), checked the same way;
- ``_codecs.encode(text, "latin1")``: how Python 3 stores bytes in protocol 2.

(NumPy 2 names ``numpy._core`` where NumPy 1 named ``numpy.core``.) Every other global is refused
before anything runs, and an array is accepted only up to ``max_bytes``. The opcodes are counted
too, up to ``max_opcodes``: each makes at most one object or memo entry, and an empty dict is
one byte of pickle but 64 bytes of memory, so a file within its byte cap could otherwise fill
gigabytes with them.

The pure-Python unpickler is used: its memo is a dict, where the C unpickler allocates and
zeroes an array as long as the largest memo index a file names (4 GiB for a 7-byte pickle).
"""

import io
import math
import pickle
import struct

import numpy as np


def _describe(value):
    """A short description of an unpickled value for an error message: its repr when it is a
    short string or number, else its type (a hostile file may make any value huge or deep)."""
    if isinstance(value, (str, bytes)) and len(value) <= 20 or type(value) in (int, float):
        return repr(value)
    return f"a {type(value).__name__}"


class _UInt8:
    """Stands for ``numpy.dtype("u1")`` while unpickling (its state is checked, not applied)."""

    def __setstate__(self, state):
        # (version, byte order, subarray, names, fields, item size, alignment, flags)
        if not (isinstance(state, tuple) and len(state) == 8 and state[1] in ("|", b"|")
                and state[2:5] == (None, None, None)):
            raise ValueError("a uint8 dtype's state must name no subarray, names or fields")


def _dtype(name, align=False, copy=False):
    if name not in ("u1", b"u1"):
        raise pickle.UnpicklingError(f"refusing dtype {_describe(name)}: a CIFAR batch holds "
                                     "uint8")
    return _UInt8()


class _NDArray:
    """Stands for ``numpy.ndarray``, which a pickle may name only as the first argument of
    ``_reconstruct``."""


class _PendingArray:
    """What ``_reconstruct`` returns: an array that the pickle's BUILD (``__setstate__``) fills
    in. Nothing is allocated until the state names the bytes."""

    array = None

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("an array's state must be a tuple of 4 or 5 items")
        shape, dtype, fortran_order, raw = state[-4:]
        self.array = _uint8_array(raw, dtype, shape, "F" if fortran_order else "C",
                                  self.max_bytes)


def _uint8_array(raw, dtype, shape, order, max_bytes):
    """A uint8 array viewing ``raw`` (bytes already read from the file) as ``shape``."""
    if not isinstance(dtype, _UInt8):
        raise ValueError("an array's dtype must be uint8")
    if not (isinstance(shape, tuple) and len(shape) <= 8 and
            all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError(f"an array's shape must be a tuple of at most 8 sizes, got "
                         f"{_describe(shape)}")
    if not isinstance(raw, (bytes, bytearray)):
        raise ValueError(f"an array's data must be bytes, got {type(raw).__name__}")
    size = math.prod(shape)
    if size > max_bytes:
        raise ValueError(f"an array of shape {shape} ({size:,} bytes) is larger than the "
                         f"{max_bytes:,} bytes the format allows")
    if size != len(raw):
        raise ValueError(f"an array of shape {shape} needs {size:,} bytes, the file holds "
                         f"{len(raw):,}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape, order=order)


def _latin1_bytes(text, encoding):
    """``_codecs.encode``, for the one call protocol 2 makes: bytes stored as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode other than (text, 'latin1')")
    return text.encode("latin1")


class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that rebuilds plain containers and uint8 NumPy arrays of at most
    ``max_bytes`` bytes, and nothing else (see the module docstring)."""

    def __init__(self, file, max_bytes, max_opcodes):
        super().__init__(file, encoding="bytes")
        self.max_bytes, self.max_opcodes, self.opcodes = max_bytes, max_opcodes, 0

    def find_class(self, module, name):
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and \
                name == "_reconstruct":
            return self._reconstruct
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return self._frombuffer
        if (module, name) == ("numpy", "ndarray"):
            return _NDArray
        if (module, name) == ("numpy", "dtype"):
            return _dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        raise pickle.UnpicklingError(
            f"refusing to unpickle the global '{module}.{name}': a CIFAR batch holds only "
            f"dicts, lists, bytes, strings, ints and NumPy uint8 arrays")

    def _reconstruct(self, subtype, shape, typecode):
        if subtype is not _NDArray or typecode not in ("b", b"b"):
            raise pickle.UnpicklingError("refusing _reconstruct of anything but a NumPy array")
        return _PendingArray(self.max_bytes)

    def _frombuffer(self, buffer, dtype, shape, order):
        if order not in ("C", "F"):
            raise ValueError(f"an array's order must be 'C' or 'F', got {_describe(order)}")
        return _uint8_array(buffer, dtype, shape, order, self.max_bytes)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id: a CIFAR batch has none")

    def load_build(self):
        # BUILD would otherwise set attributes on any object, the stand-ins above included
        if not isinstance(self.stack[-2], (_PendingArray, _UInt8)):
            raise pickle.UnpicklingError("refusing BUILD of anything but a NumPy array or dtype")
        pickle._Unpickler.load_build(self)

    # Dict keys and set items are hashed, and hashing a tuple nested a million deep overflows
    # the C stack (a segfault, not an exception): keys must be strings, and sets are refused.
    @staticmethod
    def _check_keys(keys):
        if not all(type(key) in (str, bytes) for key in keys):
            raise pickle.UnpicklingError("refusing a dict key that is not a string: the keys "
                                         "of a CIFAR batch are strings")

    def load_dict(self):
        self._check_keys(self.stack[0::2])      # the stack holds the items since the MARK
        pickle._Unpickler.load_dict(self)

    def load_setitem(self):
        self._check_keys(self.stack[-2:-1])
        pickle._Unpickler.load_setitem(self)

    def load_setitems(self):
        self._check_keys(self.stack[0::2])
        pickle._Unpickler.load_setitems(self)

    def refuse_set(self):
        raise pickle.UnpicklingError("refusing a set: a CIFAR batch holds none")

    def _count(self):
        self.opcodes += 1
        if self.opcodes > self.max_opcodes:
            raise ValueError(f"more than {self.max_opcodes:,} opcodes, more than the objects "
                             "of a CIFAR batch need")


def _counted(load):
    def counted(unpickler):
        unpickler._count()
        load(unpickler)
    return counted


RestrictedUnpickler.dispatch = {opcode: _counted(load) for opcode, load in {
    **pickle._Unpickler.dispatch, pickle.BUILD[0]: RestrictedUnpickler.load_build,
    pickle.DICT[0]: RestrictedUnpickler.load_dict,
    pickle.SETITEM[0]: RestrictedUnpickler.load_setitem,
    pickle.SETITEMS[0]: RestrictedUnpickler.load_setitems,
    pickle.EMPTY_SET[0]: RestrictedUnpickler.refuse_set,
    pickle.ADDITEMS[0]: RestrictedUnpickler.refuse_set,
    pickle.FROZENSET[0]: RestrictedUnpickler.refuse_set}.items()}


# what the pure-Python unpickler raises on a malformed stream
_MALFORMED = (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
              struct.error, OverflowError, RecursionError)


def safe_loads(data, name="<bytes>", max_bytes=60000 * 3072, max_opcodes=1_000_000):
    """The object pickled in ``data`` (Python 2 strings read as bytes, as the CIFAR files
    need), with the arrays of a top-level dict built. A forbidden global raises
    pickle.UnpicklingError; a truncated or corrupt stream, an array of more than ``max_bytes``
    bytes, or more than ``max_opcodes`` opcodes, raises ValueError; both name ``name``."""
    try:
        value = RestrictedUnpickler(io.BytesIO(data), max_bytes, max_opcodes).load()
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(f"{name}: {error}") from None
    except _MALFORMED as error:
        raise ValueError(f"{name}: not a valid pickled CIFAR batch ({type(error).__name__}: "
                         f"{error})") from None
    if isinstance(value, dict):
        value = {key: item.array if isinstance(item, _PendingArray) else item
                 for key, item in value.items()}
    return value
