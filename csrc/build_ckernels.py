"""cffi (API mode) build of the C kernels as ``minicnn._ckernels``: setup.py runs it.

The declarations come from ``minicnn.h`` (minus its preprocessor lines); every ``.c`` file in
this folder is compiled, with POSIX threads (threadpool.c; no OpenMP).
"""

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "minicnn.h"
KERNELS = HERE.parent / "kernels"


def _declarations():
    return "\n".join(line for line in HEADER.read_text().splitlines()
                     if not line.lstrip().startswith("#"))


def make_builder(module_name="minicnn._ckernels", extra_compile_args=(), extra_link_args=(),
                 absolute_paths=False):
    """The cffi builder of the kernels. Tests build a sanitized copy under another name with
    extra flags and absolute paths (cffi compiles inside its own temporary folder)."""
    sources = sorted(HERE.glob("*.c"))
    builder = FFI()
    builder.cdef(_declarations())
    builder.set_source(
        module_name,
        '#include "minicnn.h"',
        sources=[str(path) if absolute_paths else os.path.relpath(path) for path in sources],
        include_dirs=[str(HERE), str(KERNELS)],  # kernels/: the headers shared with CUDA
        extra_compile_args=["-O3", "-std=c11", "-pthread"] + list(extra_compile_args)
        + os.environ.get("MINICNN_CFLAGS", "").split(),
        extra_link_args=["-pthread"] + list(extra_link_args)
        + os.environ.get("MINICNN_LDFLAGS", "").split(),
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
