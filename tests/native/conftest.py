"""``gemm_kernel``: a test that takes this fixture runs once per GEMM micro-kernel this CPU can
run (the portable one forced, as on a CPU without AVX2), the choice set back to auto after."""

import pytest

from c_extension import KERNELS, lib
from minicnn.backend import ckernels


@pytest.fixture(params=KERNELS)
def gemm_kernel(request):
    assert lib().minicnn_set_gemm_kernel(request.param.encode()) == 0
    assert ckernels.gemm_kernel() == request.param
    yield request.param
    lib().minicnn_set_gemm_kernel(b"auto")
