"""Validating wrappers around the C kernels of ``csrc/`` (built by cffi as ``minicnn._ckernels``).

Each wrapper has the name, arguments and results of its kernel in ``reference.py``. It checks
everything before a pointer crosses into C: arrays are NumPy float32 / float64 (one dtype per
call), copied to C order when they are not, with ranks and shapes that agree with each other and
with the hyper-parameters, output sizes >= 1 and element counts that fit in int64. A bad call
raises a TypeError / ValueError / IndexError that names the argument. The C kernels check their
sizes again and refuse (a nonzero status, turned into a RuntimeError here) rather than touch
memory they do not own.

Output arrays come from ``buffer_pool``, which hands back a big array of the same shape and dtype
that nobody references any more instead of asking the OS for fresh pages (see BufferPool).
"""

import importlib
import operator
import os
import sys
import threading

import numpy as np

from minicnn.backend import reference, warn_once
from minicnn.backend import validate as check


try:  # its threads are its own (csrc/threadpool.c) and sleep when idle: no OpenMP
    _ckernels = importlib.import_module("minicnn._ckernels")
    _load_error = None
except (ImportError, OSError) as error:  # not built, or built for another platform
    _ckernels = None
    _load_error = error

NAME = "c"

_C_TYPE = {np.dtype(np.float32): ("float[]", "_f32"), np.dtype(np.float64): ("double[]", "_f64")}


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


buffer_pool = BufferPool(int(os.environ.get("MINICNN_BUFFER_POOL_MB", "1024")) << 20)


# ----- calling into C -----------------------------------------------------------------------

def _pointer(array):
    return _ckernels.ffi.from_buffer(_C_TYPE[array.dtype][0], array)


def _int64_pointer(array):
    return _ckernels.ffi.from_buffer("int64_t[]", array)


def _call(kernel, dtype, *args):
    """Run lib.<kernel>_f32 / _f64. MemoryError, naming the kernel and the bytes it asked for,
    when its working memory could not be allocated; any other refusal from C means these
    wrappers missed a check."""
    status = getattr(_ckernels.lib, kernel + _C_TYPE[np.dtype(dtype)][1])(*args)
    if status == _ckernels.lib.MINICNN_OUT_OF_MEMORY:
        asked = _ckernels.lib.minicnn_failed_allocation()
        raise MemoryError(f"C kernel {kernel} ({np.dtype(dtype)}): out of memory: its working "
                          f"memory of {asked:,} bytes ({asked / 2**20:,.1f} MiB) could not be "
                          "allocated")
    if status != 0:
        raise RuntimeError(f"C kernel {kernel} refused its arguments (status {status}): "
                           "the Python checks should have caught this, please report it")


# ----- ReLU ---------------------------------------------------------------------------------

def relu_forward(x):
    x = check.floats("x", x)
    y = buffer_pool.empty(x.shape, x.dtype)
    _call("relu_forward", x.dtype, _pointer(x), _pointer(y), x.size)
    return y


def relu_backward(grad_y, y):
    y = check.floats("y", y)
    grad_y = check.floats("grad_y", grad_y, like=y, like_name="y")
    check.same_shape("grad_y", grad_y, y.shape, "y")
    grad_x = buffer_pool.empty(y.shape, y.dtype)
    _call("relu_backward", y.dtype, _pointer(grad_y), _pointer(y), _pointer(grad_x), y.size)
    return grad_x


# ----- softmax cross-entropy ----------------------------------------------------------------

def _cross_entropy_arguments(function, logits_name, logits, target, weight, ignore_index,
                             label_smoothing):
    logits = check.floats(logits_name, logits, ndim=2)
    check.positive_sizes(logits_name, logits.shape)
    M, C = logits.shape
    target = check.int64s("target", target, (M,))
    ignore_index = int(operator.index(ignore_index))
    if not -2 ** 63 <= ignore_index < 2 ** 63:
        raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
    outside = (target != ignore_index) & ((target < 0) | (target >= C))
    if outside.any():
        raise IndexError(f"{function}: target {int(target[outside][0])} is out of bounds for "
                         f"{C} classes")
    if weight is not None:
        weight = check.floats("weight", weight, like=logits, like_name=logits_name)
        if weight.shape != (C,):
            raise ValueError(f"weight must have shape ({C},), got {weight.shape}")
    return logits, target, weight, ignore_index, label_smoothing


