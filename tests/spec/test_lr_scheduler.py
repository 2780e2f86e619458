"""Learning-rate schedules: sequences computed by hand, state-dict round trips, errors, and
(where PyTorch is installed) every schedule's floats against torch.optim.lr_scheduler."""

import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.optim import SGD, Adam, Optimizer, lr_scheduler
from minicnn.optim.lr_scheduler import (CosineAnnealingLR, LinearLR, MultiStepLR, OneCycleLR,
                                        ReduceLROnPlateau, StepLR)


def make_optimizer(lr=1.0, optimizer_class=SGD, **options):
    return optimizer_class([nn.Parameter(mc.zeros(2))], lr=lr, **options)


def sequence(scheduler, steps, metrics=None):
    """The learning rate of the first group before the first step and after each step."""
    lrs = [scheduler.get_last_lr()[0]]
    for index in range(steps):
        scheduler.optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[index])
        lrs.append(scheduler.get_last_lr()[0])
        assert scheduler.optimizer.param_groups[0]["lr"] == lrs[-1]
    return lrs


# ----- sequences by hand ---------------------------------------------------------------------

def test_step_lr():
    scheduler = StepLR(make_optimizer(0.1), step_size=3, gamma=0.5)
    assert sequence(scheduler, 8) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025], rel=1e-15)


def test_multi_step_lr_with_a_repeated_milestone():
    scheduler = MultiStepLR(make_optimizer(1.0), milestones=[2, 4, 4], gamma=0.1)
    assert sequence(scheduler, 6) == pytest.approx([1, 1, 0.1, 0.1, 0.001, 0.001, 0.001],
                                                   rel=1e-14)


def test_cosine_annealing_lr():
    T, eta_min = 4, 0.1
    scheduler = CosineAnnealingLR(make_optimizer(1.0), T_max=T, eta_min=eta_min)
    lrs = sequence(scheduler, 12)
    closed_form = [eta_min + (1 - eta_min) * (1 + math.cos(math.pi * t / T)) / 2
                   for t in range(13)]
    assert lrs == pytest.approx(closed_form, rel=1e-12)
    assert lrs[4] == pytest.approx(eta_min) and lrs[8] == pytest.approx(1.0)
    # PyTorch's recursive form, step by step (the bottom of the cosine, t = T + 1, is special)
    lr = 1.0
    for t in range(1, 13):
        if (t - 1 - T) % (2 * T) == 0:
            lr = lr + (1 - eta_min) * (1 - math.cos(math.pi / T)) / 2
        else:
            lr = ((1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                  * (lr - eta_min) + eta_min)
        assert lrs[t] == lr


def test_linear_lr_warm_up_and_decay():
    warm_up = LinearLR(make_optimizer(0.4), start_factor=0.25, total_iters=3)
    assert sequence(warm_up, 5) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4], rel=1e-14)
    decay = LinearLR(make_optimizer(1.0), start_factor=1.0, end_factor=0.5, total_iters=2)
    assert sequence(decay, 3) == pytest.approx([1.0, 0.75, 0.5, 0.5], rel=1e-14)


def test_one_cycle_lr_cos_with_momentum():
    optimizer = make_optimizer(0.1, momentum=0.9)
    scheduler = OneCycleLR(optimizer, max_lr=1.0, total_steps=10, div_factor=4.0,
                           final_div_factor=10.0)
    # warm-up over steps 0..2 (pct_start 0.3: end_step = 0.3 * 10 - 1), annealing over 2..9
    cos_anneal = lambda start, end, pct: end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
    group = optimizer.param_groups[0]
    assert (group["initial_lr"], group["max_lr"], group["min_lr"]) == (0.25, 1.0, 0.025)
    assert group["lr"] == 0.25 and group["momentum"] == 0.95
    lrs, momenta = [group["lr"]], [group["momentum"]]
    for _ in range(9):
        optimizer.step()
        scheduler.step()
        lrs.append(group["lr"])
        momenta.append(group["momentum"])
    assert lrs[:3] == pytest.approx([0.25, 0.625, 1.0], rel=1e-14)
    assert momenta[:3] == pytest.approx([0.95, 0.9, 0.85], rel=1e-14)
    assert lrs[3] == pytest.approx(cos_anneal(1.0, 0.025, 1 / 7), rel=1e-14)
    assert momenta[3] == pytest.approx(cos_anneal(0.85, 0.95, 1 / 7), rel=1e-14)
    assert lrs[9] == pytest.approx(0.025) and momenta[9] == pytest.approx(0.95)
    scheduler.step()                                   # PyTorch allows one more call
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        scheduler.step()


