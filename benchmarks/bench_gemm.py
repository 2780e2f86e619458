"""GFLOP/s of minicnn's GEMM (csrc/gemm.c) against NumPy's matmul (its BLAS), and of the fused
convolutions, on the shapes of ResNet-20's convolutions, one thread, float32.

    OPENBLAS_NUM_THREADS=1 python3 benchmarks/bench_gemm.py [--kernel avx2] [--batch 128]

Times are CPU time (time.process_time, the best of --repeat), so that other jobs on a shared
machine disturb them less than wall-clock times; both libraries are held to one thread (set
OPENBLAS_NUM_THREADS / MKL_NUM_THREADS=1 before starting Python for NumPy). The product of each
layer is its forward: W (F, C*9) @ cols (C*9, N*oh*ow); the convolutions' columns count the
forward's multiply-adds (2 N F C kh kw oh ow) for each of forward, input and weight gradient.
The last column and the summary give the convolutions' forward + both gradients as a share of
the one-thread FMA peak of the same instruction set (fma_peak.c, measured in the same run and,
like the rates here, by CPU time; the AVX2 peak for `--kernel avx2` and `portable`), per layer
and per width of output channels.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minicnn.backend import ckernels  # noqa: E402
from bench_train_step import fma_peak  # noqa: E402
from minicnn.backend.geometry import Window  # noqa: E402

# (C, F, input size, stride, uses in ResNet-20)
LAYERS = [(3, 16, 32, 1, 1), (16, 16, 32, 1, 6), (16, 32, 32, 2, 1), (32, 32, 16, 1, 5),
          (32, 64, 16, 2, 1), (64, 64, 8, 1, 5)]


def best_cpu_time(function, repeat):
    function()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kernel", default="auto", help="auto | avx512 | avx2 | portable")
    options = parser.parse_args()
    if not ckernels.available():
        sys.exit("the C kernels are not built: " + ckernels.unavailable_reason())
    lib, ffi = ckernels._ckernels.lib, ckernels._ckernels.ffi
    if lib.minicnn_set_gemm_kernel(options.kernel.encode()) != 0:
        sys.exit(f"this CPU cannot run the {options.kernel} kernel")
    ckernels.set_num_threads(1)
    rng = np.random.default_rng(0)
    peak = fma_peak(1, "native" if ckernels.gemm_kernel() == "avx512" else "avx2")
    print(f"micro-kernel {ckernels.gemm_kernel()}, batch {options.batch}, one thread, GFLOP/s "
          f"by CPU time (best of {options.repeat}); FMA peak "
          + (f"{peak[0]:.1f} GFLOP/s ({peak[1]}, {peak[2]})" if peak else "not measured"))
    print(f"{'layer':22s} {'M x K x N':>18s} {'numpy':>7s} {'gemm':>7s} {'conv fwd':>9s} "
          f"{'input gr':>9s} {'weight gr':>9s} {'% peak':>7s}")
    total = {"numpy": 0.0, "gemm": 0.0, "conv": 0.0}
    by_width = {}   # output channels: [flops, seconds] of forward + both gradients, all uses
    for C, F, size, stride, uses in LAYERS:
        window = Window(3, 3, stride, stride, 1, 1, 1, 1)
        x = rng.standard_normal((options.batch, C, size, size), dtype=np.float32)
        weight = rng.standard_normal((F, C, 3, 3), dtype=np.float32)
        oh, ow = window.output_hw(size, size)
        M, K, N = F, C * 9, options.batch * oh * ow
        a, b = weight.reshape(M, K), rng.standard_normal((K, N), dtype=np.float32)
        c = np.empty((M, N), np.float32)
        flops = 2.0 * M * K * N

        def gemm():
            lib.gemm_f32(0, 0, M, N, K, ffi.from_buffer("float[]", a), K,
                         ffi.from_buffer("float[]", b), N, 0, ffi.from_buffer("float[]", c), N)

        y = ckernels.conv2d_forward(x, weight, 1, window)
        times = {
            "numpy": best_cpu_time(lambda: np.matmul(a, b, out=c), options.repeat),
            "gemm": best_cpu_time(gemm, options.repeat),
            "fwd": best_cpu_time(lambda: ckernels.conv2d_forward(x, weight, 1, window),
                                 options.repeat),
            "input": best_cpu_time(lambda: ckernels.conv2d_backward_input(
                y, weight, 1, window, (size, size)), options.repeat),
            "weight": best_cpu_time(lambda: ckernels.conv2d_backward_weight(x, y, 1, window),
                                    options.repeat),
        }
        total["numpy"] += uses * times["numpy"]
        total["gemm"] += uses * times["gemm"]
        conv_seconds = times["fwd"] + times["input"] + times["weight"]
        total["conv"] += uses * conv_seconds
        width = by_width.setdefault(F, [0.0, 0.0])
        width[0] += uses * 3 * flops
        width[1] += uses * conv_seconds
        share = f"{100 * 3 * flops / conv_seconds / 1e9 / peak[0]:6.0f}%" if peak else "      -"
        name = f"{C}->{F} {size}x{size} s{stride} (x{uses})"
        print(f"{name:22s} {f'{M} x {K} x {N}':>18s} "
              + " ".join(f"{flops / times[k] / 1e9:{w}.1f}" for k, w in
                         (("numpy", 7), ("gemm", 7), ("fwd", 9), ("input", 9), ("weight", 9)))
              + f" {share}")
    print(f"ResNet-20's forward products: numpy {total['numpy'] * 1e3:.0f} ms, gemm "
          f"{total['gemm'] * 1e3:.0f} ms; its convolutions forward + backward (C): "
          f"{total['conv'] * 1e3:.0f} ms")
    if peak:
        print("forward + both gradients, every use, by output channels: " + ", ".join(
            f"{F}: {100 * flops / seconds / 1e9 / peak[0]:.0f}%"
            for F, (flops, seconds) in by_width.items()) + " of the FMA peak")


if __name__ == "__main__":
    main()