def softmax_cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing):
    logits, target, weight, ignore_index, label_smoothing = _cross_entropy_arguments(
        "softmax_cross_entropy_forward", "logits", logits, target, weight, ignore_index,
        label_smoothing)
    M, C = logits.shape
    loss = np.empty(M, logits.dtype)
    log_probs = buffer_pool.empty((M, C), logits.dtype)
    weight_pointer = _ckernels.ffi.NULL if weight is None else _pointer(weight)
    _call("softmax_cross_entropy_forward", logits.dtype, _pointer(logits), _int64_pointer(target),
          weight_pointer, ignore_index, label_smoothing, _pointer(loss), _pointer(log_probs), M, C)
    return loss, log_probs


def softmax_cross_entropy_backward(grad_loss, log_probs, target, weight, ignore_index,
                                   label_smoothing):
    log_probs, target, weight, ignore_index, label_smoothing = _cross_entropy_arguments(
        "softmax_cross_entropy_backward", "log_probs", log_probs, target, weight, ignore_index,
        label_smoothing)
    M, C = log_probs.shape
    grad_loss = check.floats("grad_loss", grad_loss, like=log_probs, like_name="log_probs")
    check.same_shape("grad_loss", grad_loss, (M,), "target")
    grad_logits = buffer_pool.empty((M, C), log_probs.dtype)
    weight_pointer = _ckernels.ffi.NULL if weight is None else _pointer(weight)
    _call("softmax_cross_entropy_backward", log_probs.dtype, _pointer(grad_loss),
          _pointer(log_probs), _int64_pointer(target), weight_pointer, ignore_index,
          label_smoothing, _pointer(grad_logits), M, C)
    return grad_logits


# ----- convolution --------------------------------------------------------------------------

# the conv family: csrc/conv2d_gemm.c, im2col and col2im fused into the packing of its own GEMM

def conv2d_forward(x, weight, groups, window):
    x, weight, groups, window = check.conv2d_operands(x, weight, groups, window)
    N, C, H, W = x.shape
    F = weight.shape[0]
    y = buffer_pool.empty((N, F, *window.output_hw(H, W)), x.dtype)
    _call("conv2d_forward", x.dtype, _pointer(x), _pointer(weight), _pointer(y), N, C, H, W, F,
          groups, *window)
    return y


def conv2d_backward_input(grad_y, weight, groups, window, input_hw):
    grad_y, weight, groups, window, (H, W) = check.conv2d_backward_input_operands(
        grad_y, weight, groups, window, input_hw)
    N, F = grad_y.shape[:2]
    C = weight.shape[1] * groups
    grad_x = buffer_pool.empty((N, C, H, W), grad_y.dtype)
    _call("conv2d_backward_input", grad_y.dtype, _pointer(grad_y), _pointer(weight),
          _pointer(grad_x), N, C, H, W, F, groups, *window)
    return grad_x


