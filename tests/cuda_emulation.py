"""The CUDA kernels of ``kernels/`` on the CPU: built with g++ and ``cuda_emulation.h`` into a
shared library, and launched through ctypes with the calling convention of CuPy's RawKernel, so
that ``minicnn.backend.cuda`` runs on it unchanged (see ``emulated_cuda``).

The build is cached in the temporary folder, keyed by a hash of the sources and flags, so each
variant (plain, AddressSanitizer, ThreadSanitizer) is compiled once per machine. Run as a script
(``python tests/cuda_emulation.py [address|thread]``) it runs every kernel once through
minicnn.backend.cuda on small inputs, compared with the reference: the sanitizer runs of
test_cuda_emulation.py run it in a subprocess with the sanitizer's runtime preloaded.
"""

import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
KERNELS = ROOT / "kernels"
HEADER = TESTS / "cuda_emulation.h"
BROKEN_KERNELS = TESTS / "cuda_broken_kernels.cu"

SANITIZER_FLAGS = {
    None: ["-O1"],
    "address": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address"],
    "thread": ["-O1", "-g", "-fsanitize=thread"],
}

_SHARED = re.compile(r"^(\s*)extern\s+__shared__\s+(\w+)\s+([\w()]+)\s*\[\s*\]\s*;\s*$", re.M)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DIRECTIVE = re.compile(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_NAME = re.compile(r"NAME\((\w+)\)\s*\(|(\w+)\s*\(")


def _rewrite_shared(text):
    """``extern __shared__ T name[];`` -> a pointer into the block's emulated shared memory."""
    return _SHARED.sub(r"\1\2 *\3 = reinterpret_cast<\2 *>(emulated_shared_memory.data());", text)


def _top_level_functions(text):
    """(name, written with NAME(), is a kernel, body) of each function a file defines."""
    text = _DIRECTIVE.sub("", _COMMENT.sub("", text))
    functions, depth, start, header_start = [], 0, 0, 0
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                match = _NAME.search(text[header_start:start])
                if match:
                    functions.append((match.group(1) or match.group(2), bool(match.group(1)),
                                      "__global__" in text[header_start:start],
                                      text[start:index + 1]))
                header_start = index + 1
        elif char == ";" and depth == 0:
            header_start = index + 1
    return functions


def kernel_table(sources):
    """{kernel name: whether it synchronises} for the kernels that ``sources`` define (a
    NAME(f) kernel as f_f32 and f_f64); calling a helper that synchronises (one of
    kernels/*.cuh or of the sources) counts."""
    files = sorted(KERNELS.glob("*.cuh")) + [Path(path) for path in sources]
    functions = [f for path in files for f in _top_level_functions(path.read_text())]
    syncing = set()
    while True:
        found = {name for name, _, _, body in functions if "__syncthreads" in body
                 or any(re.search(rf"\b{s}\s*\(", body) for s in syncing)}
        if found <= syncing:
            break
        syncing |= found
    table = {}
    for name, generic, is_kernel, _ in functions:
        if is_kernel:
            for kernel in ([name + "_f32", name + "_f64"] if generic else [name]):
                table[kernel] = name in syncing
    return table


def kernel_sources():
    return sorted(KERNELS.glob("*.cu"))


def build(sanitizer=None, sources=None):
    """The path of the shared library of ``sources`` (default: every kernels/*.cu), built with
    the flags of ``sanitizer`` (None, "address" or "thread") and cached by content."""
    sources = [Path(s) for s in (sources or kernel_sources())]
    headers = sorted(KERNELS.glob("*.cuh")) + [HEADER]
    flags = ["-std=c++20", "-shared", "-fPIC", "-pthread"] + SANITIZER_FLAGS[sanitizer]
    digest = hashlib.sha256(repr(flags).encode())
    for path in headers + sources + [Path(__file__)]:  # this file writes the kernel table
        digest.update(path.name.encode() + path.read_bytes())
    folder = Path(tempfile.gettempdir()) / f"minicnn-cuda-emulation-{digest.hexdigest()[:16]}"
    library = folder / "kernels.so"
    if library.exists():
        return library
    work = Path(tempfile.mkdtemp(prefix="minicnn-cuda-emulation-"))
    for path in headers + sources:
        (work / path.name).write_text(_rewrite_shared(path.read_text()))
    table = kernel_table(sources)
    entries = ",\n".join(f"    EMULATED_KERNEL({name}, {str(threaded).lower()})"
                         for name, threaded in sorted(table.items()))
    (work / "emulated_kernels.cpp").write_text(
        '#include "cuda_emulation.h"\n'
        + "".join(f'#include "{path.name}"\n' for path in sources)
        + "#include <cstring>\n\nstatic const EmulatedKernel kernels[] = {\n" + entries + "\n};\n\n"
        + 'extern "C" const EmulatedKernel *emulated_kernel(const char *name) {\n'
        + "    for (const EmulatedKernel &kernel : kernels)\n"
        + "        if (std::strcmp(kernel.name, name) == 0) return &kernel;\n"
        + "    return nullptr;\n}\n")
    compiled = subprocess.run(["g++", *flags, f"-I{work}", str(work / "emulated_kernels.cpp"),
                               "-o", str(work / "kernels.so")], capture_output=True, text=True)
    if compiled.returncode != 0:
        raise RuntimeError(f"g++ could not build the emulated kernels:\n{compiled.stderr}")
    folder.mkdir(exist_ok=True)
    os.replace(work / "kernels.so", library)  # atomic: a parallel build never sees half a file
    shutil.rmtree(work)
    return library


# ----- launching, as CuPy's RawKernel does ---------------------------------------------------

class _EmulatedKernelEntry(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p),
                ("signature", ctypes.CFUNCTYPE(ctypes.c_char_p)),
                ("launch", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                            ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)))]


