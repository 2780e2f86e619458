"""Hyper-parameters too large for a float (10**400) or out of every sensible range: each is
refused by an error that names the argument (issue 21 counted 61 calls that gave Python's bare
"int too large to convert to float"); values that fit still work."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.optim import lr_scheduler


def x4():
    return mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)), requires_grad=True)


def sgd(momentum=0.0):
    return mc.optim.SGD([mc.tensor(np.zeros(3), requires_grad=True)], lr=0.1, momentum=momentum)


def run(output):
    """Use what a call built: run its backward pass, or step its schedule twice."""
    if isinstance(output, mc.Tensor):
        output.sum().backward()
    elif isinstance(output, lr_scheduler.LRScheduler) and not isinstance(
            output, lr_scheduler.ReduceLROnPlateau):
        output.step()
        output.step()


# (call, its hyper-parameters with working values)
CALLS = [
    (lambda **k: F.avg_pool2d(x4(), 2, **k), dict(divisor_override=3)),
    (lambda **k: F.adaptive_avg_pool2d(x4(), **k), dict(output_size=2)),
    (lambda **k: F.adaptive_max_pool2d(x4(), **k), dict(output_size=2)),
    (lambda **k: F.batch_norm(x4(), None, None, training=True, **k), dict(momentum=0.1, eps=1e-5)),
    (lambda **k: F.local_response_norm(x4(), 3, **k), dict(alpha=1e-4, beta=0.75, k=1.0)),
    (lambda **k: F.leaky_relu(x4(), **k), dict(negative_slope=0.01)),
    (lambda **k: lr_scheduler.StepLR(sgd(), 1, **k), dict(gamma=0.5)),
    (lambda **k: lr_scheduler.MultiStepLR(sgd(), [1], **k), dict(gamma=0.5)),
    (lambda **k: lr_scheduler.CosineAnnealingLR(sgd(), **k), dict(T_max=5, eta_min=0.0)),
    (lambda **k: lr_scheduler.LinearLR(sgd(), **k),
     dict(start_factor=0.5, end_factor=1.0, total_iters=5)),
    (lambda **k: lr_scheduler.OneCycleLR(sgd(0.9), **k),
     dict(max_lr=0.1, total_steps=10, div_factor=25.0, final_div_factor=1e4)),
    (lambda **k: lr_scheduler.CyclicLR(sgd(0.9), **k),
     dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=2, gamma=0.9,
          base_momentum=0.8, max_momentum=0.9)),
    (lambda **k: lr_scheduler.CyclicLR(sgd(0.9), 0.01, 0.1, mode="exp_range", **k),
     dict(gamma=0.9)),
    (lambda **k: lr_scheduler.ReduceLROnPlateau(sgd(), **k),
     dict(factor=0.1, threshold=1e-4, min_lr=0.0, eps=1e-8)),
    (lambda **k: mc.data.DataLoader(mc.data.ArrayDataset(np.zeros((4, 1, 2, 2), np.float32),
                                                         np.zeros(4, np.int64)), **k),
     dict(seed=0)),
    (lambda **k: mc.data.transforms.RandomCrop(8, **k), dict(padding=2)),
    (lambda **k: mc.models.create("lenet5", **k), dict(num_classes=10)),
]
CASES = [(call, options, name, value) for call, options in CALLS for name in options
         for value in (10 ** 400, -10 ** 400, float("inf"), 1e308, 2 ** 63)]


@pytest.mark.parametrize("call, options, name, value", CASES,
                         ids=[f"{i}-{case[2]}-{case[3]!r:.8}" for i, case in enumerate(CASES)])
def test_a_huge_hyper_parameter_is_used_or_refused_naming_it(call, options, name, value):
    try:
        with np.errstate(all="ignore"):
            run(call(**{**options, name: value}))
    except (TypeError, ValueError, OverflowError) as error:
        assert name in str(error), f"{type(error).__name__}: {error}"


def test_the_working_values_work():
    for call, options in CALLS:
        run(call(**options))


def test_manual_seed_names_the_seed():
    for seed, error in ((-1, ValueError), (1.5, TypeError), (float("inf"), TypeError)):
        with pytest.raises(error, match="manual_seed: seed must be"):
            mc.manual_seed(seed)
