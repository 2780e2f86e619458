"""Train a small MLP on a synthetic two-spiral problem with minicnn's autograd and SGD.

    python examples/train_mlp.py
"""

import numpy as np

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F


def spirals(n_per_class=200, classes=3, seed=0):
    """CS231n's spiral data: ``classes`` interleaved arms in the plane."""
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for c in range(classes):
        radius = np.linspace(0.0, 1, n_per_class)
        angle = np.linspace(c * 4, (c + 1) * 4, n_per_class) + rng.normal(0, 0.2, n_per_class)
        points.append(np.c_[radius * np.sin(angle), radius * np.cos(angle)])
        labels.append(np.full(n_per_class, c))
    return np.concatenate(points).astype(np.float32), np.concatenate(labels)


def main():
    mc.manual_seed(0)
    x, y = spirals()
    model = nn.Sequential(nn.Linear(2, 100), nn.ReLU(), nn.Linear(100, 3))
    opt = mc.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    inputs = mc.tensor(x)
    for step in range(1, 301):
        loss = F.cross_entropy(model(inputs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    with mc.no_grad():
        accuracy = (model(inputs).argmax(1).numpy() == y).mean()
    print(f"training accuracy: {100 * accuracy:.2f}%")


if __name__ == "__main__":
    main()
