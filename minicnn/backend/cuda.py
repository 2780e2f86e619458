"""The CUDA kernels of ``kernels/`` (one ``.cu`` per family), loaded with CuPy and launched with
validated arguments.

Each function has the name, arguments and results of its kernel in ``reference.py``, on CuPy
arrays. Those that the C set runs too take their checks, output shapes and launch arguments from
``contract.py`` (``_CudaKernels`` below); everything is checked before a launch with the
validators the C kernels use (``validate.py``): CuPy arrays (a NumPy array among them is
refused, naming it) of float32 / float64, one dtype per call, C-contiguous (copied when not),
ranks and shapes that agree, sizes >= 1 and element counts that fit in int64. Matrix products go
to cuBLAS through ``cupy.matmul``; the convolution family is tiled products (``tiling.py``)
around the im2col / col2im kernels.

The sources ship inside the package (``minicnn/_kernels`` in a wheel; ``kernels/`` in a source
checkout). Each file is compiled by NVRTC the first time one of its kernels runs, once per
process (``cupy.RawModule``; CuPy also caches the binaries on disk). A failed launch (an invalid
configuration, out of memory) raises a RuntimeError / MemoryError naming the kernel; with
``MINICNN_CUDA_SYNC=1`` every launch is followed by a synchronisation, so that an error that
CUDA reports later (an illegal address) names its kernel too.

``available()`` is True once CuPy sees a GPU and NVRTC and cuBLAS work (``missing_libraries``
checks both once per process and names what is missing); ``minicnn info`` reports it.

Known differences from the CPU sets, kept on purpose: CuPy compiles every kernel with
``-ftz=true`` (it appends the flag after the caller's options, and NVRTC honours the last), so
float32 values below 1.2e-38 are flushed to zero on the GPU (float64 is not affected; training
never meets such values, and flushing keeps float32 arithmetic at full speed). Batch norm and
cross-entropy run one block per channel / row (16-64 blocks for ResNet-20's batch norms, fewer
than the SMs of a large GPU); a two-pass reduction over several blocks a channel would fill them,
to be weighed against cuDNN in benchmarks/gpu_check.sh's per-layer table. The argument checks
that read GPU values (a target out of range, a max-pool index) wait for the GPU, once per loss
forward and backward and per max-pool backward: that is the contract of every kernel set (bad
input raises before any launch); the kernels themselves stay safe without them (NaN, never a
read out of bounds).

``Runtime`` holds where the kernels run: the array module, the compiled kernels and the launch
shape. The tests swap in a runtime of NumPy arrays and the same kernels compiled for the CPU
(tests/cuda_emulation.py), which runs every function of this module without a GPU.
"""

import contextlib
import hashlib
import math
import os
import re
import threading
from pathlib import Path

import numpy as np

from minicnn.backend import arrays, contract, reference, tiling
from minicnn.backend import validate as check

NAME = "cuda"

_PACKAGE = Path(__file__).resolve().parents[1]


# ----- the kernel sources and the device ----------------------------------------------------

def kernel_directory():
    """The folder of the .cu sources: minicnn/_kernels when installed, else the checkout's
    kernels/."""
    for folder in (_PACKAGE / "_kernels", _PACKAGE.parent / "kernels"):
        if (folder / "kernel.cuh").is_file():
            return folder
    raise RuntimeError(f"the CUDA kernel sources are missing (looked in {_PACKAGE / '_kernels'} "
                       f"and {_PACKAGE.parent / 'kernels'}); reinstall minicnn")


def kernel_files():
    """{kernel name without its dtype suffix: the .cu file that defines it}."""
    files = {}
    for path in sorted(kernel_directory().glob("*.cu")):
        for name in re.findall(r"__global__\s+void\s+NAME\((\w+)\)", path.read_text()):
            files[name] = path
    return files


def cupy_or_none():
    return arrays.cupy


def device_count():
    """How many CUDA devices CuPy sees (0 without CuPy, a driver or a GPU)."""
    cupy = cupy_or_none()
    if cupy is None:
        return 0
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001  (CuPy raises its own error types when no driver loads)
        return 0


def unavailable_reason():
    """Why the CUDA kernel set cannot run here ("" when it can): no CuPy, no GPU, or CUDA
    libraries that do not load or work (see ``missing_libraries``)."""
    if cupy_or_none() is None:
        return "CuPy is not installed (pip install 'minicnn[cuda]' or 'minicnn[cuda13]')"
    if device_count() == 0:
        return "CuPy found no CUDA device (no GPU, or no driver)"
    return missing_libraries()


_library_checks = {}    # id(the cupy module) -> missing_libraries()'s answer
_library_lock = threading.Lock()


