"""Peak memory of a convolution's forward + backward, with and without the workspace budget.

The layer is VGG-16's first convolution (3 -> 64 channels, 3x3, padding 1) on a batch of 8
float32 images of 224x224. Peak memory is what tracemalloc sees (NumPy reports its array
buffers to it; BLAS's own small buffers are not counted), measured from just before the
forward pass, so the input, weights and upstream gradient made beforehand are not counted;
the output, gradients and every temporary are. The C kernels' buffer pool is emptied before
each run, so that the arrays it would hand back are counted as the allocations they replace.
The tiles and the limit are the NumPy kernels' (and the CUDA set's): the C convolutions build
no column matrix (csrc/conv2d_gemm.c), so every limit gives them the same peak.

    python benchmarks/conv_memory.py [--batch 8] [--size 224]
    python benchmarks/conv_memory.py --batch 128 --size 32     # tiles of many images
"""

import argparse
import time
import tracemalloc

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn import backend
from minicnn.backend import ckernels, tiling

MiB = 2 ** 20


def measure(x_array, w_array, b_array, upstream, limit):
    """(peak MiB, seconds) of one forward + backward under a workspace limit (None: no limit)."""
    x = mc.tensor(x_array, requires_grad=True)
    w = mc.tensor(w_array, requires_grad=True)
    b = mc.tensor(b_array, requires_grad=True)
    previous = backend.set_workspace_limit(limit)
    ckernels.buffer_pool.clear()
    try:
        tracemalloc.start()
        start = time.perf_counter()
        y = F.conv2d(x, w, b, padding=1)
        y.backward(upstream)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        backend.set_workspace_limit(previous)
    return peak / MiB, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    N, C, F_out, S = args.batch, 3, 64, args.size
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, S, S)).astype(np.float32)
    w = (rng.standard_normal((F_out, C, 3, 3)) * 0.1).astype(np.float32)
    b = np.zeros(F_out, dtype=np.float32)
    upstream = rng.standard_normal((N, F_out, S, S)).astype(np.float32)

    item = 4
    print(f"VGG-16 conv1_1: {N}x{C}x{S}x{S} float32 -> {N}x{F_out}x{S}x{S}, 3x3, padding 1, "
          "forward + backward (dX, dW, db)")
    print(f"  input {x.nbytes / MiB:.1f} MiB, output {N * F_out * S * S * item / MiB:.1f} MiB, "
          f"column matrix of the batch {C * 9 * N * S * S * item / MiB:.1f} MiB")
    image_columns = C * 9 * S * S * item
    tile = max(1, tiling.TILE_ELEMENTS * item // image_columns)
    print(f"  one image's columns {image_columns / MiB:.2f} MiB; a tile holds {min(tile, N)} "
          f"image(s) unless the workspace limit is lower")
    limits = [("no limit", None), ("default 256 MiB", backend.DEFAULT_WORKSPACE_LIMIT),
              ("1 MiB", MiB), ("64 KiB", 64 * 2 ** 10)]
    kernel_sets = ["numpy"] + (["c"] if ckernels.available() else [])
    print(f"  {'kernels':<9}{'workspace limit':<20}{'peak MiB':>10}{'seconds':>10}")
    for kernel_set in kernel_sets:
        with mc.backend(kernel_set):
            measure(x, w, b, upstream, None)           # warm-up (BLAS threads, page cache)
            for name, limit in limits:
                peak, seconds = measure(x, w, b, upstream, limit)
                print(f"  {kernel_set:<9}{name:<20}{peak:>10.1f}{seconds:>10.2f}")


if __name__ == "__main__":
    main()
