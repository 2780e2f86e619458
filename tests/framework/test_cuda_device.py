"""Without a GPU (the CI machines): minicnn imports with CuPy installed without loading the CUDA
kernel set, and says what is missing when asked for the GPU."""

import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.backend import cuda

no_gpu = pytest.mark.skipif(cuda.available(), reason="a GPU is present")


@no_gpu
@pytest.mark.parametrize("move", [lambda x: mc.tensor(x, device="cuda"),
                                  lambda x: mc.tensor(x).to("cuda"),
                                  lambda x: mc.nn.Linear(2, 3).to("cuda")])
def test_asking_for_the_gpu_says_what_is_missing(move):
    with pytest.raises(RuntimeError, match="device 'cuda': (CuPy is not installed|CuPy found "
                                           "no CUDA device)"):
        move(np.ones((2, 2), np.float32))


@no_gpu
def test_info_says_why_the_cuda_set_is_missing():
    report = mc.info(quiet=True)
    assert report["kernel_sets"]["cuda"] == "missing: " + cuda.unavailable_reason()


def test_import_loads_no_kernels_and_starts_no_cuda():
    """The CUDA kernel set loads (and asks the driver for a device) on the first GPU op only."""
    code = ("import sys, minicnn, minicnn.nn, minicnn.models; "
            "print([m for m in sys.modules if m == 'minicnn.backend.cuda'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