def missing_libraries():
    """What of CUDA's libraries minicnn needs is missing or broken, in words ("" when none):
    NVRTC (it compiles the kernels of kernels/ and CuPy's own) and cuBLAS (cupy.matmul, in every
    convolution and linear layer). Checked once per process, on the current GPU, by compiling
    and launching one of minicnn's kernels and running a 1x1 cuBLAS product; the arrays are
    filled by copies from the host, which need neither library."""
    cupy = cupy_or_none()
    with _library_lock:
        if id(cupy) in _library_checks:
            return _library_checks[id(cupy)]
        problems = []
        try:
            x, y = cupy.empty(1, np.float32), cupy.empty(1, np.float32)
            x.set(np.array([-1.0], np.float32))
            kernel = _CupyKernels(cupy).get_function("relu_forward_f32")
            kernel((1,), (1,), (x, y, np.int64(1)))
            if y.get()[0] != 0:
                problems.append("NVRTC: a compiled kernel gave a wrong result")
        except Exception as error:  # noqa: BLE001  (CuPy's errors for a library that fails)
            problems.append(f"NVRTC cannot compile and launch minicnn's kernels "
                            f"({type(error).__name__}: {error})")
        try:
            a = cupy.empty((1, 1), np.float32)
            a.set(np.full((1, 1), 3.0, np.float32))
            if cupy.matmul(a, a).get()[0, 0] != 9.0:
                problems.append("cuBLAS: a 1x1 product gave a wrong result")
        except Exception as error:  # noqa: BLE001
            problems.append(f"cuBLAS does not run a 1x1 product ({type(error).__name__}: "
                            f"{error})")
        answer = ""
        if problems:
            answer = ("; ".join(problems) + ". pip install 'minicnn[cuda]' (CUDA 12) or "
                      "'minicnn[cuda13]' brings CuPy with CUDA's NVRTC and cuBLAS wheels")
        _library_checks[id(cupy)] = answer
        return answer


def available():
    return not unavailable_reason()


def require_device():
    """Raise a RuntimeError saying what is missing when arrays cannot go to a GPU."""
    reason = unavailable_reason()
    if reason:
        raise RuntimeError("device 'cuda': " + reason)


class _CupyKernels:
    """The kernels, one cupy.RawModule per .cu file, compiled on first use; each kernel looked
    up once per device."""

    def __init__(self, cupy):
        self._cupy = cupy
        self._modules = {}
        self._functions = {}
        self._lock = threading.Lock()
        self._files = kernel_files()
        folder = kernel_directory()
        # CuPy's disk cache is keyed by the source text; the headers it includes count too
        digest = hashlib.sha256()
        for path in sorted(folder.glob("*.cu*")):
            digest.update(path.name.encode() + path.read_bytes())
        self._stamp = f"// minicnn kernels {digest.hexdigest()[:16]}\n"
        self._options = (f"-I{folder}",)

    def get_function(self, name):
        key = (self._cupy.cuda.runtime.getDevice(), name)
        function = self._functions.get(key)
        if function is None:
            path = self._files[name.rsplit("_", 1)[0]]
            with self._lock:
                module = self._modules.get(path)
                if module is None:
                    module = self._cupy.RawModule(code=self._stamp + path.read_text(),
                                                  options=self._options)
                    self._modules[path] = module
            function = self._functions[key] = module.get_function(name)
        return function


class Runtime:
    """Where the kernels run: ``xp`` (cupy, or numpy under the tests' emulation), ``kernels``
    (anything with get_function(name) -> kernel(grid, block, args, shared_mem=...)), and the
    launch shape: ``block`` threads a block, at most ``max_blocks`` blocks (every kernel loops
    over its work, so a smaller grid is still correct)."""

    def __init__(self, xp, kernels, block=256, max_blocks=4096):
        self.xp, self.kernels, self.block, self.max_blocks = xp, kernels, block, max_blocks
        self.synchronize = os.environ.get("MINICNN_CUDA_SYNC", "") not in ("", "0")


_runtime = None
_runtime_lock = threading.Lock()


