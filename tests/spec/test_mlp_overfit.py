"""End to end: a small MLP driven by each optimizer overfits one fixed batch."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.optim import SGD, Adam
from minicnn.optim.lr_scheduler import CosineAnnealingLR


def fixed_batch():
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((16, 8)).astype(np.float32)
    labels = rng.integers(0, 4, size=16)            # random labels: only memorising fits them
    return mc.tensor(inputs), labels


@pytest.mark.parametrize("make_optimizer, steps", [
    (lambda params: SGD(params, lr=0.1, momentum=0.9, nesterov=True), 300),
    (lambda params: Adam(params, lr=1e-2), 150),
], ids=["sgd-nesterov", "adam"])
def test_mlp_overfits_a_fixed_batch(make_optimizer, steps):
    mc.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 4))
    optimizer = make_optimizer(model.parameters())
    inputs, labels = fixed_batch()
    first_loss = None
    for _ in range(steps):
        loss = F.cross_entropy(model(inputs), labels)
        first_loss = loss.item() if first_loss is None else first_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    final_loss = F.cross_entropy(model(inputs), labels).item()
    assert first_loss > 1.0
    assert final_loss < 1e-3
    with mc.no_grad():
        assert np.array_equal(model(inputs).numpy().argmax(axis=1), labels)


def test_mlp_overfits_with_a_schedule():
    mc.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4))
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-5)
    scheduler = CosineAnnealingLR(optimizer, T_max=200, eta_min=0.01)
    inputs, labels = fixed_batch()
    for _ in range(200):
        loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    assert F.cross_entropy(model(inputs), labels).item() < 1e-3
