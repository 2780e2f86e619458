"""The C extension's entry points for the native tests (tests/native/): the GEMM micro-kernels
this CPU runs, pointers into NumPy arrays for the ffi, and the tolerance of a C result."""

import numpy as np

from minicnn.backend import ckernels

ISAS = ["portable", "avx2", "avx512"]
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def lib():
    return ckernels._ckernels.lib


def ffi():
    return ckernels._ckernels.ffi


def supported_kernels():
    """The micro-kernels this CPU runs: setting one that it cannot run is refused."""
    names = [name for name in ISAS if lib().minicnn_set_gemm_kernel(name.encode()) == 0]
    assert lib().minicnn_set_gemm_kernel(b"auto") == 0
    return names


KERNELS = supported_kernels() if ckernels.available() else []


def pointer(array):
    return ffi().from_buffer("float[]" if array.dtype == np.float32 else "double[]", array)


def suffix(dtype):
    return "_f32" if np.dtype(dtype) == np.float32 else "_f64"


def assert_close(actual, expected):
    """Within 1e-5 (float32) / 1e-12 (float64) of expected, relative to its largest magnitude."""
    tolerance = TOLERANCE[expected.dtype]
    scale = max(float(np.max(np.abs(expected), initial=0.0)), np.finfo(expected.dtype).tiny)
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)