def conv2d_backward_weight(x, grad_y, groups, window):
    x, grad_y, groups, window = check.conv2d_backward_weight_operands(x, grad_y, groups, window)
    N, C, H, W = x.shape
    F = grad_y.shape[1]
    grad_weight = np.empty((F, C // groups, window.kh, window.kw), x.dtype)
    _call("conv2d_backward_weight", x.dtype, _pointer(x), _pointer(grad_y), _pointer(grad_weight),
          N, C, H, W, F, groups, *window)
    return grad_weight


# ----- pooling ------------------------------------------------------------------------------

def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    window = check.window((kh, kw, sh, sw, ph, pw, dh, dw))
    oh, ow = check.int32s(("oh", "ow"), (oh, ow), 1)
    N, C, H, W = x.shape
    check.pooled_hw(H, W, window, oh, ow)
    check.positive_sizes("y", (N, C, oh, ow))
    y = buffer_pool.empty((N, C, oh, ow), x.dtype)
    indices = buffer_pool.empty((N, C, oh, ow), np.int64)
    _call("max_pool2d_forward", x.dtype, _pointer(x), _pointer(y), _int64_pointer(indices),
          N, C, H, W, *window, oh, ow)
    return y, indices


def max_pool2d_backward(grad_y, indices, H, W):
    grad_y = check.floats("grad_y", grad_y, ndim=4)
    check.positive_sizes("grad_y", grad_y.shape)
    indices = check.int64s("indices", indices, grad_y.shape)
    N, C, oh, ow = grad_y.shape
    H, W = check.int32s(("H", "W"), (H, W), 1)
    check.int32s(("oh", "ow"), (oh, ow), 1)
    check.positive_sizes("grad_x", (N, C, H, W))
    grad_x = buffer_pool.empty((N, C, H, W), grad_y.dtype)
    status = getattr(_ckernels.lib, "max_pool2d_backward" + _C_TYPE[grad_y.dtype][1])(
        _pointer(grad_y), _int64_pointer(indices), _pointer(grad_x), N, C, oh, ow, H, W)
    if status == _ckernels.lib.MINICNN_BAD_INDEX:
        raise IndexError(f"indices must be -1 or a position h*W + w in [0, {H * W}) of the "
                         f"input plane")
    if status != 0:
        raise RuntimeError(f"C kernel max_pool2d_backward refused its arguments (status {status})")
    return grad_x


def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    window = check.window((kh, kw, sh, sw, ph, pw, 1, 1))
    oh, ow = check.int32s(("oh", "ow"), (oh, ow), 1)
    N, C, H, W = x.shape
    check.pooled_hw(H, W, window, oh, ow)
    kh, kw, sh, sw, ph, pw, _, _ = window
    check.positive_sizes("y", (N, C, oh, ow))
    y = buffer_pool.empty((N, C, oh, ow), x.dtype)
    _call("avg_pool2d_forward", x.dtype, _pointer(x), _pointer(y), N, C, H, W, kh, kw, sh, sw,
          ph, pw, oh, ow, int(bool(count_include_pad)))
    return y


def avg_pool2d_backward(grad_y, H, W, kh, kw, sh, sw, ph, pw, count_include_pad):
    grad_y = check.floats("grad_y", grad_y, ndim=4)
    check.positive_sizes("grad_y", grad_y.shape)
    H, W = check.int32s(("H", "W"), (H, W), 1)
    window = check.window((kh, kw, sh, sw, ph, pw, 1, 1))
    N, C, oh, ow = grad_y.shape
    check.int32s(("oh", "ow"), (oh, ow), 1)
    check.pooled_hw(H, W, window, oh, ow)
    kh, kw, sh, sw, ph, pw, _, _ = window
    check.positive_sizes("grad_x", (N, C, H, W))
    grad_x = buffer_pool.empty((N, C, H, W), grad_y.dtype)
    _call("avg_pool2d_backward", grad_y.dtype, _pointer(grad_y), _pointer(grad_x), N, C, H, W,
          kh, kw, sh, sw, ph, pw, oh, ow, int(bool(count_include_pad)))
    return grad_x


# ----- batch norm ---------------------------------------------------------------------------

def _optional_pointer(array):
    return _ckernels.ffi.NULL if array is None else _pointer(array)


def batch_norm_forward(x, weight, bias, eps):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    N, C, H, W = x.shape
    weight = check.channel_vector("weight", weight, x, C, optional=True)
    bias = check.channel_vector("bias", bias, x, C, optional=True)
    eps = float(eps)
    y = buffer_pool.empty(x.shape, x.dtype)
    mean, var, invstd = (np.empty(C, x.dtype) for _ in range(3))
    _call("batch_norm_forward", x.dtype, _pointer(x), _optional_pointer(weight),
          _optional_pointer(bias), eps, _pointer(y), _pointer(mean), _pointer(var),
          _pointer(invstd), N, C, H, W)
    return y, mean, var, invstd


def batch_norm_backward(grad_y, x, weight, mean, invstd):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    N, C, H, W = x.shape
    grad_y = check.floats("grad_y", grad_y, like=x, like_name="x")
    check.same_shape("grad_y", grad_y, x.shape, "x")
    weight = check.channel_vector("weight", weight, x, C, optional=True)
    mean = check.channel_vector("mean", mean, x, C)
    invstd = check.channel_vector("invstd", invstd, x, C)
    grad_x = buffer_pool.empty(x.shape, x.dtype)
    grad_weight, grad_bias = np.empty(C, x.dtype), np.empty(C, x.dtype)
    _call("batch_norm_backward", x.dtype, _pointer(grad_y), _pointer(x),
          _optional_pointer(weight), _pointer(mean), _pointer(invstd), _pointer(grad_x),
          _pointer(grad_weight), _pointer(grad_bias), N, C, H, W)
    return grad_x, grad_weight, grad_bias


def batch_norm_inference_forward(x, running_mean, running_var, weight, bias, eps):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    N, C, H, W = x.shape
    statistics = [check.channel_vector(name, check.floats(name, value).astype(x.dtype), x, C)
                  for name, value in (("running_mean", running_mean), ("running_var", running_var))]
    weight = check.channel_vector("weight", weight, x, C, optional=True)
    bias = check.channel_vector("bias", bias, x, C, optional=True)
    invstd = 1 / np.sqrt(statistics[1] + float(eps))   # as the reference forms it
    y = buffer_pool.empty(x.shape, x.dtype)
    _call("batch_norm_inference_forward", x.dtype, _pointer(x), _pointer(statistics[0]),
          _pointer(invstd), _optional_pointer(weight), _optional_pointer(bias), _pointer(y),
          N, C, H, W)
    return y, invstd


# ----- local response norm ------------------------------------------------------------------

def lrn_forward(x, size, alpha, beta, k):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    size, = check.int32s(("size",), (size,), 1)
    y = buffer_pool.empty(x.shape, x.dtype)
    scale = buffer_pool.empty(x.shape, x.dtype)
    _call("lrn_forward", x.dtype, _pointer(x), _pointer(y), _pointer(scale), *x.shape, size,
          float(alpha), float(beta), float(k))
    return y, scale


def lrn_backward(grad_y, x, y, scale, size, alpha, beta, k):
    x = check.floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    arrays = []
    for name, array in (("grad_y", grad_y), ("y", y), ("scale", scale)):
        array = check.floats(name, array, like=x, like_name="x")
        check.same_shape(name, array, x.shape, "x")
        arrays.append(array)
    grad_y, y, scale = arrays
    size, = check.int32s(("size",), (size,), 1)
    grad_x = buffer_pool.empty(x.shape, x.dtype)
    _call("lrn_backward", x.dtype, _pointer(grad_y), _pointer(x), _pointer(y), _pointer(scale),
          _pointer(grad_x), *x.shape, size, float(alpha), float(beta), float(k))
    return grad_x


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


# ----- kernels the C set takes from the reference ------------------------------------------
# The dropout mask is drawn by NumPy from minicnn's generator, so that every kernel set sees the
# same. The others run as BLAS products (adaptive average pooling) or a few vectorised passes
# over the data, which a C loop would not beat by enough to be worth a second copy. No C kernel
# needs im2col or col2im (the C convolutions build their columns inside the GEMM's packing).

dropout_mask = reference.dropout_mask
im2col, col2im = reference.im2col, reference.col2im
leaky_relu_forward, leaky_relu_backward = reference.leaky_relu_forward, reference.leaky_relu_backward
softmax_forward, softmax_backward = reference.softmax_forward, reference.softmax_backward
log_softmax_forward = reference.log_softmax_forward
log_softmax_backward = reference.log_softmax_backward
avg_pool2d_divisor = reference.avg_pool2d_divisor
adaptive_avg_pool2d_forward = reference.adaptive_avg_pool2d_forward
adaptive_avg_pool2d_backward = reference.adaptive_avg_pool2d_backward
adaptive_max_pool2d_forward = reference.adaptive_max_pool2d_forward
batch_norm_inference_backward = reference.batch_norm_inference_backward


# ----- dropout ------------------------------------------------------------------------------

def dropout_apply(x, mask):
    x = check.floats("x", x)
    mask = check.floats("mask", mask, like=x, like_name="x")
    check.same_shape("mask", mask, x.shape, "x")
    y = buffer_pool.empty(x.shape, x.dtype)
    _call("dropout_apply", x.dtype, _pointer(x), _pointer(mask), _pointer(y), x.size)
    return y


# ----- optimizer updates (in place) ---------------------------------------------------------

def _state_pointer(update, name):
    return _optional_pointer(update.arrays.get(name))


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             maximize, first_step):
    update = check.InPlace(param, grad, **check.sgd_state(momentum, momentum_buffer))
    _call("sgd_step", update.dtype, _state_pointer(update, "param"), _pointer(update.grad),
          _state_pointer(update, "momentum_buffer"), update.size, float(lr), float(momentum),
          float(dampening), float(weight_decay), int(bool(nesterov)), int(bool(maximize)),
          int(bool(first_step)))
    update.finish()


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, decoupled_weight_decay, amsgrad, maximize):
    step = check.integer("step", step, 1)
    update = check.InPlace(param, grad,
                           **check.adam_state(amsgrad, exp_avg, exp_avg_sq, max_exp_avg_sq))
    _call("adam_step", update.dtype, _state_pointer(update, "param"), _pointer(update.grad),
          _state_pointer(update, "exp_avg"), _state_pointer(update, "exp_avg_sq"),
          _state_pointer(update, "max_exp_avg_sq"), update.size, step, float(lr), float(beta1),
          float(beta2), float(eps), float(weight_decay), int(bool(decoupled_weight_decay)),
          int(bool(amsgrad)), int(bool(maximize)))
    update.finish()


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                 weight_decay, momentum, centered, maximize):
    update = check.InPlace(param, grad, **check.rmsprop_state(centered, momentum, square_avg,
                                                              grad_avg, momentum_buffer))
    _call("rmsprop_step", update.dtype, _state_pointer(update, "param"), _pointer(update.grad),
          _state_pointer(update, "square_avg"), _state_pointer(update, "grad_avg"),
          _state_pointer(update, "momentum_buffer"), update.size, float(lr), float(alpha),
          float(eps), float(weight_decay), float(momentum), int(bool(centered)),
          int(bool(maximize)))
    update.finish()
