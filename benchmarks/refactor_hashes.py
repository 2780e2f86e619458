"""A refactor changes no number: the SHA-256 of every parameter and gradient after a fixed-seed
run, on every kernel set this machine has.

    python3 benchmarks/refactor_hashes.py            # prints one line per network and kernel set
    python3 benchmarks/refactor_hashes.py --json F   # and writes them to F

Two runs: ResNet-20 (float32, batch 8 of 32x32 images, 3 SGD steps, momentum 0.9, weight decay
5e-4) and a mixed network that reaches every layer kind the kernels implement (convolution with
stride and padding, batch norm, ReLU, max and average pooling, LRN, dropout, linear, softmax
cross-entropy with label smoothing; float64, 3 Adam steps). The kernel sets: "numpy" (the
reference), "c" (csrc/), and "cuda" through the CuPy stand-in of tests/cupy_standin.py, which
runs kernels/*.cu compiled for the CPU (needs g++). Hash before and after a refactor: the lines
must be equal.
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import minicnn as mc                  # noqa: E402
from minicnn import nn, optim         # noqa: E402
from minicnn.models import create     # noqa: E402


def mixed_network():
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=1, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(6, 8, (3, 2), stride=(2, 1), padding=(1, 0)), nn.LocalResponseNorm(3),
        nn.AvgPool2d(2, stride=1), nn.Dropout(0.3), nn.Flatten(), nn.Linear(8 * 2 * 4, 5))


RUNS = {
    # name: (model builder, dtype, input shape, classes, optimizer builder)
    "resnet20": (lambda: create("resnet20"), np.float32, (8, 3, 32, 32), 10,
                 lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4)),
    "mixed": (mixed_network, np.float64, (6, 3, 12, 12), 5, lambda p: optim.Adam(p, lr=1e-2)),
}


def run(name, device, steps=3):
    """The hex digest of the parameters, buffers and gradients after ``steps`` steps."""
    build, dtype, shape, classes, make_optimizer = RUNS[name]
    mc.manual_seed(0)
    model = build().to(dtype)
    model.to(device)
    optimizer = make_optimizer(model.parameters())
    rng = np.random.default_rng(1)
    images = rng.standard_normal(shape).astype(dtype)
    labels = rng.integers(0, classes, shape[0])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(mc.tensor(images).to(device)), mc.tensor(labels).to(device))
        loss.backward()
        optimizer.step()
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode() + np.ascontiguousarray(value.numpy()).tobytes())
    for parameter in model.parameters():
        digest.update(np.ascontiguousarray(parameter.grad.numpy()).tobytes())
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the hashes to this file")
    args = parser.parse_args()
    hashes = {}
    for kernels in ("numpy", "c"):
        with mc.backend.use(kernels):
            for name in RUNS:
                hashes[f"{name} {kernels}"] = run(name, "cpu")
    if shutil.which("g++"):
        import cupy_standin
        with cupy_standin.installed():
            for name in RUNS:
                hashes[f"{name} cuda (stand-in)"] = run(name, "cuda")
    for key, value in hashes.items():
        print(f"{key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(hashes, indent=1) + "\n")


if __name__ == "__main__":
    main()
