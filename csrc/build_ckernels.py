"""cffi (API mode) build of the C kernels as ``minicnn._ckernels``: setup.py runs it.

The declarations come from ``minicnn.h`` (minus its preprocessor lines); every ``.c`` file in
this folder is compiled, with OpenMP where the compiler supports it.
"""

import os
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "minicnn.h"


def _declarations():
    return "\n".join(line for line in HEADER.read_text().splitlines()
                     if not line.lstrip().startswith("#"))


def _openmp_flags():
    if os.environ.get("MINICNN_NO_OPENMP") or sys.platform == "darwin":
        return []
    return ["-fopenmp"]


ffibuilder = FFI()
ffibuilder.cdef(_declarations())
ffibuilder.set_source(
    "minicnn._ckernels",
    '#include "minicnn.h"',
    sources=[os.path.relpath(path) for path in sorted(HERE.glob("*.c"))],
    include_dirs=[str(HERE)],
    extra_compile_args=["-O3", "-std=c11"] + _openmp_flags() + os.environ.get("MINICNN_CFLAGS", "").split(),
    extra_link_args=_openmp_flags() + os.environ.get("MINICNN_LDFLAGS", "").split(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
