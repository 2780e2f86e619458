"""The C kernel set: the kernels of ``csrc/`` (built by cffi as ``minicnn._ckernels``), loaded,
given their threads and output buffers, and called.

Each kernel has the name, arguments and results of its kernel in ``reference.py``. Those that
the CUDA set launches too take their checks, output shapes and launch arguments from
``contract.py`` (``_CKernels`` below: arrays become pointers, ``_call`` runs them); the C set's
own (the fused convolution family, the linear layer's GEMM, a max-pool backward whose kernel
checks the indices, the batch-norm inference forward) check with ``validate.py`` likewise.
Everything is checked before a pointer crosses into C; a bad call raises a TypeError /
ValueError / IndexError that names the argument. The C kernels check their sizes again and
refuse (a nonzero status, turned into a RuntimeError here) rather than touch memory they do not
own.

Output arrays come from ``buffer_pool``, which hands back a big array of the same shape and dtype
that nobody references any more instead of asking the OS for fresh pages (see BufferPool).
"""

import importlib
import os
import sys
import threading

import numpy as np

from minicnn.backend import contract, reference
from minicnn.backend import validate as check
from minicnn.backend.arrays import warn_once


try:  # its threads are its own (csrc/threadpool.c) and sleep when idle: no OpenMP
    _ckernels = importlib.import_module("minicnn._ckernels")
    _load_error = None
except (ImportError, OSError) as error:  # not built, or built for another platform
    _ckernels = None
    _load_error = error

NAME = "c"

_C_TYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]",
           np.dtype(np.int64): "int64_t[]"}


# ----- the extension, its threads and its completeness ---------------------------------------

