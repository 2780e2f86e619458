"""Where a training step goes (ResNet-20 unless --model names another), by CPU time: a
profile to tune with on a shared machine.

    MINICNN_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 benchmarks/profile_step.py [--rows 20]
    python3 benchmarks/profile_step.py --model airbench94 --batch 512

Prints the CPU time of a step (time.process_time, all threads together: min and median of
--steps) and then cProfile's table of the slowest functions over --profiled steps, timed by
CPU time rather than the wall clock, so that other jobs on the machine disturb the figures
less (bench_train_step.py gives the wall-clock comparison with PyTorch, for a quiet machine).
A C kernel appears as its cffi entry point, e.g. conv2d_backward_weight_f32. Set
MINICNN_GEMM_KERNEL=avx2 (or portable) to profile another micro-kernel.
"""

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minicnn as mc  # noqa: E402
import minicnn.nn.functional as F  # noqa: E402
from minicnn.backend import ckernels  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet20", help="a name of `minicnn models`")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--profiled", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20)
    options = parser.parse_args()
    mc.manual_seed(0)
    model = mc.models.create(options.model)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((options.batch, 3, 32, 32)).astype(np.float32))
    labels = rng.integers(0, 10, options.batch)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        optimizer.step()

    step()
    times = []
    for _ in range(options.steps):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    print(f"{options.model} training step, batch {options.batch}, {ckernels.num_threads()} "
          f"thread(s), micro-kernel {ckernels.gemm_kernel() or 'none'}: CPU time min "
          f"{min(times):.3f} s, median {statistics.median(times):.3f} s")
    profile = cProfile.Profile(time.process_time)
    for _ in range(options.profiled):
        profile.runcall(step)
    print(f"cProfile by CPU time over {options.profiled} steps:")
    pstats.Stats(profile).sort_stats("tottime").print_stats(options.rows)


if __name__ == "__main__":
    main()
