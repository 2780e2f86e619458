"""ResNet-20 for 200 SGD steps on random data, once on the CPU (the C kernels, or the NumPy
reference where they are not built) and once on the GPU (the CUDA kernels), from the same
initial weights and batches: prints both loss curves and fails if they part.

    python3 benchmarks/gpu_resnet20_curve.py [--steps 200] [--batch 32]

float32 rounds differently on the two devices (cuBLAS's sums, fused multiply-adds), and SGD
amplifies the difference step by step: two CPU kernel sets (C and the NumPy reference), from the
same start, differ by 0.01% in the mean loss of steps 0-19, 5% in steps 20-39 and up to 32% in
steps 80-99 (where the loss, memorising 256 random images, is down to 0.02). So the check is:
the first 5 steps within 1e-3 of each other (before the difference has grown), every window of
20 steps within a factor of 2, and the loss at the end below a tenth of the start.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minicnn as mc  # noqa: E402
import minicnn.nn.functional as F  # noqa: E402
from minicnn.backend import ckernels  # noqa: E402


def loss_curve(device, backend, steps, batch, seed=0):
    mc.manual_seed(seed)
    model = mc.models.create("resnet20", num_classes=10)
    model.to(device)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((8 * batch, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, len(images))
    losses = []
    with mc.backend(backend):
        for step in range(steps):
            at = (step * batch) % len(images)
            x = mc.tensor(images[at:at + batch], device=device)
            loss = F.cross_entropy(model(x), labels[at:at + batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return np.array(losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    cpu_set = "c" if ckernels.available() else "numpy"
    cpu = loss_curve("cpu", cpu_set, args.steps, args.batch)
    gpu = loss_curve("cuda", "cuda", args.steps, args.batch)
    print(f"{'steps':>9s} {'cpu (' + cpu_set + ')':>10s} {'cuda':>10s} {'ratio':>7s}")
    failed = not np.all(np.isfinite(gpu))
    for start in range(0, args.steps, 20):
        a, b = cpu[start:start + 20].mean(), gpu[start:start + 20].mean()
        failed |= not 0.5 <= b / a <= 2
        print(f"{start:4d}-{start + 19:<4d} {a:10.4f} {b:10.4f} {b / a:7.3f}")
    early = np.max(np.abs(gpu[:5] - cpu[:5]) / np.abs(cpu[:5]))
    learned = gpu[-20:].mean() < 0.1 * gpu[:20].mean()
    print(f"first 5 steps: largest relative difference {early:.2e}; the loss on cuda fell "
          f"below a tenth: {learned}")
    if failed or early > 1e-3 or not learned:
        sys.exit("the loss curves part")
    print("loss curves agree")


if __name__ == "__main__":
    main()
