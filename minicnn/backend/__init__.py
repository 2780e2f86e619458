"""Which array library holds the data, and which kernel set runs an op.

One decision point: ``kernels_for(array)`` returns the kernel set (a module with the functions of
``reference.py``) for an array, from the array's type and the selected backend:

- ``"numpy"``: the NumPy reference kernels, always available;
- ``"c"``: the C kernels of ``csrc/`` (CPU arrays), built by ``pip install``;
- ``"cuda"``: the CUDA kernels of ``kernels/`` (``cuda.py``), for CuPy arrays;
- ``"auto"`` (default): the fastest kernel set built for that kind of array.

The C kernels take non-empty float32 / float64 NumPy arrays: under "auto" any other array runs on
the reference; under "c" it is an error, as is a NumPy array under "cuda". The choice is made once
per (backend, kind of array) and cached. Every op records the set it ran on: ``trace()`` collects
the records (``minicnn info --trace``), and ``MINICNN_LOG=kernels`` logs them on stderr.

Select with ``minicnn.set_backend(name)`` (for the whole process, every thread), ``with
minicnn.backend(name):`` (for the block, in its own thread only) or the ``MINICNN_BACKEND``
variable (read when neither chose). Process-wide, as PyTorch's global settings, so that the
threads a program starts (concurrent backward passes, a serving pool) run the kernel set it
chose; the block is per thread, as ``no_grad``, so that it never changes another thread's ops.

When the C extension was not built, the first op that would have used it says so once per
process, as a warning of the ``"minicnn"`` logger: with logging left unconfigured, Python prints
it on stderr as one plain line (``logging.lastResort``); a configured logging shows it its own
way; ``logging.getLogger("minicnn").setLevel(logging.ERROR)`` silences it.
"""

import logging
import os
import sys
import threading
import types
from contextlib import contextmanager

import numpy as np

try:
    import cupy
except ImportError:
    cupy = None

BACKENDS = ("numpy", "c", "cuda", "auto")

_default = None                  # set_backend's choice (or MINICNN_BACKEND's), for every thread
_selected = threading.local()    # a ``with backend(...)`` block's, for its own thread
_warned = set()


def get_array_module(array):
    """numpy or cupy, whichever owns ``array`` (as ``cupy.get_array_module`` does)."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


def _validate(name):
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


def get_backend():
    """This thread's backend: its innermost ``with backend(...)`` block's, else set_backend's,
    else MINICNN_BACKEND's, else ``"auto"``."""
    global _default
    if _default is None:
        _default = _validate(os.environ.get("MINICNN_BACKEND", "auto").strip().lower() or "auto")
    return getattr(_selected, "name", None) or _default


def set_backend(name):
    """Select the kernel set for the ops that follow, in every thread (a ``with backend(...)``
    block overrides it in its own): "numpy" | "c" | "cuda" | "auto"."""
    global _default
    _default = _validate(name)


@contextmanager
def use(name):
    """``with minicnn.backend("c"): ...`` runs the block, in this thread, with another kernel
    set."""
    previous = getattr(_selected, "name", None)
    _selected.name = _validate(name)
    try:
        yield
    finally:
        _selected.name = previous


DEFAULT_WORKSPACE_LIMIT = 256 * 2 ** 20
_workspace_limit = DEFAULT_WORKSPACE_LIMIT


def set_workspace_limit(nbytes):
    """Largest scratch memory, in bytes, that one convolution step may use for its column matrix
    (default 256 MiB; ``None``: no limit). Returns the previous limit.

    The reference convolution (and the CUDA set, which runs its products) runs a batch in tiles
    of images of about 2^20 column entries (reference.TILE_ELEMENTS; 2^26 on a GPU,
    GPU_TILE_ELEMENTS, so that there the limit decides) unless one image has more. A limit
    below that makes the tiles smaller, down to one image (so one image's columns are the
    floor), which changes the results by rounding only; a limit above it changes nothing. The C
    convolutions build no column matrix (csrc/conv2d_gemm.c) and ignore it. Raises ValueError for
    anything but a positive int or None."""
    global _workspace_limit
    valid = nbytes is None or (isinstance(nbytes, int) and not isinstance(nbytes, bool)
                               and nbytes >= 1)
    if not valid:
        raise ValueError(f"set_workspace_limit: nbytes must be a positive int or None, "
                         f"got {nbytes!r}")
    previous, _workspace_limit = _workspace_limit, nbytes
    return previous


