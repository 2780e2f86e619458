"""Install minicnn. The C kernels (csrc/) are built with cffi when a C compiler is present;
without one, the install still succeeds, says so in one plain line, and minicnn runs on its
NumPy kernels (and says so once more, in one line, when it first runs). pip shows a build's
output only with -v."""

import re
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

NO_C_KERNELS = ("minicnn: the C kernels could not be built (no C compiler?); minicnn will "
                "run on its slower NumPy kernels. Install gcc or clang and reinstall to build "
                "them.")


class OptionalBuildExt(build_ext):
    """A failed C build is one plain line, not an error: minicnn falls back to NumPy kernels."""

    said = False

    def _say_once(self):
        if not OptionalBuildExt.said:
            OptionalBuildExt.said = True
            print(NO_C_KERNELS, file=sys.stderr)

    def run(self):
        try:
            super().run()
        except Exception:  # noqa: BLE001  (any compiler failure)
            self._say_once()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception:  # noqa: BLE001
            self._say_once()


setup(
    name="minicnn",
    version=re.search(r'__version__ = "(.+)"',
                      (Path(__file__).parent / "minicnn" / "_version.py").read_text())[1],
    description="A from-scratch CNN framework over NumPy: autograd, im2col convolution, "
                "C and CUDA kernels, the classic architectures",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # the CUDA sources (kernels/) ship inside the package as minicnn/_kernels, where
    # minicnn.backend.cuda finds them in an installed wheel
    packages=find_packages(include=["minicnn", "minicnn.*"]) + ["minicnn._kernels"],
    package_dir={"minicnn._kernels": "kernels"},
    package_data={"minicnn": ["data/embedded/*", "teach/*.json"],
                  "minicnn._kernels": ["*.cu", "*.cuh"]},
    install_requires=["numpy>=1.22", "cffi>=1.15"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "matplotlib"],
        # the CUDA compile checks of the test suite: NVRTC through CuPy, no GPU needed (Linux
        # wheels). A machine with a GPU uses the CuPy of its own CUDA instead (".[cuda]"): two
        # CuPy packages must not be installed together.
        "cudacheck": ["cupy-cuda13x; platform_system == 'Linux'",
                      "nvidia-cuda-nvrtc>=13,<14; platform_system == 'Linux'"],
        # a GPU machine with only an NVIDIA driver: CuPy with CUDA's own wheels ([ctk]: the
        # runtime, NVRTC, cuBLAS and the headers NVRTC includes). "cuda" for CUDA 12 (a driver
        # >= 525), "cuda13" for CUDA 13 (a driver >= 580); the README's table says which
        "cuda": ["cupy-cuda12x[ctk]>=14"],
        "cuda13": ["cupy-cuda13x[ctk]>=14"],
        "plot": ["matplotlib"],
        # mpi4py and an MPI from the package index (no system MPI needed; on a cluster,
        # `pip install mpi4py` alone builds it against the system's MPI); threadpoolctl lets
        # ranks that share a machine split its cores between their BLAS threads
        "mpi": ["mpi4py>=4", "mpich", "threadpoolctl"],
    },
    setup_requires=["cffi>=1.15"],
    cffi_modules=["csrc/build_ckernels.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
    entry_points={"console_scripts": ["minicnn=minicnn.cli:main"]},
    zip_safe=False,
)
