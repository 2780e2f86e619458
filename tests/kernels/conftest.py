"""``kernel_set``: a test that takes this fixture runs once per kernel set of
tests/kernels/kernel_sets.py (C, the CUDA kernels emulated on the CPU, the same behind the CuPy
stand-in, a real GPU)."""

import pytest

from kernel_sets import KERNEL_SETS, SELECTED


@pytest.fixture(scope="module", params=SELECTED)
def kernel_set(request):
    yield from KERNEL_SETS[request.param][1]()
