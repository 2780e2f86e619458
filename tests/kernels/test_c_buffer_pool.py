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


def test_the_pool_limit_is_a_quarter_of_memory_or_the_variable_s(monkeypatch):
    monkeypatch.delenv("MINICNN_BUFFER_POOL_MB", raising=False)
    monkeypatch.setattr(ckernels.os, "sysconf", {"SC_PHYS_PAGES": 6 << 20,
                                                 "SC_PAGE_SIZE": 4096}.__getitem__)
    assert ckernels.default_pool_bytes() == 6 << 30     # a quarter of 24 GiB
    monkeypatch.setattr(ckernels.os, "sysconf", {"SC_PHYS_PAGES": 1 << 20,
                                                 "SC_PAGE_SIZE": 4096}.__getitem__)
    assert ckernels.default_pool_bytes() == 1 << 30     # at least 1 GiB (of 4 GiB)
    monkeypatch.setenv("MINICNN_BUFFER_POOL_MB", "300")
    assert ckernels.default_pool_bytes() == 300 << 20