_SCALARS = {np.int64: ("q", ctypes.c_int64), np.int32: ("i", ctypes.c_int32),
            np.float64: ("d", ctypes.c_double), np.float32: ("f", ctypes.c_float)}


class LaunchError(RuntimeError):
    """What CUDA would report: here an invalid launch configuration."""


class EmulatedKernel:
    """One kernel of the library, called as ``kernel(grid, block, args, shared_mem=0)``: arrays
    (C-contiguous NumPy arrays, or None for NULL) and NumPy scalars whose types must be the
    kernel's parameter types (a Python int or float is refused, as the design's rules say)."""

    def __init__(self, entry, name):
        self.name = name
        self._entry = entry
        self.signature = entry.signature().decode()

    def __call__(self, grid, block, args, shared_mem=0):
        if len(args) != len(self.signature):
            raise TypeError(f"{self.name} takes {len(self.signature)} arguments, got {len(args)}")
        values = []
        for position, (code, value) in enumerate(zip(self.signature, args)):
            if value is None or isinstance(value, np.ndarray):
                if code != "p":
                    raise TypeError(f"{self.name} argument {position}: an array where the "
                                    f"kernel takes {code!r}")
                if value is not None and not value.flags.c_contiguous:
                    raise ValueError(f"{self.name} argument {position}: not C-contiguous")
                values.append(ctypes.c_void_p(None if value is None else value.ctypes.data))
            elif type(value) in _SCALARS and _SCALARS[type(value)][0] == code:
                values.append(_SCALARS[type(value)][1](value))
            else:
                raise TypeError(f"{self.name} argument {position}: {type(value).__name__} where "
                                f"the kernel takes {code!r}")
        pointers = (ctypes.c_void_p * max(len(values), 1))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        grid, block = _dimension(grid), _dimension(block)
        status = self._entry.launch(grid, block, shared_mem, pointers)
        if status != 0:
            raise LaunchError(f"invalid configuration argument (grid {grid}, block {block}, "
                              f"{shared_mem} bytes of shared memory)")


def _dimension(value):
    """A launch dimension: an int or a 1-tuple (x only)."""
    if isinstance(value, tuple):
        if len(value) != 1:
            raise ValueError(f"the emulation launches 1-d grids and blocks, got {value}")
        value = value[0]
    return int(value)


