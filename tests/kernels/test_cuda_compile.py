"""Every kernels/*.cu compiles for the GPUs we support, with no GPU here: NVRTC through CuPy's
low-level bindings for sm_75, sm_80, sm_86, sm_90 (and sm_100 when the installed NVRTC knows
it), as `-arch=sm_XX` so that ptxas runs and reports resource errors (too much shared memory,
too many registers); and nvcc -cubin with every warning an error, where nvcc is installed.

These are not skipped in CI (CI=true): `pip install ".[test,cudacheck]"` brings cupy-cuda13x and
the NVRTC wheel (setup.py). Only nvcc is optional (it is not on every user's machine).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "kernels"
SOURCES = sorted(KERNELS.glob("*.cu"))
ARCHITECTURES = [75, 80, 86, 90, 100]


def needs_nvrtc():
    """CuPy's NVRTC bindings; skipped without CuPy, except in CI (CI=true), where the test
    extra installs it and a skip would hide a broken install."""
    if os.environ.get("CI", "").lower() in ("1", "true"):
        import cupy  # noqa: F401  (an ImportError fails the test)
    else:
        pytest.importorskip("cupy", reason="pip install '.[cudacheck]' installs CuPy")


def nvrtc_compile(source, architecture):
    """The cubin of ``source`` for sm_``architecture``; raises with NVRTC's log on failure."""
    from cupy.cuda import nvrtc
    program = nvrtc.createProgram(source.read_text(), source.name, [], [])
    try:
        try:
            # the options of cuda.py's cupy.RawModule, and CuPy's own -ftz=true
            nvrtc.compileProgram(program, [f"-arch=sm_{architecture}", "-ftz=true",
                                           f"-I{KERNELS}"])
        except nvrtc.NVRTCError as error:
            raise AssertionError(f"{source.name} for sm_{architecture}: {error}\n"
                                 + nvrtc.getProgramLog(program)) from None
        log = nvrtc.getProgramLog(program).strip()
        return nvrtc.getCUBIN(program), log
    finally:
        nvrtc.destroyProgram(program)


def supported_architectures():
    from cupy.cuda import nvrtc
    return set(nvrtc.getSupportedArchs())


# csrc/ files with no .cu of their own: the C runtime, the CPU's GEMM and thread pool, and the
# convolution fused into that GEMM; and the .cu file with no .c: the CUDA set's convolution is
# cuBLAS around im2col.cu's im2col / col2im
CPU_ONLY = {"runtime", "gemm", "threadpool", "conv2d_gemm", "conv2d_direct"}
GPU_ONLY = {"im2col"}


def test_the_kernel_files_are_the_families_of_csrc():
    assert [p.stem for p in SOURCES if p.stem not in GPU_ONLY] == sorted(
        p.stem for p in (ROOT / "csrc").glob("*.c") if p.stem not in CPU_ONLY)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvrtc_compiles_for_the_architecture(source, architecture):
    needs_nvrtc()
    if architecture not in supported_architectures():
        assert architecture >= 100, f"NVRTC does not know sm_{architecture}"
        pytest.skip(f"this NVRTC does not know sm_{architecture}")
    cubin, log = nvrtc_compile(source, architecture)
    assert cubin[:4] == b"\x7fELF"
    assert log == "", log  # no warnings either


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles_without_warnings(source, tmp_path):
    result = subprocess.run(["nvcc", "-cubin", "-arch=sm_80", "-Werror",
                             "all-warnings", f"-I{KERNELS}", "-o", str(tmp_path / "k.cubin"),
                             str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_the_loader_compiles_what_it_finds_once_per_file():
    """minicnn.backend.cuda's loader, with a stand-in for cupy.RawModule that compiles the code
    and options it is given with NVRTC (as RawModule would on a GPU, for sm_80): every kernel
    the Python side launches is in the cubin of the file the loader picked, and each file is
    compiled once."""
    needs_nvrtc()
    from cupy.cuda import nvrtc

    from minicnn.backend import cuda

    compiled = []

    class RawModule:
        def __init__(self, code, options):
            program = nvrtc.createProgram(code, "minicnn.cu", [], [])
            nvrtc.compileProgram(program, ["-arch=sm_80", "-ftz=true", *options])
            self.cubin = nvrtc.getCUBIN(program)
            nvrtc.destroyProgram(program)
            compiled.append(code)

        def get_function(self, name):
            assert name.encode() + b"\0" in self.cubin, name
            return name

    class FakeCupy:
        class cuda:
            class runtime:
                getDevice = staticmethod(lambda: 0)

    FakeCupy.RawModule = RawModule
    kernels = cuda._CupyKernels(FakeCupy)
    names = [base + suffix for base in cuda.kernel_files() for suffix in ("_f32", "_f64")]
    assert len(names) == 40
    for name in names + names:
        assert kernels.get_function(name) == name
    assert len(compiled) == len(SOURCES)
    assert all(code.startswith("// minicnn kernels ") for code in compiled)
