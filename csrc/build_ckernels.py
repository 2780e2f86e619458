"""cffi (API mode) build of the C kernels as ``minicnn._ckernels``: setup.py runs it.

The declarations come from ``minicnn.h`` (see ``declarations``); every ``.c`` file in this
folder is compiled, with POSIX threads (threadpool.c; no OpenMP).
"""

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "minicnn.h"
KERNELS = HERE.parent / "kernels"


def declarations():
    """minicnn.h as cffi's cdef reads it, which runs no preprocessor: the part after ``#else``,
    written once with ``real`` and NAME(f), expanded for float (f_f32) and double (f_f64) as
    kernels/generic.cuh expands it for the C compiler, and no line that starts with '#'."""
    common, generic = HEADER.read_text().split("\n#else\n")

    def expand(real, suffix):
        return re.sub(r"\breal\b", real, re.sub(r"\bNAME\((\w+)\)", rf"\1{suffix}", generic))

    text = "\n".join([common, expand("float", "_f32"), expand("double", "_f64")])
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def make_builder(module_name="minicnn._ckernels", extra_compile_args=(), extra_link_args=(),
                 absolute_paths=False):
    """The cffi builder of the kernels. Tests build a sanitized copy under another name with
    extra flags and absolute paths (cffi compiles inside its own temporary folder)."""
    sources = sorted(HERE.glob("*.c"))
    builder = FFI()
    builder.cdef(declarations())
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