def test_one_cycle_lr_three_phase_linear_drives_adams_beta1():
    optimizer = make_optimizer(0.1, Adam, betas=(0.9, 0.99))
    scheduler = OneCycleLR(optimizer, max_lr=1.0, total_steps=10, pct_start=0.25,
                           anneal_strategy="linear", three_phase=True, div_factor=4.0,
                           final_div_factor=10.0, base_momentum=0.8, max_momentum=0.9)
    group = optimizer.param_groups[0]
    lrs, beta1s = [group["lr"]], [group["betas"][0]]
    for _ in range(5):
        optimizer.step()
        scheduler.step()
        lrs.append(group["lr"])
        beta1s.append(group["betas"][0])
        assert group["betas"][1] == 0.99
    # phases end at steps 1.5 (up to max_lr), 3 (back to initial_lr) and 9 (down to min_lr)
    assert lrs == pytest.approx([0.25, 0.75, 0.75, 0.25, 0.2125, 0.175], rel=1e-14)
    assert beta1s == pytest.approx([0.9, 0.8 + 0.1 / 3, 0.8 + 0.1 / 3, 0.9, 0.9, 0.9], rel=1e-14)


def test_reduce_lr_on_plateau_patience_and_cooldown():
    metrics = [10, 9, 9, 9, 9, 9, 9, 9]
    plain = ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=1)
    assert sequence(plain, 7, metrics) == [1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25]
    cooled = ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=1, cooldown=2)
    assert sequence(cooled, 8, metrics) == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_reduce_lr_on_plateau_min_lr_threshold_and_eps():
    floor = ReduceLROnPlateau(make_optimizer(1.0), factor=0.5, patience=0, min_lr=0.3)
    assert sequence(floor, 4, [5, 5, 5, 5]) == [1, 1, 0.5, 0.3, 0.3]
    # 9.9995 does not beat 10 by the relative threshold 1e-4, 9.6 not by the absolute 0.5
    relative = ReduceLROnPlateau(make_optimizer(1.0), patience=0)
    assert sequence(relative, 2, [10, 9.9995]) == pytest.approx([1, 1, 0.1])
    absolute = ReduceLROnPlateau(make_optimizer(1.0), patience=0, threshold=0.5,
                                 threshold_mode="abs")
    assert sequence(absolute, 3, [10, 9.6, 9.4]) == pytest.approx([1, 1, 0.1, 0.1])
    accuracy = ReduceLROnPlateau(make_optimizer(1.0), mode="max", patience=0)
    assert sequence(accuracy, 3, [0.5, 0.6, 0.6]) == pytest.approx([1, 1, 1, 0.1])
    tiny = ReduceLROnPlateau(make_optimizer(1e-9), patience=0)   # a change below eps is skipped
    assert sequence(tiny, 2, [1, 1]) == [1e-9, 1e-9, 1e-9]


def test_reduce_lr_on_plateau_takes_a_tensor_and_per_group_min_lr():
    a, b = nn.Parameter(mc.zeros(1)), nn.Parameter(mc.zeros(1))
    optimizer = SGD([{"params": [a]}, {"params": [b], "lr": 0.1}], lr=1.0)
    scheduler = ReduceLROnPlateau(optimizer, patience=0, min_lr=[0.5, 0.0])
    scheduler.step(mc.tensor(3.0))
    scheduler.step(mc.tensor(3.0))
    assert scheduler.get_last_lr() == pytest.approx([0.5, 0.01])


def test_scheduler_sets_initial_lr_and_base_lrs():
    a, b = nn.Parameter(mc.zeros(1)), nn.Parameter(mc.zeros(1))
    optimizer = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    assert [group["initial_lr"] for group in optimizer.param_groups] == [0.1, 0.5]
    assert scheduler.base_lrs == [0.1, 0.5] and scheduler.last_epoch == 0
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [0.05, 0.25] and scheduler.last_epoch == 1


def test_two_schedulers_chain():
    optimizer = make_optimizer(1.0)
    warm_up = LinearLR(optimizer, start_factor=0.5, total_iters=2)
    decay = StepLR(optimizer, step_size=2, gamma=0.1)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(4):
        optimizer.step()
        warm_up.step()
        decay.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.5, 0.75, 0.1, 0.1, 0.01], rel=1e-14)


# ----- state dicts and resuming -------------------------------------------------------------

SCHEDULES = [
    (StepLR, dict(step_size=2, gamma=0.5), {}),
    (MultiStepLR, dict(milestones=[3, 5], gamma=0.1), {}),
    (CosineAnnealingLR, dict(T_max=5, eta_min=0.01), {}),
    (LinearLR, dict(start_factor=0.1, total_iters=4), {}),
    (OneCycleLR, dict(max_lr=2.0, total_steps=12, three_phase=True), dict(momentum=0.9)),
    (ReduceLROnPlateau, dict(patience=1, cooldown=1, factor=0.5), {}),
    (lr_scheduler.CyclicLR, dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="triangular2"),
     dict(momentum=0.9)),
]
METRICS = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3]


