"""Install minicnn. The C kernels (csrc/) are built with cffi when a C compiler is present;
without one, the install still succeeds and minicnn runs on its NumPy kernels."""

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed C build is a warning, not an error: minicnn falls back to NumPy kernels."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # noqa: BLE001  (any compiler failure)
            self.warn(f"minicnn: the C kernels were not built ({error}); using NumPy kernels")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:  # noqa: BLE001
            self.warn(f"minicnn: could not build {ext.name} ({error}); using NumPy kernels")


setup(
    name="minicnn",
    version="0.1.0",
    description="A from-scratch CNN framework over NumPy: autograd, im2col convolution, "
                "C and CUDA kernels, the classic architectures",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # the CUDA sources (kernels/) ship inside the package as minicnn/_kernels, where
    # minicnn.backend.cuda finds them in an installed wheel
    packages=find_packages(include=["minicnn", "minicnn.*"]) + ["minicnn._kernels"],
    package_dir={"minicnn._kernels": "kernels"},
    package_data={"minicnn": ["data/embedded/*"], "minicnn._kernels": ["*.cu", "*.cuh"]},
    install_requires=["numpy>=1.22", "cffi>=1.15"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        # the CUDA compile checks of the test suite: NVRTC through CuPy, no GPU needed (Linux
        # wheels). A machine with a GPU uses the CuPy of its own CUDA instead (".[cuda]"): two
        # CuPy packages must not be installed together.
        "cudacheck": ["cupy-cuda13x; platform_system == 'Linux'",
                      "nvidia-cuda-nvrtc>=13,<14; platform_system == 'Linux'"],
        "cuda": ["cupy-cuda12x"],
        "plot": ["matplotlib"],
    },
    setup_requires=["cffi>=1.15"],
    cffi_modules=["csrc/build_ckernels.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
    entry_points={"console_scripts": ["minicnn=minicnn.cli:main"]},
    zip_safe=False,
)
