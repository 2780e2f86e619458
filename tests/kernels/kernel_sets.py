"""The kernel sets, for the ``kernel_set`` fixture (tests/kernels/conftest.py): a test that takes
it runs once per set.

| value | the kernels | the arrays |
| --- | --- | --- |
| ``c`` | csrc/ through minicnn.backend.ckernels (outputs from the buffer pool, poisoned) | NumPy |
| ``cuda-emulation`` | kernels/*.cu compiled for the CPU (tests/cuda_emulation.h), 37 threads a block, at most 3 blocks | NumPy |
| ``cuda-standin`` | the same emulated kernels behind the CuPy stand-in (tests/cupy_standin.py) | on the stand-in's device |
| ``gpu`` | kernels/*.cu through CuPy on a real GPU (skipped without one) | on the GPU |

``kernel_set.kernels`` takes and returns NumPy arrays whatever the set (a device set moves them
there and back, tests/cuda_emulation.py's OnDevice), so one test body checks every set; an
update's arrays (``*_step``) are written back in place. ``kernel_set.selected()`` makes the
layers run on the set, and ``kernel_set.tensor`` puts a tensor where the set's arrays live.

A new kernel set gets the whole suite by adding one entry to KERNEL_SETS. The environment
variable MINICNN_KERNEL_SETS (names separated by commas) keeps only those sets: the ASan run of
tests/native/test_ckernels_safety.py takes "c", benchmarks/gpu_check.sh takes "gpu".
"""

import contextlib
import os
import shutil

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend


class KernelSet:
    def __init__(self, name, kernels, module, device, backend_name):
        self.name = name
        self.kernels = kernels          # the set's functions, NumPy arrays in and out
        self.module = module            # what backend.kernels_for returns when it is selected
        self.device = device            # where the set's arrays live: "cpu" or "cuda"
        self._backend_name = backend_name

    @contextlib.contextmanager
    def selected(self):
        """The layers' ops run on this set inside the block."""
        if self._backend_name is not None:
            with mc.backend(self._backend_name):
                yield
            return
        # the emulated CUDA set runs on NumPy arrays, which no backend name sends it: choose it
        # for every non-empty float array, as backend.dispatch._choose does for CuPy arrays
        from minicnn.backend import reference
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(backend.dispatch, "_choices", {})
            patch.setattr(backend.dispatch, "_choose", lambda name, array: (
                self.module if array.dtype in (np.float32, np.float64) and array.size > 0
                else reference))
            yield

    def tensor(self, array, requires_grad=False):
        return mc.tensor(array, requires_grad=requires_grad, device=self.device)

    def on_set(self, array):
        """A NumPy array moved to where the set's arrays live."""
        return array if self.device == "cpu" else backend.arrays.cupy.asarray(array)


def _c():
    from minicnn.backend import ckernels
    if not ckernels.available():
        pytest.skip("C kernels not built: " + ckernels.unavailable_reason())
    # pool every output, however small, and fill reused buffers with NaN / -1: a kernel that
    # leaves an element unwritten fails
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ckernels.buffer_pool, "MIN_BYTES", 0)
        patch.setattr(ckernels.buffer_pool, "poison", True)
        yield KernelSet("c", ckernels, ckernels, "cpu", "c")
        ckernels.buffer_pool.clear()


def _needs_gxx():
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the emulated CUDA kernels are compiled with it")


def _cuda_emulation():
    _needs_gxx()
    import cuda_emulation
    module = cuda_emulation.EmulatedModule(cuda_emulation.build())
    with cuda_emulation.emulated_cuda(module) as cuda:
        yield KernelSet("cuda-emulation", cuda, cuda, "cpu", None)


def _cuda_standin():
    _needs_gxx()
    import cupy_standin
    from cuda_emulation import OnDevice
    from minicnn.backend import cuda
    with cupy_standin.installed():
        yield KernelSet("cuda-standin", OnDevice(), cuda, "cuda", "cuda")


def _gpu():
    from cuda_emulation import OnDevice
    from minicnn.backend import cuda
    if not cuda.available():
        pytest.skip("no GPU: " + cuda.unavailable_reason())
    yield KernelSet("gpu", OnDevice(), cuda, "cuda", "cuda")


# name -> (where its arrays live, a generator that yields the KernelSet or skips)
KERNEL_SETS = {"c": ("cpu", _c), "cuda-emulation": ("cpu", _cuda_emulation),
               "cuda-standin": ("cuda", _cuda_standin), "gpu": ("cuda", _gpu)}
SELECTED = [name for name in os.environ.get("MINICNN_KERNEL_SETS", ",".join(KERNEL_SETS))
            .split(",") if name in KERNEL_SETS]
DEVICE_SETS = [name for name in SELECTED if KERNEL_SETS[name][0] == "cuda"]
