"""CyclicLR (Smith, 2017): each mode's learning rate and momentum by hand, what the constructor
sets in the groups, resuming, state dicts, bad arguments, and (where PyTorch is installed) the
same runs, resumes, state dicts and errors as torch.optim.lr_scheduler.CyclicLR. Step-by-step
floats against torch for every mode are in test_lr_scheduler.py's TORCH_CASES."""

import math

import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.optim import SGD, Adagrad, Adam
from minicnn.optim.lr_scheduler import CyclicLR


def two_groups(optimizer_class=SGD, **options):
    """An optimizer over two parameter groups, the second with its own learning rate."""
    groups = [{"params": [nn.Parameter(mc.zeros(2))]},
              {"params": [nn.Parameter(mc.zeros(2))], "lr": 0.3}]
    return optimizer_class(groups, lr=0.1, **options)


def run(scheduler, steps):
    """Each group's (lr, momentum) before the first step and after each step: the momentum is
    Adam's beta1 for an optimizer with betas, None for one with neither."""
    def now():
        return [(group["lr"], group["betas"][0] if "betas" in group else group.get("momentum"))
                for group in scheduler.optimizer.param_groups]
    values = [now()]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        values.append(now())
        assert scheduler.get_last_lr() == [lr for lr, _ in values[-1]]
    return values


# ----- each mode by hand ------------------------------------------------------------------------

def test_triangular_lr_and_momentum_over_two_cycles():
    optimizer = two_groups(momentum=0.5)
    scheduler = CyclicLR(optimizer, base_lr=[0.1, 0.2], max_lr=[1.0, 0.4], step_size_up=2)
    values = run(scheduler, 8)
    # a cycle of 4 steps: up to max_lr at step 2, back to base_lr at step 4
    assert [v[0][0] for v in values] == pytest.approx(
        [0.1, 0.55, 1.0, 0.55, 0.1, 0.55, 1.0, 0.55, 0.1], rel=1e-14)
    assert [v[1][0] for v in values] == pytest.approx(
        [0.2, 0.3, 0.4, 0.3, 0.2, 0.3, 0.4, 0.3, 0.2], rel=1e-14)
    # momentum runs the other way, from max_momentum 0.9 down to base_momentum 0.8
    assert [v[0][1] for v in values] == pytest.approx(
        [0.9, 0.85, 0.8, 0.85, 0.9, 0.85, 0.8, 0.85, 0.9], rel=1e-14)
    assert [v[0][1] for v in values] == [v[1][1] for v in values]


def test_triangular2_halves_the_amplitude_each_cycle_with_an_uneven_cycle():
    scheduler = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=1,
                         step_size_down=3, mode="triangular2")
    lrs = [v[0][0] for v in run(scheduler, 12)]
    assert lrs == pytest.approx([0, 1, 2 / 3, 1 / 3, 0, 1 / 2, 1 / 3, 1 / 6, 0,
                                 1 / 4, 1 / 6, 1 / 12, 0], rel=1e-14, abs=1e-17)
    assert scheduler.scale_mode == "cycle"


def test_triangular2_momentum():
    scheduler = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=1,
                         mode="triangular2", base_momentum=0.5, max_momentum=0.9)
    momenta = [v[0][1] for v in run(scheduler, 6)]
    assert momenta == pytest.approx([0.9, 0.5, 0.9, 0.7, 0.9, 0.8, 0.9], rel=1e-14)


def test_exp_range_scales_by_gamma_to_the_step():
    scheduler = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=1,
                         mode="exp_range", gamma=0.5)
    values = run(scheduler, 5)
    assert [v[0][0] for v in values] == pytest.approx([0, 0.5, 0, 0.125, 0, 1 / 32], abs=1e-17)
    assert [v[0][1] for v in values] == pytest.approx(
        [0.9, 0.85, 0.9, 0.8875, 0.9, 0.9 - 0.1 / 32], rel=1e-14)
    assert scheduler.scale_mode == "iterations"


