"""What minicnn runs on: the kernel sets available and active, the BLAS behind NumPy's matrix
products and its threads, and the threads of the C kernels' pool (``mc.info()``, ``minicnn info``).
"""

import os
import platform

import numpy as np

from minicnn import backend
from minicnn.backend import arrays
from minicnn._version import __version__
from minicnn.backend import ckernels


def _blas():
    """(name, version, kernel architecture, threads) of NumPy's BLAS. threadpoolctl, when
    installed, asks the loaded library; otherwise numpy.show_config names it (threads unknown)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return {"name": pool.get("internal_api"), "version": pool.get("version"),
                        "architecture": pool.get("architecture"),
                        "threads": pool.get("num_threads"), "source": "threadpoolctl"}
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return {"name": blas.get("name"), "version": blas.get("version"),
                "architecture": os.environ.get("OPENBLAS_CORETYPE"),
                "threads": None, "source": "numpy.show_config"}
    except (TypeError, KeyError):  # NumPy < 1.25 has no mode="dicts"
        return {"name": None, "version": None, "architecture": None, "threads": None,
                "source": "unknown"}


def _kernel_sets():
    sets = {"numpy": "available (the reference)"}
    sets["c"] = "available" if ckernels.available() else "missing: " + ckernels.unavailable_reason()
    gpu = _gpu()
    sets["cuda"] = (f"available ({gpu['gpu']}, CUDA runtime {gpu['cuda_runtime']}, "
                    f"driver {gpu['driver']}, NVRTC {gpu['nvrtc']}, cuBLAS works, "
                    f"CuPy {gpu['cupy']}, kernels in {gpu['kernels']})" if "gpu" in gpu
                    else "missing: " + gpu["reason"])
    return sets


def _gpu():
    """The first GPU's name, the CUDA runtime, driver, NVRTC and CuPy versions and the kernel
    sources, or ``reason``: why the CUDA kernel set cannot run (no CuPy, no GPU, or NVRTC /
    cuBLAS missing: cuda.unavailable_reason checks both once)."""
    from minicnn.backend import cuda
    reason = cuda.unavailable_reason()
    if reason:
        return {"reason": reason}
    runtime = arrays.cupy.cuda.runtime
    version = lambda v: f"{v // 1000}.{v % 1000 // 10}"  # noqa: E731  (12080 -> "12.8")
    return {"gpu": runtime.getDeviceProperties(0)["name"].decode(),
            "cuda_runtime": version(runtime.runtimeGetVersion()),
            "driver": "CUDA " + version(runtime.driverGetVersion()),
            "nvrtc": ".".join(map(str, arrays.cupy.cuda.nvrtc.getVersion())),
            "cupy": arrays.cupy.__version__, "kernels": str(cuda.kernel_directory())}


def info(file=None, quiet=False):
    """Print (unless ``quiet``) and return a dict: minicnn, NumPy and Python versions, the
    selected backend and the kernel set it runs for NumPy arrays, every kernel set with its
    state, the BLAS with its threads, and the threads and GEMM micro-kernel of the C kernels."""
    try:
        active = backend.kernels_for(np.empty(1, np.float32)).NAME
    except RuntimeError as error:  # e.g. "cuda" selected: no kernel set for NumPy arrays
        active = f"none ({error})"
    report = {
        "minicnn": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "backend": backend.get_backend(),
        "active_kernels": active,
        "kernel_sets": _kernel_sets(),
        "blas": _blas(),
        "num_threads": ckernels.num_threads(),
        "gemm_kernel": ckernels.gemm_kernel(),
        "cpu_count": os.cpu_count(),
    }
    if not quiet:
        blas = report["blas"]
        threads = blas["threads"] if blas["threads"] is not None else "unknown (pip install threadpoolctl)"
        lines = [
            f"minicnn {report['minicnn']}  (Python {report['python']}, NumPy {report['numpy']})",
            f"backend selected:      {report['backend']}",
            f"kernels for NumPy:     {report['active_kernels']}",
            "kernel sets:",
            *(f"  {name:6s} {state}" for name, state in report["kernel_sets"].items()),
            f"BLAS:                  {blas['name']} {blas['version'] or ''}"
            f"{' (' + blas['architecture'] + ' kernels)' if blas['architecture'] else ''}",
            f"BLAS threads:          {threads}",
            f"C kernel threads:      {report['num_threads'] or 'no C kernels'}",
            f"GEMM micro-kernel (C): {report['gemm_kernel'] or 'no C kernels'}",
            f"CPU cores:             {report['cpu_count']}",
        ]
        print("\n".join(lines), file=file)
    return report