class EmulatedModule:
    """The kernels of one build, looked up by name as with ``cupy.RawModule.get_function``."""

    def __init__(self, library_path):
        self._library = ctypes.CDLL(str(library_path))
        self._library.emulated_kernel.restype = ctypes.POINTER(_EmulatedKernelEntry)
        self._library.emulated_kernel.argtypes = [ctypes.c_char_p]

    def get_function(self, name):
        entry = self._library.emulated_kernel(name.encode())
        if not entry:
            raise KeyError(f"no kernel named {name}")
        return EmulatedKernel(entry.contents, name)


@contextlib.contextmanager
def emulated_cuda(module, block=37, max_blocks=3):
    """Run minicnn.backend.cuda's kernels on ``module`` with NumPy arrays, ``block`` threads a
    block and at most ``max_blocks`` blocks (small and odd: every grid-stride loop wraps)."""
    from minicnn.backend import cuda
    with cuda.runtime_override(cuda.Runtime(np, module, block, max_blocks)):
        yield cuda


# ----- every kernel once: the sanitizer runs and the difference table --------------------------

def relative_difference(actual, expected):
    """max |actual - expected| / max |expected| (0 when both are all zeros); equal NaNs and
    infinities count as equal."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    difference = np.where(same, 0.0, np.abs(actual - expected))
    scale = np.max(np.abs(np.where(np.isfinite(expected), expected, 0.0)), initial=0.0)
    largest = float(np.max(difference, initial=0.0))
    return largest / scale if scale > 0 else largest


def exercise(cuda, dtype, seed=0):
    """Call every function of the CUDA kernel set once on small inputs (a dilated, padded,
    strided window; overlapping pools; ignored targets) and return {function: the largest
    relative difference of its outputs from the reference's}."""
    from minicnn.backend import reference
    from minicnn.backend.geometry import Window
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    x = normal(2, 3, 7, 6)
    window = Window(3, 2, 2, 1, 1, 1, 2, 1)
    differences = {}

    def compare(name, ours, spec):
        ours = ours if isinstance(ours, tuple) else (ours,)
        spec = spec if isinstance(spec, tuple) else (spec,)
        differences[name] = max(relative_difference(a, b) for a, b in zip(ours, spec))

    def both(name, *args):
        compare(name, getattr(cuda, name)(*args), getattr(reference, name)(*args))

    both("relu_forward", x)
    both("relu_backward", normal(*x.shape), reference.relu_forward(x))
    for approximate in ("none", "tanh"):
        both("gelu_forward", x, approximate)
        both("gelu_backward", normal(*x.shape), x, approximate)
    both("im2col", x, *window)
    cols = normal(*reference.im2col(x, *window).shape)
    both("col2im", cols, 2, 3, 7, 6, *window)
    weight = normal(4, 3, 3, 2)
    both("conv2d_forward", x, weight, 1, window)
    grad_y = normal(*reference.conv2d_forward(x, weight, 1, window).shape)
    both("conv2d_backward_input", grad_y, weight, 1, window, (7, 6))
    both("conv2d_backward_weight", x, grad_y, 1, window)
    pool = (3, 3, 2, 2, 1, 1, 1, 1, 4, 3)
    y, indices = reference.max_pool2d_forward(x, *pool)
    both("max_pool2d_forward", x, *pool)
    both("max_pool2d_backward", normal(*y.shape), indices, 7, 6)
    both("avg_pool2d_forward", x, 3, 3, 2, 2, 1, 1, 4, 3, False)
    both("avg_pool2d_backward", normal(2, 3, 4, 3), 7, 6, 3, 3, 2, 2, 1, 1, True)
    gamma, beta = normal(3), normal(3)
    _, mean, _, invstd = reference.batch_norm_forward(x, gamma, beta, 1e-5)
    both("batch_norm_forward", x, gamma, beta, 1e-5)
    both("batch_norm_backward", normal(*x.shape), x, gamma, mean, invstd)
    y, scale = reference.lrn_forward(x, 2, 1e-2, 0.75, 2.0)
    both("lrn_forward", x, 2, 1e-2, 0.75, 2.0)
    both("lrn_backward", normal(*x.shape), x, y, scale, 2, 1e-2, 0.75, 2.0)
    both("dropout_apply", x, reference.dropout_mask(x.shape, 0.3, dtype, rng))
    logits, target = 3 * normal(5, 7), np.array([0, 6, -100, 3, 3])
    class_weight = (rng.random(7) + 0.5).astype(dtype)
    _, log_probs = reference.softmax_cross_entropy_forward(logits, target, class_weight, -100, 0.1)
    both("softmax_cross_entropy_forward", logits, target, class_weight, -100, 0.1)
    both("softmax_cross_entropy_backward", normal(5), log_probs, target, class_weight, -100, 0.1)
    updates = {
        "sgd_step": (("momentum_buffer",), dict(lr=0.1, momentum=0.9, dampening=0.0,
                                                weight_decay=1e-2, nesterov=True,
                                                maximize=False, first_step=False)),
        "adam_step": (("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                      dict(step=3, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2,
                           decoupled_weight_decay=True, amsgrad=True, maximize=False)),
        "rmsprop_step": (("square_avg", "grad_avg", "momentum_buffer"),
                         dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9,
                              centered=True, maximize=True)),
    }
    for name, (state, options) in updates.items():
        # param, grad, then the state: the first array about 1, the others small and >= 0
        arrays = [normal(4, 5), normal(4, 5), 1 + np.abs(normal(4, 5))]
        arrays += [0.1 * np.abs(normal(4, 5)) for _ in state[1:]]
        results = []
        for kernels in (cuda, reference):
            copies = [a.copy() for a in arrays]
            getattr(kernels, name)(*copies, **options)
            results.append(tuple(copies[:1] + copies[2:]))
        compare(name, *results)
    return differences


