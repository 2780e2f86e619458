"""A restricted unpickler for the python release of CIFAR-10 / CIFAR-100.

Unpickling runs whatever callable a pickle names, so a hostile file can execute code. The CIFAR
batches hold only dicts, lists, byte strings, strings, ints and NumPy uint8 arrays; dicts, lists
and scalars are plain opcodes that name no global, so the only globals such a file needs are the
ones that rebuild an array. ``RestrictedUnpickler.find_class`` admits exactly those and refuses
every other global, before anything runs.
"""

import io
import pickle

import numpy as np

# The array reconstructors, found through ndarray's own pickling so that no deprecated module
# path (numpy.core in NumPy 2) is imported. Older files name numpy.core, newer numpy._core.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]

_ALLOWED_GLOBALS = {}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED_GLOBALS[(_module + ".multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED_GLOBALS[(_module + ".numeric", "_frombuffer")] = _FROMBUFFER
_ALLOWED_GLOBALS[("numpy", "ndarray")] = np.ndarray
_ALLOWED_GLOBALS[("numpy", "dtype")] = np.dtype


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that rebuilds plain containers and NumPy arrays, and nothing else."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle the global '{module}.{name}': a CIFAR batch holds only "
                f"dicts, lists, bytes, strings, ints and NumPy arrays") from None


def safe_loads(data, name="<bytes>"):
    """The object pickled in ``data`` (Python 2 strings read as bytes, as the CIFAR files need).
    A forbidden global raises pickle.UnpicklingError; a truncated or corrupt stream raises
    ValueError; both name ``name``."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(f"{name}: {error}") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise ValueError(f"{name}: not a valid pickled CIFAR batch ({type(error).__name__}: "
                         f"{error})") from None
