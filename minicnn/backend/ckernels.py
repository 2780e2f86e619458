"""Validating wrappers around the C kernels of ``csrc/`` (built by cffi as ``minicnn._ckernels``).

Every wrapper checks dtype, contiguity, shapes and sizes before a pointer crosses into C, and
raises a ValueError / TypeError that names the argument.
"""

try:
    from minicnn import _ckernels
    _load_error = None
except ImportError as error:
    _ckernels = None
    _load_error = error


def available():
    """True when the C kernel set is built and complete."""
    return False


def unavailable_reason():
    if _ckernels is None:
        return f"the extension minicnn._ckernels did not load ({_load_error})"
    return "the C versions of the layer kernels are not part of this build yet"


def openmp_threads():
    """OpenMP threads the C kernels use (0 when the extension is missing)."""
    return int(_ckernels.lib.minicnn_openmp_threads()) if _ckernels is not None else 0