def test_gamma_outside_0_1_is_refused_only_where_exp_range_uses_it():
    # PyTorch ignores gamma in the triangle modes; so does this one (the same learning rates)
    plain = run(CyclicLR(two_groups(momentum=0.9), 0.0, 1.0, step_size_up=2), 4)
    assert run(CyclicLR(two_groups(momentum=0.9), 0.0, 1.0, step_size_up=2, gamma=2.0), 4) == plain
    with pytest.raises(ValueError, match="gamma"):
        CyclicLR(two_groups(momentum=0.9), 0.0, 1.0, mode="exp_range", gamma=2.0)


def test_step_size_down_zero_is_a_sawtooth_and_step_sizes_may_be_fractional():
    sawtooth = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=4,
                        step_size_down=0)
    assert [v[0][0] for v in run(sawtooth, 6)] == [0, 0.25, 0.5, 0.75, 0, 0.25, 0.5]
    fractional = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=0.5,
                          step_size_down=1.5)
    assert [v[0][0] for v in run(fractional, 4)] == pytest.approx([0, 2 / 3, 0, 2 / 3, 0])


class Decay:
    """A scale_fn that is a callable object: its attributes are state."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, x):
        return self.rate ** x


def test_a_scale_fn_of_your_own_replaces_mode_on_cycles_or_steps():
    on_steps = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=1,
                        mode="not a mode", scale_fn=lambda t: 1 / (1 + t),
                        scale_mode="iterations")
    assert [v[0][0] for v in run(on_steps, 5)] == pytest.approx([0, 1 / 2, 0, 1 / 4, 0, 1 / 6])
    on_cycles = CyclicLR(two_groups(momentum=0.9), base_lr=0.0, max_lr=1.0, step_size_up=1,
                         mode="exp_range", scale_fn=Decay(0.5))
    assert on_cycles.scale_mode == "cycle" and on_cycles.scale_fn(3) == 0.125
    assert [v[0][0] for v in run(on_cycles, 5)] == pytest.approx([0, 0.5, 0, 0.25, 0, 0.125])


def test_adam_cycles_beta1_and_keeps_beta2():
    optimizer = two_groups(Adam, betas=(0.5, 0.99))
    scheduler = CyclicLR(optimizer, base_lr=1e-3, max_lr=1e-2, step_size_up=2,
                         base_momentum=[0.8, 0.7], max_momentum=0.9)
    values = run(scheduler, 4)
    assert [v[0][1] for v in values] == pytest.approx([0.9, 0.85, 0.8, 0.85, 0.9], rel=1e-14)
    assert [v[1][1] for v in values] == pytest.approx([0.9, 0.8, 0.7, 0.8, 0.9], rel=1e-14)
    assert [v[0][0] for v in values] == pytest.approx([1e-3, 5.5e-3, 1e-2, 5.5e-3, 1e-3])
    assert [group["betas"][1] for group in optimizer.param_groups] == [0.99, 0.99]


# ----- what the constructor sets -------------------------------------------------------------

def test_the_constructor_sets_lr_to_base_lr_and_momentum_to_max_momentum():
    optimizer = two_groups(momentum=0.5)
    scheduler = CyclicLR(optimizer, base_lr=[0.01, 0.02], max_lr=0.1,
                         base_momentum=[0.7, 0.75], max_momentum=[0.95, 0.85])
    assert [(g["lr"], g["initial_lr"], g["momentum"], g["max_momentum"], g["base_momentum"])
            for g in optimizer.param_groups] == [(0.01, 0.01, 0.95, 0.95, 0.7),
                                                 (0.02, 0.02, 0.85, 0.85, 0.75)]
    assert scheduler.base_lrs == [0.01, 0.02] and scheduler.max_lrs == [0.1, 0.1]
    assert scheduler.last_epoch == 0 and scheduler.total_size == 4000.0
    assert scheduler.step_ratio == 0.5


def test_without_cycle_momentum_momentum_is_left_alone_and_not_required():
    optimizer = two_groups(momentum=0.5)
    CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=2, cycle_momentum=False,
             base_momentum=[1, 2, 3])
    optimizer.step()
    assert [g["momentum"] for g in optimizer.param_groups] == [0.5, 0.5]
    assert "max_momentum" not in optimizer.param_groups[0]
    plain = CyclicLR(two_groups(Adagrad), base_lr=0.01, max_lr=0.1, step_size_up=2,
                     cycle_momentum=False)
    assert [v[0][0] for v in run(plain, 2)] == pytest.approx([0.01, 0.055, 0.1])


def test_an_optimizer_scheduled_before_starts_from_its_initial_lr_as_torch():
    """PyTorch's constructor step takes the groups' initial_lr as the base learning rates;
    base_lr takes over from the first step."""
    optimizer = two_groups(momentum=0.9)
    for group in optimizer.param_groups:
        group["initial_lr"] = 0.05
    scheduler = CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=2)
    assert [v[0][0] for v in run(scheduler, 3)] == pytest.approx([0.05, 0.055, 0.1, 0.055])
    assert scheduler.base_lrs == [0.01, 0.01]


# ----- resuming and state dicts ---------------------------------------------------------------

def test_resuming_with_last_epoch_continues_the_run():
    first = CyclicLR(two_groups(momentum=0.9), base_lr=[0.01, 0.02], max_lr=0.1,
                     step_size_up=3, mode="triangular2")
    run(first, 5)
    optimizer = two_groups(momentum=0.9)
    with pytest.raises(KeyError, match="initial_lr"):
        CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, last_epoch=4)
    optimizer.load_state_dict(first.optimizer.state_dict())
    # the constructor's step takes last_epoch 4 to 5, where the first run stands
    second = CyclicLR(optimizer, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                      mode="triangular2", last_epoch=4)
    assert second.last_epoch == 5 and second.get_last_lr() == first.get_last_lr()
    assert run(second, 9) == run(first, 9)


def test_state_dict_round_trip_mid_run():
    def build():
        return CyclicLR(two_groups(Adam), base_lr=[1e-3, 2e-3], max_lr=1e-2, step_size_up=2,
                        step_size_down=3, mode="exp_range", gamma=0.9)
    first = build()
    run(first, 7)
    saved_optimizer, saved = first.optimizer.state_dict(), first.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 7
    assert saved["scale_mode"] == "iterations" and saved["_scale_fn_custom"] is None
    second = build()
    second.optimizer.load_state_dict(saved_optimizer)
    second.load_state_dict(saved)
    assert second.last_epoch == 7 and second.get_last_lr() == first.get_last_lr()
    assert run(second, 10) == run(first, 10)


def test_state_dict_keeps_a_callable_objects_attributes_but_not_a_function():
    def function(cycle):
        return 1.0
    with_function = CyclicLR(two_groups(momentum=0.9), 0.01, 0.1, scale_fn=function)
    saved = with_function.state_dict()
    assert saved["_scale_fn_custom"] is None
    with_function.load_state_dict(saved)
    assert with_function._scale_fn_custom is function

    first = CyclicLR(two_groups(momentum=0.9), 0.0, 1.0, step_size_up=1, scale_fn=Decay(0.5))
    run(first, 2)
    saved = first.state_dict()
    assert saved["_scale_fn_custom"] == {"rate": 0.5}
    first._scale_fn_custom.rate = 0.1                       # a snapshot, not a view
    assert saved["_scale_fn_custom"] == {"rate": 0.5}
    decay = Decay(0.9)
    second = CyclicLR(two_groups(momentum=0.9), 0.0, 1.0, step_size_up=1, scale_fn=decay)
    second.load_state_dict(saved)
    assert second._scale_fn_custom is decay and decay.rate == 0.5
    assert [v[0][0] for v in run(second, 2)] == pytest.approx([0, 0.25, 0])


def test_load_state_dict_refuses_another_schedules_state():
    triangular = CyclicLR(two_groups(momentum=0.9), 0.01, 0.1)
    exp_range = CyclicLR(two_groups(momentum=0.9), 0.01, 0.1, mode="exp_range")
    with pytest.raises(ValueError, match="mode"):
        triangular.load_state_dict(exp_range.state_dict())
    without_momentum = CyclicLR(two_groups(momentum=0.9), 0.01, 0.1, cycle_momentum=False)
    with pytest.raises(ValueError, match="keys"):
        triangular.load_state_dict(without_momentum.state_dict())


# ----- bad arguments ----------------------------------------------------------------------------

BAD = [
    (lambda o: CyclicLR("sgd", 0.01, 0.1), TypeError, "not an Optimizer"),
    (lambda o: CyclicLR(o, [0.01, 0.02, 0.03], 0.1), ValueError,
     "base_lr must have the same length as optimizer.param_groups"),
    (lambda o: CyclicLR(o, 0.01, [0.1]), ValueError, "max_lr must have the same length"),
    (lambda o: CyclicLR(o, 0.01, 0.1, base_momentum=[0.8]), ValueError, "base_momentum"),
    (lambda o: CyclicLR(o, 0.01, 0.1, max_momentum=(0.9, 0.9, 0.9)), ValueError,
     "max_momentum"),
    (lambda o: CyclicLR(o, 0.01, 0.1, mode="triangle"), ValueError,
     "mode is invalid and scale_fn is None"),
    (lambda o: CyclicLR(o, 0.01, 0.1, scale_fn=3), TypeError, "scale_fn"),
    (lambda o: CyclicLR(o, 0.01, 0.1, scale_mode="epochs"), ValueError, "scale_mode"),
    (lambda o: CyclicLR(Adagrad([nn.Parameter(mc.zeros(1))]), 0.01, 0.1), ValueError,
     "optimizer must support momentum or beta1"),
    (lambda o: CyclicLR(o, 0.01, 0.1, last_epoch=3), KeyError, "initial_lr"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up="a"), ValueError, "step_size_up"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=None), TypeError, "step_size_up"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=-4), ValueError, "step_size_up"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=math.inf), ValueError, "step_size_up"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_down=-1), ValueError, "step_size_down"),
    (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=1e308, step_size_down=1e308), ValueError,
     "step_size_up \\+ step_size_down"),
    (lambda o: CyclicLR(o, -0.01, 0.1), ValueError, "base_lr"),
    (lambda o: CyclicLR(o, 0.01, math.nan), ValueError, "max_lr"),
    (lambda o: CyclicLR(o, 0.01, 10 ** 400), OverflowError, "max_lr"),
    (lambda o: CyclicLR(o, 0.01, 0.1, base_momentum=math.inf), ValueError, "base_momentum"),
    (lambda o: CyclicLR(o, 0.01, 0.1, mode="exp_range", gamma="fast"), ValueError, "gamma"),
    (lambda o: CyclicLR(o, 0.01, 0.1, mode="exp_range", gamma=math.nan), ValueError, "gamma"),
    (lambda o: CyclicLR(o, 0.01, 0.1, mode="exp_range", gamma=1.01), ValueError, "gamma"),
    (lambda o: CyclicLR(o, 0.01, 0.1, mode="exp_range", gamma=-0.5), ValueError, "gamma"),
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_arguments(make, error, message):
    optimizer = two_groups(momentum=0.9)
    with pytest.raises(error, match=message):
        make(optimizer)
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.3]   # left as it was


# ----- against PyTorch --------------------------------------------------------------------------

def torch_twin(torch, optimizer_class_name, **options):
    groups = [{"params": [torch.zeros(2, requires_grad=True)]},
              {"params": [torch.zeros(2, requires_grad=True)], "lr": 0.3}]
    return getattr(torch.optim, optimizer_class_name)(groups, lr=0.1, **options)


def torch_refuses_too(scheduler_class, optimizer, no_momentum_optimizer):
    """The bad calls that PyTorch refuses itself, built on either library's classes (step sizes
    <= 0, negative or non-finite rates, a bad gamma or scale_mode are refused only by us:
    PyTorch divides by zero or runs on)."""
    return [
        lambda: scheduler_class("sgd", 0.01, 0.1),
        lambda: scheduler_class(optimizer(), [0.01, 0.02, 0.03], 0.1),
        lambda: scheduler_class(optimizer(), 0.01, [0.1]),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, base_momentum=[0.8]),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, max_momentum=(0.9, 0.9, 0.9)),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, mode="triangle"),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, scale_fn=3),
        lambda: scheduler_class(no_momentum_optimizer(), 0.01, 0.1),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, last_epoch=3),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, step_size_up="a"),
        lambda: scheduler_class(optimizer(), 0.01, 0.1, step_size_up=None),
    ]


@pytest.mark.parametrize("index", range(11))
def test_errors_that_torch_raises_have_its_types(index):
    torch = pytest.importorskip("torch")
    ours = torch_refuses_too(CyclicLR, lambda: two_groups(momentum=0.9),
                             lambda: two_groups(Adagrad))[index]
    theirs = torch_refuses_too(torch.optim.lr_scheduler.CyclicLR,
                               lambda: torch_twin(torch, "SGD", momentum=0.9),
                               lambda: torch_twin(torch, "Adagrad"))[index]
    with pytest.raises(Exception) as our_error:
        ours()
    with pytest.raises(Exception) as torch_error:
        theirs()
    assert type(our_error.value) is type(torch_error.value)
    if "must have the same length" in str(torch_error.value):
        assert str(our_error.value) == str(torch_error.value)


def test_resume_and_a_scheduled_optimizer_match_torch():
    """PyTorch's constructor step takes the groups' initial_lr as the base learning rates; a
    resumed run, and one on an optimizer with an earlier initial_lr, follow it."""
    torch = pytest.importorskip("torch")
    results = []
    for make, scheduler_class in ((two_groups, CyclicLR),
                                  (lambda **options: torch_twin(torch, "SGD", **options),
                                   torch.optim.lr_scheduler.CyclicLR)):
        optimizer = make(momentum=0.9)
        for group, initial_lr in zip(optimizer.param_groups, (0.05, 0.07)):
            group["initial_lr"] = initial_lr
        fresh = scheduler_class(optimizer, [0.01, 0.02], 0.1, step_size_up=3)
        resumed = scheduler_class(make(momentum=0.9), 0.01, 0.1, step_size_up=3)
        for group, initial_lr in zip(resumed.optimizer.param_groups, (0.03, 0.04)):
            group["initial_lr"] = initial_lr
        resumed = scheduler_class(resumed.optimizer, 0.01, [0.1, 0.3], step_size_up=3,
                             mode="triangular2", last_epoch=4)
        results.append([run(fresh, 12), run(resumed, 12)])
    assert results[0] == results[1]


def test_state_dict_matches_torchs():
    torch = pytest.importorskip("torch")
    options = dict(base_lr=[1e-3, 2e-3], max_lr=1e-2, step_size_up=2, mode="exp_range",
                   gamma=0.9, base_momentum=[0.8, 0.85])
    ours = CyclicLR(two_groups(Adam), **options)
    theirs = torch.optim.lr_scheduler.CyclicLR(torch_twin(torch, "Adam"), **options)
    for scheduler in (ours, theirs):
        run(scheduler, 7)
    mine, torchs = ours.state_dict(), theirs.state_dict()
    torchs.pop("_get_lr_called_within_step")          # PyTorch's warning flag
    assert mine == torchs
    assert ours.optimizer.param_groups[1]["betas"] == theirs.optimizer.param_groups[1]["betas"]