def runtime():
    """The process's runtime, made on first use (needs CuPy and a device)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            require_device()
            _runtime = Runtime(cupy_or_none(), _CupyKernels(cupy_or_none()))
        return _runtime


def reset():
    """Forget the process's runtime and library checks (made again on first use): for the
    tests, which swap the array library under them."""
    global _runtime
    with _runtime_lock:
        _runtime = None
    with _library_lock:
        _library_checks.clear()


@contextlib.contextmanager
def runtime_override(replacement):
    """Run the kernels on another Runtime inside the block (the tests' CPU emulation)."""
    global _runtime
    with _runtime_lock:
        previous, _runtime = _runtime, replacement
    try:
        yield replacement
    finally:
        with _runtime_lock:
            _runtime = previous


def _empty(kernel, shape, dtype, zeros=False):
    xp = runtime().xp
    try:
        return xp.zeros(shape, dtype) if zeros else xp.empty(shape, dtype)
    except MemoryError as error:
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        raise MemoryError(f"CUDA kernel {kernel}: no memory for its output of shape "
                          f"{tuple(shape)}, {nbytes:,} bytes ({error})") from error


def _launch(kernel, dtype, work, *args, per_block=False):
    """Launch ``kernel`` for ``dtype`` over ``work`` items: elements (one thread each, the grid
    covering them up to max_blocks) or, with ``per_block``, rows / channels (one block each,
    with a block of accum values of dynamic shared memory for its reductions)."""
    run = runtime()
    name = contract.kernel_name(kernel, dtype)
    if per_block:
        grid, shared = min(work, run.max_blocks), run.block * np.dtype(np.float64).itemsize
    else:
        grid, shared = min(-(-work // run.block), run.max_blocks), 0
    try:
        run.kernels.get_function(name)((max(grid, 1),), (run.block,), args, shared_mem=shared)
        if run.synchronize:
            run.xp.cuda.Device().synchronize()
    except RuntimeError as error:  # CuPy's CUDA errors, the emulation's launch errors
        raise RuntimeError(f"CUDA kernel {name} (grid {grid}, block {run.block}) failed: "
                           f"{error}") from error


def _floats(name, array, **options):
    return check.floats(name, array, runtime().xp, **options)


def _sizes(*values):
    return tuple(np.int64(v) for v in values)


# ----- the contract's kernels, launched on the runtime ---------------------------------------

class _CudaKernels(contract.Kernels):
    """contract.Kernels on the runtime's arrays, outputs from its memory, launched by _launch."""

    @property
    def xp(self):
        return runtime().xp

    def empty(self, kernel, shape, dtype):
        return _empty(kernel, shape, dtype)

    def launch(self, kernel, dtype, work, *args, per_block=False):
        _launch(kernel, dtype, work, *args, per_block=per_block)


_kernels = _CudaKernels()
globals().update(_kernels.bound())   # contract.KERNELS and contract.FROM_REFERENCE


# ----- convolution --------------------------------------------------------------------------

def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    x = _floats("x", x, ndim=4)
    check.positive_sizes("x", x.shape)
    window = check.window((kh, kw, sh, sw, ph, pw, dh, dw))
    N, C, H, W = x.shape
    oh, ow = check.output_hw("im2col", H, W, window)
    check.positive_sizes("cols", (C, kh, kw, N, oh, ow))
    cols = _empty("im2col", (C * kh * kw, N * oh * ow), x.dtype)
    _launch("im2col", x.dtype, cols.size, x, cols, *_sizes(N, C, H, W, *window))
    return cols


def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    N, C, H, W = check.int32s("NCHW", (N, C, H, W), 1)
    check.positive_sizes("x", (N, C, H, W))
    window = check.window((kh, kw, sh, sw, ph, pw, dh, dw))
    oh, ow = check.output_hw("col2im", H, W, window)
    cols = _floats("cols", cols, ndim=2)
    check.positive_sizes("cols", (C, kh, kw, N, oh, ow))
    if cols.shape != (C * kh * kw, N * oh * ow):
        raise ValueError(f"cols must have shape (C*kh*kw, N*oh*ow) = {(C * kh * kw, N * oh * ow)},"
                         f" got {cols.shape}")
    x = _empty("col2im", (N, C, H, W), cols.dtype)
    _launch("col2im", cols.dtype, x.size, cols, x, *_sizes(N, C, H, W, *window))
    return x


# the conv family: the reference's tiled matrix products (cupy.matmul: cuBLAS) around the
# im2col / col2im kernels above

def conv2d_forward(x, weight, groups, window):
    x, weight, groups, window = _kernels.conv2d_operands(x, weight, groups, window)
    return tiling.conv2d_forward(x, weight, groups, window, im2col)


def conv2d_backward_input(grad_y, weight, groups, window, input_hw):
    grad_y, weight, groups, window, input_hw = _kernels.conv2d_backward_input_operands(
        grad_y, weight, groups, window, input_hw)
    return tiling.conv2d_backward_input(grad_y, weight, groups, window, input_hw, col2im)


def conv2d_backward_weight(x, grad_y, groups, window):
    x, grad_y, groups, window = _kernels.conv2d_backward_weight_operands(x, grad_y, groups,
                                                                         window)
    return tiling.conv2d_backward_weight(x, grad_y, groups, window, im2col)


# ----- a max-pool backward that checks the indices on the GPU before its launch --------------

def max_pool2d_backward(grad_y, indices, H, W):
    grad_y, indices, H, W = _kernels.max_pool2d_backward_arguments(grad_y, indices, H, W)
    N, C, oh, ow = grad_y.shape
    if ((indices < -1) | (indices >= H * W)).any():
        raise IndexError(f"indices must be -1 or a position h*W + w in [0, {H * W}) of the "
                         f"input plane")
    grad_x = _empty("max_pool2d_backward", (N, C, H, W), grad_y.dtype, zeros=True)
    _launch("max_pool2d_backward", grad_y.dtype, N * C, grad_y, indices, grad_x,
            *contract.sizes(N, C, oh, ow, H, W))
    return grad_x


# ----- kernels the CUDA set takes from the reference, besides contract.FROM_REFERENCE ------
# The linear layer's products run on cuBLAS (cupy.matmul), the inference batch norm as a few
# elementwise passes.

linear_forward = reference.linear_forward
linear_backward_input = reference.linear_backward_input
linear_backward_weight = reference.linear_backward_weight
batch_norm_inference_forward = reference.batch_norm_inference_forward
