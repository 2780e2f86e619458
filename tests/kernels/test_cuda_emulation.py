"""The CUDA kernel set's own machinery, on the kernels of kernels/ compiled for the CPU
(tests/cuda_emulation.h) and run through minicnn.backend.cuda (their arithmetic against the NumPy
reference is in test_kernel_sets.py, with every other set's): a training run that launches every
kernel, the launch configurations (one thread or many, one block or several), the launch's
argument types and errors, and running out of device memory.

Then the sanitizers, each in a subprocess of the real interpreter with gcc's runtime preloaded:
every kernel once under AddressSanitizer and once under ThreadSanitizer, and a deliberately
broken kernel for each (an off-by-one read, a missing __syncthreads) that it must report.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cuda_emulation
from kernel_sets import KernelSet
from minicnn.backend import reference

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def module():
    return cuda_emulation.EmulatedModule(cuda_emulation.build())


@pytest.fixture(scope="module")
def cuda(module):
    with cuda_emulation.emulated_cuda(module) as kernels:
        yield kernels


# ----- a network trained through the CUDA kernel set ----------------------------------------

def test_training_steps_on_the_cuda_kernels_match_the_reference(module, monkeypatch):
    """Every op of a small network and the optimizers' updates, as the layers call them, go
    through minicnn.backend.cuda (the emulated kernels, chosen for every float NumPy array):
    forward, backward and three SGD (Nesterov) and Adam steps in
    float64 give the reference's parameters within 1e-10."""
    import minicnn as mc
    import minicnn.nn as nn
    import minicnn.nn.functional as F
    from minicnn import backend

    def train(kernel_set):
        mc.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                              nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(3),
                              nn.Conv2d(6, 8, 3, stride=2, groups=2),
                              nn.AvgPool2d(2, ceil_mode=True), nn.Dropout(0.3), nn.Flatten(),
                              nn.Linear(8, 5)).double()
        parameters = list(model.parameters())
        optimizers = [mc.optim.SGD(parameters[:4], lr=0.1, momentum=0.9, nesterov=True),
                      mc.optim.Adam(parameters[4:], lr=1e-2, weight_decay=1e-3)]
        rng = np.random.default_rng(0)
        x, labels = rng.standard_normal((4, 3, 10, 10)), np.array([0, 4, 2, 2])
        for _ in range(3):
            with backend.use(kernel_set):
                loss = F.cross_entropy(model(mc.tensor(x)), labels, label_smoothing=0.1)
                for optimizer in optimizers:
                    optimizer.zero_grad()
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
        return [p.numpy().copy() for p in parameters]

    expected = train("numpy")
    with cuda_emulation.emulated_cuda(module) as cuda:
        launched = cuda_emulation.RecordingModule(module)
        monkeypatch.setattr(cuda.runtime(), "kernels", launched)
        with KernelSet("cuda-emulation", cuda, cuda, "cpu", None).selected():
            ours = train("auto")
    assert {"im2col_f64", "col2im_f64", "batch_norm_backward_f64", "lrn_backward_f64",
            "max_pool2d_backward_f64", "avg_pool2d_backward_f64", "dropout_apply_f64",
            "softmax_cross_entropy_backward_f64", "sgd_step_f64", "adam_step_f64"} <= launched.used
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


# ----- the wrappers' checks and launch errors -----------------------------------------------

def test_the_cuda_set_has_every_kernel_of_the_reference():
    from minicnn.backend import cuda
    names = [name for name, value in vars(reference).items() if callable(value)
             and getattr(value, "__module__", None) == reference.__name__ and name[0] != "_"]
    assert [name for name in names if not hasattr(cuda, name)] == []


def test_a_launch_error_names_the_kernel(module):
    with cuda_emulation.emulated_cuda(module, block=2048) as cuda:  # CUDA allows 1024
        with pytest.raises(RuntimeError, match="CUDA kernel relu_forward_f32 .* failed: invalid "
                                               "configuration"):
            cuda.relu_forward(np.ones(5, np.float32))


