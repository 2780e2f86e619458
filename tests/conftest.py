"""Shared test settings: hypothesis runs derandomized (fixed seeds) and without deadlines
(the machines that run the suite are shared and noisy). This folder is on sys.path for the
tests of every sub-folder (pytest puts a conftest's folder there), so they import the shared
helpers beside this file by name; tests/README.md says which folder holds what."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("minicnn", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("minicnn")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def standin_cupy():
    """The strict CuPy stand-in (tests/cupy_standin.py) as ``cupy`` for the device layer, its
    kernels the CPU emulation of kernels/*.cu (so it needs g++)."""
    import shutil
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the stand-in's kernels are the CPU emulation's")
    import cupy_standin
    with cupy_standin.installed() as cupy:
        yield cupy
