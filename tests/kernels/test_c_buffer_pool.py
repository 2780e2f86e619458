"""The C kernel set's own machinery (its arithmetic is in test_kernel_sets.py, with every other
set's): the buffer pool its outputs come from never hands out an array still in use."""

import numpy as np
import pytest

from minicnn.backend import ckernels

pytestmark = pytest.mark.skipif(not ckernels.available(),
                                reason="C kernels not built: " + ckernels.unavailable_reason())


@pytest.fixture(autouse=True)
def poisoned_pool(monkeypatch):
    """Pool every output, however small, and fill reused buffers with NaN / -1."""
    monkeypatch.setattr(ckernels.buffer_pool, "MIN_BYTES", 0)
    monkeypatch.setattr(ckernels.buffer_pool, "poison", True)
    yield
    ckernels.buffer_pool.clear()


def test_pool_reuses_a_released_array_and_never_one_in_use():
    x = np.ones((2, 3, 4, 4))
    held = ckernels.relu_forward(x)
    second = ckernels.relu_forward(x)
    assert second is not held                       # held is still referenced
    view = second[0]
    del second
    third = ckernels.relu_forward(x)
    assert third.base is not view.base and third is not view.base   # a view keeps its base busy
    address = third.ctypes.data
    del third
    assert ckernels.relu_forward(x).ctypes.data == address          # released: reused
    np.testing.assert_array_equal(held, x)