@pytest.mark.parametrize("scheduler_class, options, optimizer_options", SCHEDULES)
def test_state_dict_round_trip_resumes_identically(scheduler_class, options,
                                                   optimizer_options):
    metrics = METRICS if scheduler_class is ReduceLROnPlateau else None
    first = scheduler_class(make_optimizer(0.1, **optimizer_options), **options)
    sequence(first, 4, metrics)
    saved_optimizer = first.optimizer.state_dict()
    saved_scheduler = first.state_dict()
    assert "optimizer" not in saved_scheduler
    second = scheduler_class(make_optimizer(0.1, **optimizer_options), **options)
    second.optimizer.load_state_dict(saved_optimizer)
    second.load_state_dict(saved_scheduler)
    rest = metrics[4:] if metrics else None
    assert sequence(second, 6, rest) == sequence(first, 6, rest)
    assert second.optimizer.param_groups[0] == {**first.optimizer.param_groups[0],
                                                "params": second.optimizer.param_groups[0]["params"]}


def test_state_dict_is_a_snapshot():
    scheduler = MultiStepLR(make_optimizer(1.0), milestones=[1, 2])
    saved = scheduler.state_dict()
    sequence(scheduler, 3)
    assert saved["last_epoch"] == 0 and saved["_last_lr"] == [1.0]


def test_resuming_with_last_epoch():
    optimizer = make_optimizer(0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(optimizer, step_size=2, last_epoch=3)
    optimizer.param_groups[0]["initial_lr"] = 0.1
    optimizer.param_groups[0]["lr"] = 0.05
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5, last_epoch=3)
    # the constructor's step reaches epoch 4, a multiple of step_size, as in PyTorch
    assert scheduler.last_epoch == 4 and scheduler.base_lrs == [0.1]
    assert sequence(scheduler, 2) == pytest.approx([0.025, 0.025, 0.0125])


# ----- errors ------------------------------------------------------------------------------

class _NoMomentum(Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))


@pytest.mark.parametrize("make, error, message", [
    (lambda o: StepLR(o, step_size=0), ValueError, "step_size"),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: OneCycleLR(o, max_lr=1.0), ValueError, "total_steps"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "total_steps"),
    (lambda o: OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=0), ValueError,
     "steps_per_epoch"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), ValueError,
     "pct_start"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy"),
    (lambda o: OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=5), ValueError, "max_lr"),
    (lambda o: OneCycleLR(_NoMomentum([nn.Parameter(mc.zeros(1))]), max_lr=1.0,
                          total_steps=5), ValueError, "momentum"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), ValueError, "actor"),
    (lambda o: ReduceLROnPlateau(o, mode="avg"), ValueError, "mode"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="log"), ValueError, "threshold_mode"),
    (lambda o: ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, "min_lrs"),
    (lambda o: StepLR("sgd", step_size=2), TypeError, "not an Optimizer"),
    (lambda o: ReduceLROnPlateau("sgd"), TypeError, "not an Optimizer"),
])
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer())


def test_package_exports():
    assert mc.optim.lr_scheduler is lr_scheduler
    assert issubclass(ReduceLROnPlateau, lr_scheduler.LRScheduler)


def test_every_name_of_torchs_lr_scheduler_exists():
    torch = pytest.importorskip("torch")
    assert [name for name in torch.optim.lr_scheduler.__all__
            if not hasattr(lr_scheduler, name)] == []


# ----- against PyTorch ---------------------------------------------------------------------------