def test_arguments_must_have_the_kernel_parameter_types(module):
    """The emulation refuses a Python int or a wrong-width scalar, as the design's rules ask of
    every launch (on a GPU the kernel would read garbage)."""
    relu = module.get_function("relu_forward_f32")
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="argument 2: int where the kernel takes 'q'"):
        relu(1, 32, (x, x.copy(), 3))
    with pytest.raises(TypeError, match="argument 2: int32 where the kernel takes 'q'"):
        relu(1, 32, (x, x.copy(), np.int32(3)))


@pytest.mark.parametrize("block, max_blocks", [(1, 1), (33, 1), (64, 2), (96, 5)])
def test_every_launch_shape_gives_the_same_results(module, block, max_blocks):
    """One thread or many, one block or several: the block reductions and every grid-stride
    loop give the reference's results."""
    with cuda_emulation.emulated_cuda(module, block, max_blocks) as cuda:
        for dtype, tolerance in ((np.float32, 1e-5), (np.float64, 1e-12)):
            differences = cuda_emulation.exercise(cuda, dtype)
            assert max(differences.values()) <= tolerance, differences


# ----- sanitizers ---------------------------------------------------------------------------

def _runtime_library(sanitizer):
    name = {"address": "libasan.so", "thread": "libtsan.so"}[sanitizer]
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isabs(path):
        pytest.skip(f"gcc's {name} is not installed")
    return path


def _run_sanitized(sanitizer, *args):
    env = dict(os.environ, LD_PRELOAD=_runtime_library(sanitizer),
               ASAN_OPTIONS="detect_leaks=0", TSAN_OPTIONS="halt_on_error=0",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    # the real interpreter: a shell shim in between would run under the sanitizer too
    return subprocess.run([os.path.realpath(sys.executable), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)


BROKEN = """
import sys
import numpy as np
import cuda_emulation
module = cuda_emulation.EmulatedModule(cuda_emulation.build(sys.argv[1],
                                                            [cuda_emulation.BROKEN_KERNELS]))
if sys.argv[1] == "thread":
    total = np.zeros(1)
    module.get_function("block_sum_without_barrier")(1, 16, (np.arange(40.0), total, np.int64(40)),
                                                     shared_mem=16 * 8)
else:
    x = np.arange(300.0)
    module.get_function("shift_left_off_by_one")(2, 37, (x, np.empty(300), np.int64(300)))
"""


@pytest.mark.parametrize("sanitizer, report", [
    ("address", "AddressSanitizer: heap-buffer-overflow"),
    ("thread", "ThreadSanitizer: data race"),
])
def test_each_sanitizer_catches_its_broken_kernel(sanitizer, report):
    result = _run_sanitized(sanitizer, "-c", BROKEN, sanitizer)
    assert report in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("sanitizer", ["address", pytest.param("thread", marks=pytest.mark.slow)])
def test_every_kernel_runs_clean_under_the_sanitizer(sanitizer):
    result = _run_sanitized(sanitizer, str(ROOT / "tests" / "cuda_emulation.py"), sanitizer)
    report = result.stdout[-2000:] + result.stderr[-5000:]
    assert "Sanitizer" not in result.stderr, report
    assert result.returncode == 0 and "40 launched" in result.stdout, report


def test_out_of_memory_is_a_memory_error_naming_the_kernel_and_the_bytes(cuda, monkeypatch):
    from minicnn.backend import cuda as cuda_module

    class NoMemory:
        """NumPy, except that it has no memory for a new array (as CuPy's OutOfMemoryError)."""

        def __getattr__(self, name):
            return getattr(np, name)

        def empty(self, shape, dtype):
            raise MemoryError("Out of memory allocating 48 bytes")

        zeros = empty

    monkeypatch.setattr(cuda_module.runtime(), "xp", NoMemory())
    with pytest.raises(MemoryError, match=r"CUDA kernel relu_forward: no memory for its output of "
                                          r"shape \(3, 4\), 48 bytes \(Out of memory"):
        cuda.relu_forward(np.ones((3, 4), np.float32))