def get_workspace_limit():
    """The scratch-memory budget of a convolution step in bytes (None: unlimited)."""
    return _workspace_limit


def warn_once(key, message):
    """Log ``message`` as a warning of the "minicnn" logger, the first time ``key`` is seen."""
    if key not in _warned:
        _warned.add(key)
        logging.getLogger("minicnn").warning(message)


_choices = {}   # (backend, array type, dtype, empty) -> kernel set
_traces = []    # the record lists of the trace() blocks open now
_log = logging.getLogger("minicnn.kernels")
if "kernels" in os.environ.get("MINICNN_LOG", "").split(","):
    _log.addHandler(logging.StreamHandler())
    _log.setLevel(logging.DEBUG)


def kernels_for(array):
    """The kernel set that runs an op on ``array`` under the selected backend. Raises
    RuntimeError when the selected backend cannot run such an array."""
    key = (get_backend(), type(array), array.dtype, array.size == 0)
    kernels = _choices.get(key)
    if kernels is None:
        kernels = _choices[key] = _choose(key[0], array)
    return kernels


def _choose(name, array):
    from minicnn.backend import ckernels, reference
    on_gpu = get_array_module(array) is not np
    if name == "cuda" and not on_gpu:
        raise RuntimeError("backend 'cuda' needs CuPy arrays; move the model and data with "
                           ".to('cuda') or select backend 'c', 'numpy' or 'auto'")
    if name == "numpy":
        # the reference kernels are written against the array API that NumPy and CuPy share:
        # on CuPy arrays they can be compared with the CUDA kernels
        return reference
    if on_gpu and name != "c":
        if array.dtype in (np.float32, np.float64) and array.size > 0:
            from minicnn.backend import cuda
            return cuda
        if name == "cuda":
            raise RuntimeError(f"backend 'cuda' cannot run an array of dtype {array.dtype} and "
                               f"shape {array.shape}: the CUDA kernels take non-empty float32 / "
                               "float64 CuPy arrays; select 'auto' or 'numpy'")
        return reference
    if not ckernels.available():
        if name == "c":
            raise RuntimeError("the C kernels are not available: " + ckernels.unavailable_reason())
        warn_once("c-missing", "minicnn: the C kernels are not available ("
                  + ckernels.unavailable_reason() + "), running on the NumPy reference kernels "
                  "(reinstall with `pip install .` and a C compiler to build them)")
        return reference
    if not on_gpu and array.dtype in (np.float32, np.float64) and array.size > 0:
        return ckernels
    if name == "c":
        raise RuntimeError(f"backend 'c' cannot run an array of type {type(array).__name__}, "
                           f"dtype {array.dtype} and shape {array.shape}: the C kernels take "
                           "non-empty float32 / float64 NumPy arrays; select 'auto' or 'numpy'")
    return reference


def record(op, kernels):
    """Note that ``op`` (a Function's name) ran on ``kernels``, for trace() and the log."""
    _log.debug("%s: %s kernels", op, kernels.NAME)
    for records in _traces:
        records.append((op, kernels.NAME))


@contextmanager
def trace():
    """``with trace() as records:`` collects (op, kernel set name) for each op run in the block."""
    records = []
    _traces.append(records)
    try:
        yield records
    finally:
        _traces.remove(records)


def index_add(target, index, values):
    """target[index] += values, summing repeated indices (np.add.at; cupyx.scatter_add). A basic
    index (slices, integers) picks no element twice: a plain in-place add, many times faster."""
    if all(isinstance(i, (slice, int, type(None), type(Ellipsis)))
           for i in (index if isinstance(index, tuple) else (index,))):
        target[index] += values
    elif get_array_module(target) is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


class _CallableModule(types.ModuleType):
    """Lets ``minicnn.backend`` be both this package and the context manager of section 8 of
    the design: ``with minicnn.backend("c"):``."""

    def __call__(self, name):
        return use(name)


sys.modules[__name__].__class__ = _CallableModule