class OnDevice:
    """minicnn.backend.cuda with NumPy in and out, on the GPU of ``backend.arrays.cupy`` (CuPy,
    or the tests' stand-in): arrays go to the device, results come back; an update's arrays
    (``*_step``) are copied back into the caller's. ``exercise(OnDevice(), dtype)`` is the
    kernel check of a GPU (benchmarks/gpu_check.py; tests/kernels/kernel_sets.py's "gpu"
    set runs every kernel-set test through it)."""

    def __getattr__(self, name):
        from minicnn.backend import arrays, cuda
        cupy, function = arrays.cupy, getattr(cuda, name)

        def run(*args, **options):
            moved = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
            result = function(*moved, **options)
            if name.endswith("_step"):
                for original, array in zip(args, moved):
                    if isinstance(original, np.ndarray):
                        original[...] = cupy.asnumpy(array)
            back = lambda a: cupy.asnumpy(a) if isinstance(a, cupy.ndarray) else a  # noqa: E731
            return tuple(map(back, result)) if isinstance(result, tuple) else back(result)
        return run


TOLERANCES = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


class RecordingModule:
    """A module that remembers which kernels were looked up (to prove every one ran)."""

    def __init__(self, module):
        self._module, self.used = module, set()

    def get_function(self, name):
        self.used.add(name)
        return self._module.get_function(name)


def main(sanitizer):
    """Every kernel, both dtypes, once through minicnn.backend.cuda on the emulated build."""
    module = RecordingModule(EmulatedModule(build(sanitizer)))
    with emulated_cuda(module) as cuda:
        for dtype in (np.float32, np.float64):
            differences = exercise(cuda, dtype)
            tolerance = TOLERANCES[np.dtype(dtype)]
            wrong = {name: d for name, d in differences.items() if not d <= tolerance}
            if wrong:
                raise SystemExit(f"{np.dtype(dtype)}: differences past {tolerance}: {wrong}")
    missing = set(kernel_table(kernel_sources())) - module.used
    if missing:
        raise SystemExit(f"kernels never launched: {sorted(missing)}")
    print(f"emulated kernels ({sanitizer or 'no'} sanitizer): {len(module.used)} launched, "
          "all within tolerance of the reference")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1] if len(sys.argv) > 1 else None)
