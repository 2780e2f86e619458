"""The array helpers every layer of minicnn imports: which array library holds an array, a
scatter-add that sums repeated indices, a multiply-add rounded once as PyTorch's (the
optimizers'), the convolution's scratch-memory budget, and warnings said once a process.

CuPy is imported here when it is installed; ``arrays.cupy`` is the module the rest of minicnn
takes it from (None without CuPy; the tests swap in a stand-in there).
"""

import logging

import numpy as np

try:
    import cupy
except ImportError:
    cupy = None

_warned = set()


def get_array_module(array):
    """numpy or cupy, whichever owns ``array`` (as ``cupy.get_array_module`` does)."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


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


DEFAULT_WORKSPACE_LIMIT = 256 * 2 ** 20
_workspace_limit = DEFAULT_WORKSPACE_LIMIT


def set_workspace_limit(nbytes):
    """Largest scratch memory, in bytes, that one convolution step may use for its column matrix
    (default 256 MiB; ``None``: no limit). Returns the previous limit.

    The reference convolution (and the CUDA set, which runs its products) runs a batch in tiles
    of images of about 2^20 column entries (tiling.TILE_ELEMENTS; 2^26 on a GPU,
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


# PyTorch's CPU kernels compute `a + alpha * b` (add with alpha, lerp, addcmul) with a fused
# multiply-add: the optimizers (reference.py's updates, minicnn/optim) round once where they do.

def fma(a, b, c):
    """a * b + c rounded once to c's dtype. float32: formed in float64, where the product of two
    float32 values is exact, then rounded (a second rounding can change the result only in cases
    of probability about 2^-28). float64: rounded twice, for want of a fused multiply-add."""
    xp = get_array_module(c)
    if c.dtype != xp.float32:
        return a * b + c
    wide = xp.float64
    product = xp.asarray(a, dtype=wide) * xp.asarray(b, dtype=wide)
    return (product + c.astype(wide)).astype(xp.float32)


def lerp_(start, end, weight):
    """start += weight * (end - start), in place, as torch.lerp_ (which works from the nearer
    end: end - (1 - weight) * (end - start) when weight >= 0.5)."""
    difference = end - start
    if abs(weight) < 0.5:
        start[...] = fma(weight, difference, start)
    else:
        start[...] = fma(weight - 1, difference, end)


def warn_once(key, message):
    """Log ``message`` as a warning of the "minicnn" logger, the first time ``key`` is seen."""
    if key not in _warned:
        _warned.add(key)
        logging.getLogger("minicnn").warning(message)