TORCH_CASES = [
    ("SGD", {}, "StepLR", dict(step_size=3, gamma=0.5), 20),
    ("SGD", {}, "MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3), 20),
    ("SGD", {}, "CosineAnnealingLR", dict(T_max=7, eta_min=0.001), 40),
    ("SGD", {}, "CosineAnnealingLR", dict(T_max=10), 40),
    ("SGD", {}, "LinearLR", dict(start_factor=0.1, total_iters=6), 20),
    ("SGD", {}, "LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=4), 20),
    ("SGD", dict(momentum=0.9), "OneCycleLR", dict(max_lr=1.0, total_steps=37), 37),
    ("SGD", dict(momentum=0.9), "OneCycleLR",
     dict(max_lr=[1.0, 3.0], total_steps=40, anneal_strategy="linear", three_phase=True,
          pct_start=0.25, base_momentum=[0.8, 0.7]), 40),
    ("Adam", {}, "OneCycleLR",
     dict(max_lr=0.01, epochs=3, steps_per_epoch=11, div_factor=10.0), 33),
    ("RMSprop", {}, "OneCycleLR", dict(max_lr=0.1, total_steps=25, pct_start=0.5), 25),
    ("SGD", {}, "OneCycleLR", dict(max_lr=1.0, total_steps=20, cycle_momentum=False), 20),
    ("SGD", dict(momentum=0.9), "CyclicLR",
     dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.5], step_size_up=4), 40),
    ("SGD", dict(momentum=0.9), "CyclicLR",
     dict(base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=3, step_size_down=5, mode="triangular2",
          base_momentum=[0.8, 0.85], max_momentum=[0.9, 0.95]), 40),
    ("SGD", dict(momentum=0.9), "CyclicLR",
     dict(base_lr=0.01, max_lr=0.1, step_size_up=2.5, step_size_down=1.5, mode="exp_range",
          gamma=0.97), 40),
    ("Adam", {}, "CyclicLR", dict(base_lr=[1e-4, 1e-3], max_lr=1e-2, step_size_up=5), 40),
    ("Adam", {}, "CyclicLR",
     dict(base_lr=1e-4, max_lr=1e-2, step_size_up=2, step_size_down=6, mode="triangular2"), 40),
    ("Adam", dict(betas=(0.95, 0.99)), "CyclicLR",
     dict(base_lr=1e-4, max_lr=1e-2, step_size_up=3, mode="exp_range", gamma=0.9), 40),
    ("RMSprop", {}, "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4,
                                     step_size_down=0), 20),
    ("SGD", {}, "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3,
                                 cycle_momentum=False), 20),
    ("SGD", dict(momentum=0.9), "CyclicLR",
     dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda t: 1 / (1 + t),
          scale_mode="iterations"), 30),
    ("SGD", dict(momentum=0.9), "CyclicLR",
     dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda cycle: 0.7 ** cycle,
          mode="exp_range"), 30),
    ("SGD", {}, "ReduceLROnPlateau", dict(patience=2, factor=0.5, cooldown=1, min_lr=0.01), 60),
    ("SGD", {}, "ReduceLROnPlateau",
     dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs"), 60),
    ("SGD", {}, "ReduceLROnPlateau", dict(mode="max", patience=3, min_lr=[0.0, 0.05]), 60),
]


@pytest.mark.parametrize("optimizer_name, optimizer_options, name, options, steps", TORCH_CASES)
def test_matches_torch(optimizer_name, optimizer_options, name, options, steps):
    torch = pytest.importorskip("torch")
    metrics = list(np.round(np.cumsum(np.random.default_rng(0).normal(0, 1, steps)), 1))

    def build(optim, scheduler_module, make_param):
        groups = [{"params": [make_param()]}, {"params": [make_param()], "lr": 0.3}]
        optimizer = getattr(optim, optimizer_name)(groups, lr=0.1, **optimizer_options)
        return optimizer, getattr(scheduler_module, name)(optimizer, **options)

    ours = build(mc.optim, lr_scheduler, lambda: nn.Parameter(mc.zeros(2)))
    theirs = build(torch.optim, torch.optim.lr_scheduler,
                   lambda: torch.zeros(2, requires_grad=True))

    def hyperparameters(optimizer):
        return [(group["lr"], group.get("momentum"), group.get("betas"))
                for group in optimizer.param_groups]

    for step in range(steps):
        for optimizer, scheduler in (ours, theirs):
            optimizer.step()
            if name == "ReduceLROnPlateau":
                scheduler.step(metrics[step])
            else:
                scheduler.step()
        assert ours[1].get_last_lr() == theirs[1].get_last_lr()      # the same floats
        assert hyperparameters(ours[0]) == hyperparameters(theirs[0])


def test_chained_schedulers_match_torch():
    torch = pytest.importorskip("torch")

    def build(optim, schedulers, param):
        optimizer = optim.SGD([param], lr=0.5)
        return optimizer, [schedulers.LinearLR(optimizer, start_factor=0.2, total_iters=5),
                           schedulers.CosineAnnealingLR(optimizer, T_max=12, eta_min=0.01),
                           schedulers.MultiStepLR(optimizer, milestones=[7, 9], gamma=0.5)]

    ours = build(mc.optim, lr_scheduler, nn.Parameter(mc.zeros(1)))
    theirs = build(torch.optim, torch.optim.lr_scheduler, torch.zeros(1, requires_grad=True))
    for _ in range(30):
        for optimizer, schedulers in (ours, theirs):
            optimizer.step()
            for scheduler in schedulers:
                scheduler.step()
        assert ours[0].param_groups[0]["lr"] == theirs[0].param_groups[0]["lr"]
