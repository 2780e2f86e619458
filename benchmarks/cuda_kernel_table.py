"""Per CUDA kernel family: its NVRTC compile time for each architecture and, under the CPU
emulation (tests/cuda_emulation.py), the largest difference of each kernel set function from
the NumPy reference (relative to the reference's largest magnitude), float32 and float64, the
largest over 10 draws of the inputs of tests/cuda_emulation.py's exercise().

    python3 benchmarks/cuda_kernel_table.py

Compile times are wall-clock on this machine (NVRTC 13 runs ptxas for -arch=sm_XX).
"""

import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "kernels")]

import cuda_emulation  # noqa: E402
from test_cuda_compile import (  # noqa: E402
    ARCHITECTURES, SOURCES, nvrtc_compile, supported_architectures)


SEEDS = 10


def main():
    known = supported_architectures()
    architectures = [a for a in ARCHITECTURES if a in known]
    module = cuda_emulation.EmulatedModule(cuda_emulation.build())
    with cuda_emulation.emulated_cuda(module) as cuda:
        differences = {}
        for dtype in (np.float32, np.float64):
            runs = [cuda_emulation.exercise(cuda, dtype, seed) for seed in range(SEEDS)]
            differences[np.dtype(dtype).name] = {name: max(run[name] for run in runs)
                                                 for name in runs[0]}
    print("NVRTC compile time (ms) per file and architecture")
    print(f"{'file':14s}" + "".join(f"{'sm_' + str(a):>8s}" for a in architectures))
    for source in SOURCES:
        times = []
        for architecture in architectures:
            start = time.perf_counter()
            nvrtc_compile(source, architecture)
            times.append(1e3 * (time.perf_counter() - start))
        print(f"{source.name:14s}" + "".join(f"{t:8.0f}" for t in times))
    files = {name: path.name for path in SOURCES
             for name in re.findall(r"__global__\s+void\s+NAME\((\w+)\)", path.read_text())}
    print("\nlargest relative difference from the reference under emulation")
    print(f"{'function':32s} {'kernel file':12s} {'float32':>10s} {'float64':>10s}")
    for name in differences["float32"]:
        kernel_file = files.get(name, "im2col.cu" if name.startswith("conv2d") else "")
        print(f"{name:32s} {kernel_file:12s} {differences['float32'][name]:10.2e} "
              f"{differences['float64'][name]:10.2e}")


if __name__ == "__main__":
    main()