def _threads_from_environment():
    """MINICNN_NUM_THREADS, else OMP_NUM_THREADS (its first level), else 0: one thread per
    core. A value that is no positive integer is said once and ignored."""
    for variable in ("MINICNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
        if value:
            warn_once(variable, f"minicnn: {variable} must be a positive integer, got "
                                f"{os.environ[variable]!r}; ignored")
    return 0


if _ckernels is not None:
    _ckernels.lib.minicnn_set_num_threads(_threads_from_environment())
    if not any(variable in os.environ for variable in ("MALLOC_MMAP_THRESHOLD_",
                                                       "MALLOC_TRIM_THRESHOLD_")):
        _ckernels.lib.minicnn_keep_freed_memory()  # no page faults on each step's arrays


def missing_kernels():
    """Kernels of the reference that this kernel set does not provide (empty when complete)."""
    module = sys.modules[__name__]
    return [name for name, value in vars(reference).items()
            if callable(value) and getattr(value, "__module__", None) == reference.__name__
            and not name.startswith("_") and not hasattr(module, name)]


def available():
    """True when the C extension loaded and provides every kernel of the reference."""
    return _ckernels is not None and not missing_kernels()


def unavailable_reason():
    if _ckernels is None:
        return f"the extension minicnn._ckernels did not load ({_load_error})"
    missing = missing_kernels()
    if missing:
        return "the C kernel set lacks " + ", ".join(missing)
    return ""


def num_threads():
    """Threads of the C kernels' pool (0 when the extension is missing): set_num_threads's
    value, else MINICNN_NUM_THREADS / OMP_NUM_THREADS, else the cores this process may use."""
    return int(_ckernels.lib.minicnn_num_threads()) if _ckernels is not None else 0


def gemm_kernel():
    """The micro-kernel of the C convolutions' GEMM: "avx512", "avx2" or "portable" (chosen
    for this CPU, or forced by MINICNN_GEMM_KERNEL); "" when the extension is missing."""
    if _ckernels is None:
        return ""
    return _ckernels.ffi.string(_ckernels.lib.minicnn_gemm_kernel()).decode()


if _ckernels is not None and os.environ.get("MINICNN_GEMM_KERNEL", "auto") not in ("auto",
                                                                                 gemm_kernel()):
    warn_once("MINICNN_GEMM_KERNEL", "minicnn: MINICNN_GEMM_KERNEL="
              f"{os.environ['MINICNN_GEMM_KERNEL']!r} names no micro-kernel this CPU runs "
              f"(auto, avx512, avx2, portable); using {gemm_kernel()}")


def set_num_threads(n):
    """Run the C kernels on ``n`` threads (n >= 1)."""
    n = check.integer("n", n, minimum=1)
    if _ckernels is not None:
        _ckernels.lib.minicnn_set_num_threads(n)


# ----- output buffers -----------------------------------------------------------------------

class BufferPool:
    """Output arrays reused across calls of the same shape and dtype.

    A fresh multi-megabyte array costs a page fault per page the first time it is written, which
    can take longer than the kernel that fills it. The pool keeps the big arrays it handed out;
    a later request for the same shape and dtype gets one back only if nothing else references
    it any more: not the caller, not a view of it (a view holds its base), not a saved tensor
    of the autograd graph. So an activation that a layer saved for its backward (a ReLU's
    output, a max pool's indices) is never handed to the next layer; once the backward has
    released it, the next step reuses it. CPython's
    reference count tells; where it is not exact (another interpreter, free threading) the
    pool is off. At most ``max_bytes`` are kept; ``clear()`` lets them go.
    Kernels write every element of their outputs, so a reused buffer needs no clearing;
    ``poison = True`` (tests) fills reused buffers with NaN / -1 to prove it.
    """

    MIN_BYTES = 1 << 20  # smaller arrays come from malloc's free lists without page faults

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.poison = False
        self._buffers = {}  # (shape, dtype) -> list of arrays
        self._lock = threading.Lock()
        self._enabled = (sys.implementation.name == "cpython"
                         and getattr(sys, "_is_gil_enabled", lambda: True)())
        self._free_refcount = self._refcount([np.empty(1)], 0)

    @staticmethod
    def _refcount(buffers, i):
        return sys.getrefcount(buffers[i])

    def empty(self, shape, dtype):
        """An uninitialised C-contiguous array, reused when one is free."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not self._enabled or nbytes < self.MIN_BYTES or nbytes > self.max_bytes:
            return np.empty(shape, dtype)
        key = (tuple(shape), dtype)
        with self._lock:
            buffers = self._buffers.setdefault(key, [])
            for i in range(len(buffers)):
                if self._refcount(buffers, i) == self._free_refcount:
                    array = buffers[i]
                    if self.poison:
                        array.fill(np.nan if dtype.kind == "f" else -1)
                    return array
            array = np.empty(shape, dtype)
            if self._make_room(nbytes):
                buffers.append(array)
            return array

    def _make_room(self, nbytes):
        """Drop free buffers until nbytes more fit in max_bytes; False if they cannot."""
        for buffers in self._buffers.values():
            i = 0
            while self.nbytes() + nbytes > self.max_bytes and i < len(buffers):
                if self._refcount(buffers, i) == self._free_refcount:
                    del buffers[i]
                else:
                    i += 1
        return self.nbytes() + nbytes <= self.max_bytes

    def nbytes(self):
        return sum(a.nbytes for buffers in self._buffers.values() for a in buffers)

    def clear(self):
        with self._lock:
            self._buffers.clear()


def default_pool_bytes():
    """The pool's limit: $MINICNN_BUFFER_POOL_MB MiB, else a quarter of the machine's memory and
    at least 1 GiB. A step holds its activations at its peak anyway, so the pool adds nothing
    to the peak; too low a limit is paid every step: airbench94's net at batch 1024 keeps 2.3
    GiB, and with a 1 GiB limit the rest came fresh from the kernel each step (2 s of system
    time a step on 2 cores, about a fifth of it)."""
    if "MINICNN_BUFFER_POOL_MB" in os.environ:
        return int(os.environ["MINICNN_BUFFER_POOL_MB"]) << 20
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):   # no sysconf (Windows) or no such name
        physical = 0
    return max(1 << 30, physical // 4)


buffer_pool = BufferPool(default_pool_bytes())


# ----- calling into C -----------------------------------------------------------------------

def _pointer(array):
    """A launch argument as cffi passes it: an array's pointer (None: NULL), a NumPy scalar's
    value."""
    if array is None:
        return _ckernels.ffi.NULL
    if isinstance(array, np.ndarray):
        return _ckernels.ffi.from_buffer(_C_TYPE[array.dtype], array)
    return array.item()


def _call(kernel, dtype, *args):
    """Run lib.<kernel>_f32 / _f64. MemoryError, naming the kernel and the bytes it asked for,
    when its working memory could not be allocated; any other refusal from C means these
    wrappers missed a check."""
    status = getattr(_ckernels.lib, contract.kernel_name(kernel, dtype))(*args)
    if status == _ckernels.lib.MINICNN_OUT_OF_MEMORY:
        asked = _ckernels.lib.minicnn_failed_allocation()
        raise MemoryError(f"C kernel {kernel} ({np.dtype(dtype)}): out of memory: its working "
                          f"memory of {asked:,} bytes ({asked / 2**20:,.1f} MiB) could not be "
                          "allocated")
    if status != 0:
        raise RuntimeError(f"C kernel {kernel} refused its arguments (status {status}): "
                           "the Python checks should have caught this, please report it")


# ----- the contract's kernels, launched by _call ---------------------------------------------

class _CKernels(contract.Kernels):
    """contract.Kernels on NumPy arrays, outputs from buffer_pool and a C call each."""

    def empty(self, kernel, shape, dtype):
        return buffer_pool.empty(shape, dtype)

    def launch(self, kernel, dtype, work, *args, per_block=False):
        _call(kernel, dtype, *map(_pointer, args))


_kernels = _CKernels()
globals().update(_kernels.bound())   # contract.KERNELS and contract.FROM_REFERENCE


# ----- convolution --------------------------------------------------------------------------

# the conv family: csrc/conv2d_gemm.c, im2col and col2im fused into the packing of its own GEMM;
# so no C kernel needs them alone, and the set takes the reference's (for whoever calls them)
im2col, col2im = reference.im2col, reference.col2im


def conv2d_forward(x, weight, groups, window):
    x, weight, groups, window = _kernels.conv2d_operands(x, weight, groups, window)
    N, C, H, W = x.shape
    F = weight.shape[0]
    y = buffer_pool.empty((N, F, *window.output_hw(H, W)), x.dtype)
    _call("conv2d_forward", x.dtype, _pointer(x), _pointer(weight), _pointer(y), N, C, H, W, F,
          groups, *window)
    return y


def conv2d_backward_input(grad_y, weight, groups, window, input_hw):
    grad_y, weight, groups, window, (H, W) = _kernels.conv2d_backward_input_operands(
        grad_y, weight, groups, window, input_hw)
    N, F = grad_y.shape[:2]
    C = weight.shape[1] * groups
    grad_x = buffer_pool.empty((N, C, H, W), grad_y.dtype)
    _call("conv2d_backward_input", grad_y.dtype, _pointer(grad_y), _pointer(weight),
          _pointer(grad_x), N, C, H, W, F, groups, *window)
    return grad_x


def conv2d_backward_weight(x, grad_y, groups, window):
    x, grad_y, groups, window = _kernels.conv2d_backward_weight_operands(x, grad_y, groups,
                                                                         window)
    N, C, H, W = x.shape
    F = grad_y.shape[1]
    grad_weight = np.empty((F, C // groups, window.kh, window.kw), x.dtype)
    _call("conv2d_backward_weight", x.dtype, _pointer(x), _pointer(grad_y), _pointer(grad_weight),
          N, C, H, W, F, groups, *window)
    return grad_weight


# ----- the C set's own: a max-pool backward whose kernel checks the indices, the inference
# batch norm (the CUDA set takes the reference's)

def max_pool2d_backward(grad_y, indices, H, W):
    grad_y, indices, H, W = _kernels.max_pool2d_backward_arguments(grad_y, indices, H, W)
    N, C, oh, ow = grad_y.shape
    grad_x = buffer_pool.empty((N, C, H, W), grad_y.dtype)
    kernel = getattr(_ckernels.lib, contract.kernel_name("max_pool2d_backward", grad_y.dtype))
    status = kernel(*map(_pointer, (grad_y, indices, grad_x)), N, C, oh, ow, H, W)
    if status == _ckernels.lib.MINICNN_BAD_INDEX:
        raise IndexError(f"indices must be -1 or a position h*W + w in [0, {H * W}) of the "
                         f"input plane")
    if status != 0:
        raise RuntimeError(f"C kernel max_pool2d_backward refused its arguments (status {status})")
    return grad_x


def batch_norm_inference_forward(x, running_mean, running_var, weight, bias, eps):
    x = _kernels.batch("x", x)
    N, C, H, W = x.shape
    statistics = [_kernels.channel_vector(name, check.floats(name, value).astype(x.dtype), x)
                  for name, value in (("running_mean", running_mean), ("running_var", running_var))]
    weight = _kernels.channel_vector("weight", weight, x, optional=True)
    bias = _kernels.channel_vector("bias", bias, x, optional=True)
    invstd = 1 / np.sqrt(statistics[1] + float(eps))   # as the reference forms it
    y = buffer_pool.empty(x.shape, x.dtype)
    _call("batch_norm_inference_forward", x.dtype, *map(_pointer, (
        x, statistics[0], invstd, weight, bias, y)), N, C, H, W)
    return y, invstd


# ----- linear: products on the C GEMM -------------------------------------------------------
# On the kernels' own thread pool rather than NumPy's BLAS, whose threads stall a loaded machine
# (LeNet-5 inference at 2 threads beside two busy processes: 8,670 img/s through OpenBLAS with
# 2 threads, 26,576 with 1).

def _rows(name, array, like=None, like_name=None):
    """(..., n) as a C-contiguous (rows, n) array."""
    array = check.floats(name, array, like=like, like_name=like_name)
    if array.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a 0-d array")
    rows = int(np.prod(array.shape[:-1]))     # not reshape(-1, n): n may be 0
    return np.ascontiguousarray(array.reshape(rows, array.shape[-1]))


def _gemm(a, trans_a, b, trans_b, M, N):
    """C (M, N) = op(a) @ op(b), a and b C-contiguous, op transposing when asked."""
    K = a.shape[0] if trans_a else a.shape[1]
    if (b.shape[1] if trans_b else b.shape[0]) != K:
        raise ValueError(f"the product's inner sizes differ: {a.shape} and {b.shape}")
    if 0 in (M, N, K):      # a layer of no features: nothing to multiply, or a sum of nothing
        return np.zeros((M, N), a.dtype)
    c = np.empty((M, N), a.dtype)
    _call("gemm", a.dtype, int(trans_a), int(trans_b), M, N, K, _pointer(a), a.shape[1],
          _pointer(b), b.shape[1], 0, _pointer(c), N)
    return c


def linear_forward(x, weight, bias):
    rows = _rows("x", x)
    weight = check.floats("weight", weight, ndim=2, like=rows, like_name="x")
    y = _gemm(rows, False, weight, True, rows.shape[0], weight.shape[0])
    y = y.reshape(*np.shape(x)[:-1], weight.shape[0])
    return y + bias if bias is not None else y


def linear_backward_input(grad_y, weight):
    rows = _rows("grad_y", grad_y)
    weight = check.floats("weight", weight, ndim=2, like=rows, like_name="grad_y")
    grad_x = _gemm(rows, False, weight, False, rows.shape[0], weight.shape[1])
    return grad_x.reshape(*np.shape(grad_y)[:-1], weight.shape[1])


def linear_backward_weight(grad_y, x):
    grad_rows = _rows("grad_y", grad_y)
    rows = _rows("x", x, like=grad_rows, like_name="grad_y")
    return _gemm(grad_rows, True, rows, False, grad_rows.shape[1], rows.shape[1])
