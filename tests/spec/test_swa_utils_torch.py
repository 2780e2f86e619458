"""minicnn.optim.swa_utils against torch.optim.swa_utils: SWALR's learning rates, state and
errors; AveragedModel's and the EMA functions' argument errors; integer buffers (batch norm's
num_batches_tracked) averaged as PyTorch averages them. Each test states values by hand, and
compares with PyTorch where it is installed."""

import math
import warnings

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.optim.swa_utils import (SWALR, AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn,
                                     get_swa_avg_fn)


def optimizer_of(library, lrs=(0.1, 0.3)):
    """SGD over one parameter group per learning rate, in minicnn or torch."""
    param = mc.nn.Parameter if library is mc else library.nn.Parameter
    groups = [{"params": [param(library.zeros(2))], "lr": lr} for lr in lrs]
    return library.optim.SGD(groups, lr=lrs[0])


def lr_sequence(library, steps=12, scale_at=5, **options):
    """get_last_lr() after the constructor and after each step; at step ``scale_at`` another
    schedule (by hand) multiplies the learning rates by 0.7 first."""
    optimizer = optimizer_of(library)
    swalr = library.optim.swa_utils.SWALR
    scheduler = swalr(optimizer, **options)
    lrs = [scheduler.get_last_lr()]
    for step in range(steps):
        optimizer.step()
        if step == scale_at:
            for group in optimizer.param_groups:
                group["lr"] *= 0.7
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    return lrs


# ------------------------------------------------------------------------------------ SWALR
def test_swalr_anneals_to_swa_lr_by_hand():
    # linear: 0.1 -> 0.2 in 4 steps, then held
    lrs = lr_sequence(mc, steps=6, scale_at=None, swa_lr=0.2, anneal_epochs=4,
                      anneal_strategy="linear")
    assert [lr[0] for lr in lrs] == pytest.approx([0.1, 0.125, 0.15, 0.175, 0.2, 0.2, 0.2])
    # cos over 2 steps: halfway at alpha = (1 - cos(pi / 2)) / 2 = 1/2; per-group targets
    lrs = lr_sequence(mc, steps=3, scale_at=None, swa_lr=[0.5, 0.1], anneal_epochs=2)
    assert lrs == [[0.1, 0.3], pytest.approx([0.3, 0.2]), [0.5, 0.1], [0.5, 0.1]]
    # no annealing: swa_lr at once
    lrs = lr_sequence(mc, steps=1, scale_at=None, swa_lr=0.05, anneal_epochs=0)
    assert lrs == [[0.05, 0.05], [0.05, 0.05]]


def test_swalr_recovers_the_start_after_another_schedule_changes_the_lr():
    # linear over 4 steps from 0.1 to 0.2; after step 1 (0.125) the lr is scaled by 0.7 to
    # 0.0875, so lr_0 = (0.0875 - 0.25 * 0.2) / 0.75 = 0.05 from then on
    lrs = lr_sequence(mc, steps=4, scale_at=1, swa_lr=0.2, anneal_epochs=4,
                      anneal_strategy="linear")
    assert [lr[0] for lr in lrs] == pytest.approx(
        [0.1, 0.125, 0.5 * 0.2 + 0.5 * 0.05, 0.75 * 0.2 + 0.25 * 0.05, 0.2])


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3, 10])
@pytest.mark.parametrize("swa_lr", [0.05, [0.05, 0.2]])
def test_swalr_is_pytorch_s(strategy, anneal_epochs, swa_lr):
    torch = pytest.importorskip("torch")
    options = dict(swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = lr_sequence(torch, **options)
    assert lr_sequence(mc, **options) == expected        # the same floats


def test_swalr_counts_steps_not_last_epoch():
    """Resuming (last_epoch=5) or step(epoch) does not move the annealing: PyTorch's get_lr
    reads _step_count."""
    optimizer = optimizer_of(mc)
    with pytest.raises(KeyError, match="initial_lr"):
        SWALR(optimizer, swa_lr=0.5, anneal_epochs=2, last_epoch=5)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]
    scheduler = SWALR(optimizer, swa_lr=0.5, anneal_epochs=2, last_epoch=5)
    assert scheduler.last_epoch == 6 and scheduler.get_last_lr() == [0.1, 0.3]
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(40)
    assert scheduler.last_epoch == 40
    assert scheduler.get_last_lr() == pytest.approx([0.3, 0.4])      # halfway, as any step 1


def test_swalr_resume_and_step_epoch_are_pytorch_s():
    torch = pytest.importorskip("torch")
    results = []
    for library in (mc, torch):
        optimizer = optimizer_of(library)
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"] * 2
        scheduler = library.optim.swa_utils.SWALR(optimizer, swa_lr=0.5, anneal_epochs=3,
                                                  last_epoch=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler.step(40)
            scheduler.step()
        results.append((scheduler.last_epoch, scheduler.base_lrs, scheduler.get_last_lr()))
    assert results[0] == results[1]


def test_swalr_argument_errors():
    optimizer = optimizer_of(mc)
    with pytest.raises(ValueError, match="swa_lr must have the same length as "
                                         "optimizer.param_groups"):
        SWALR(optimizer, swa_lr=[0.1])
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear', "
                                         "instead got cosine"):
        SWALR(optimizer, swa_lr=0.1, anneal_strategy="cosine")
    for bad in (-1, 2.0, None):
        with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0, "
                                             f"got {bad}"):
            SWALR(optimizer, swa_lr=0.1, anneal_epochs=bad)
    with pytest.raises(TypeError, match="SWALR: swa_lr must be a real number"):
        SWALR(optimizer, swa_lr=None)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        SWALR([], swa_lr=0.1)


def test_swalr_argument_errors_are_pytorch_s():
    torch = pytest.importorskip("torch")
    for options in ({"swa_lr": [0.1]}, {"swa_lr": 0.1, "anneal_strategy": "cosine"},
                    {"swa_lr": 0.1, "anneal_epochs": -1}, {"swa_lr": 0.1, "anneal_epochs": 2.0}):
        errors = []
        for library in (mc, torch):
            with pytest.raises(ValueError) as error:
                library.optim.swa_utils.SWALR(optimizer_of(library), **options)
            errors.append(str(error.value))
        assert errors[0] == errors[1]


def test_swalr_state_dict_and_a_saved_anneal_strategy():
    linear = SWALR(optimizer_of(mc), swa_lr=0.5, anneal_epochs=4, anneal_strategy="linear")
    linear.step()
    state = linear.state_dict()
    assert set(state) == {"_anneal_strategy", "anneal_epochs", "base_lrs", "last_epoch",
                          "_step_count", "_is_initial", "_last_lr"}    # no optimizer, anneal_func
    cosine = SWALR(optimizer_of(mc), swa_lr=0.5, anneal_epochs=4)
    cosine.load_state_dict(state)                  # the saved strategy replaces "cos"
    assert cosine.anneal_func(0.25) == 0.25 and cosine._step_count == 2
    bad = dict(state, anneal_epochs="4")
    with pytest.raises(TypeError, match="anneal_epochs"):
        SWALR(optimizer_of(mc), swa_lr=0.5).load_state_dict(bad)
    failed = SWALR(optimizer_of(mc), swa_lr=0.5)
    with pytest.raises(TypeError):
        failed.load_state_dict(bad)
    assert failed._anneal_strategy == "cos"        # a refused state changes nothing


def test_swalr_state_dict_is_pytorch_s():
    torch = pytest.importorskip("torch")
    lrs = []
    for library in (mc, torch):
        saved = library.optim.swa_utils.SWALR(optimizer_of(library), swa_lr=0.5,
                                              anneal_epochs=4, anneal_strategy="linear")
        saved.optimizer.step()
        saved.step()
        state = saved.state_dict()
        assert "anneal_func" not in state and state["_anneal_strategy"] == "linear"
        optimizer = optimizer_of(library)
        loaded = library.optim.swa_utils.SWALR(optimizer, swa_lr=0.5, anneal_epochs=4)
        loaded.load_state_dict({key: value for key, value in state.items()
                                if key != "_get_lr_called_within_step"})
        for group in optimizer.param_groups:
            group["lr"] = 0.125
        loaded.step()
        lrs.append(loaded.get_last_lr())
    assert lrs[0] == lrs[1]


# ------------------------------------------------------------------- arguments of averaging
def test_averaged_model_takes_one_averaging_function():
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn should be "
                                             "provided"):
        AveragedModel(nn.Linear(2, 2), avg_fn=get_ema_avg_fn(),
                      multi_avg_fn=get_ema_multi_avg_fn())


@pytest.mark.parametrize("make", [get_ema_avg_fn, get_ema_multi_avg_fn])
def test_ema_decay_must_be_in_the_unit_interval(make):
    make(0.0), make(1)
    for bad in (1.5, -0.1, math.nan):
        with pytest.raises(ValueError, match=rf"Invalid decay value {bad} provided\. Please "
                                             r"provide a value in \[0,1\] range\."):
            make(bad)
    with pytest.raises(TypeError, match="decay must be a real number"):
        make(None)


def test_ema_decay_errors_are_pytorch_s():
    torch = pytest.importorskip("torch")
    for name in ("get_ema_avg_fn", "get_ema_multi_avg_fn"):
        for bad in (1.5, -0.1):
            errors = []
            for module in (mc.optim.swa_utils, torch.optim.swa_utils):
                with pytest.raises(ValueError) as error:
                    getattr(module, name)(bad)
                errors.append(str(error.value))
            assert errors[0] == errors[1]


# --------------------------------------------------------------------------- integer buffers
class Counts(nn.Module):
    """A weight and an int64 buffer, the shape of a batch norm's num_batches_tracked."""

    def __init__(self, counts):
        super().__init__()
        self.weight = nn.Parameter(mc.tensor(np.zeros(2)))
        self.register_buffer("counts", mc.tensor(np.array(counts, dtype=np.int64)))


def torch_counts(counts):
    import torch
    module = torch.nn.Module()
    module.weight = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    module.register_buffer("counts", torch.tensor(counts, dtype=torch.int64))
    return module


AVERAGES = {"swa": lambda swa: {},
            "swa_avg_fn": lambda swa: {"avg_fn": swa.get_swa_avg_fn()},
            "ema": lambda swa: {"avg_fn": swa.get_ema_avg_fn(0.9)},
            "ema_multi": lambda swa: {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.9)},
            "halves": lambda swa: {"avg_fn": lambda a, c, n: (a + c) / 2}}


def averaged_counts(library, kind, sequence):
    """The averaged copy's buffer after update_parameters with each of ``sequence``."""
    make = Counts if library is mc else torch_counts
    model = make(sequence[0])
    averaged = library.optim.swa_utils.AveragedModel(
        model, use_buffers=True, **AVERAGES[kind](library.optim.swa_utils))
    for counts in sequence:
        model.counts.numpy()[...] = counts
        averaged.update_parameters(model)
    return averaged.module.counts.numpy().tolist()


@pytest.mark.parametrize("kind", ["swa", "swa_avg_fn", "ema", "ema_multi"])
def test_num_batches_tracked_is_averaged_and_truncated(kind):
    # 1, 2, ..., 7: SWA gives 1 + (c - 1) / c < 2 at each step, EMA 0.9 + 0.1 c < 2: both 1
    model = nn.BatchNorm1d(2)
    averaged = AveragedModel(model, use_buffers=True, **AVERAGES[kind](mc.optim.swa_utils))
    for _ in range(7):
        model(mc.tensor(np.random.default_rng(0).standard_normal((4, 2), np.float32)))
        averaged.update_parameters(model)
    assert int(model.num_batches_tracked.numpy()) == 7
    assert int(averaged.module.num_batches_tracked.numpy()) == 1


def test_integer_buffers_compute_in_float32_as_pytorch():
    # EMA 0.9 of a constant 3: 0.9f * 3 + 0.1f * 3 = 2.9999998f, truncated to 2
    assert averaged_counts(mc, "ema", [[3, 6, 7, 5]] * 2) == [2, 5, 6, 5]
    assert averaged_counts(mc, "ema_multi", [[3, 6, 7, 5]] * 2) == [2, 5, 6, 5]
    # SWA of a constant 2**25 + 1: float32 has no such number
    assert averaged_counts(mc, "swa", [[2**25 + 1]] * 2) == [2**25]
    # a custom avg_fn's result is truncated towards zero: -2.5 -> -2
    assert averaged_counts(mc, "halves", [[1, -1], [4, -4]]) == [2, -2]


@pytest.mark.parametrize("kind", sorted(AVERAGES))
def test_integer_buffers_are_pytorch_s(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(kind))
    large = [rng.integers(-2**30, 2**30, 64).tolist() for _ in range(6)]
    small = [[value // 2**20 for value in counts] for counts in large]
    # a custom function computes in NumPy's float64 where PyTorch's tensors take float32: the
    # two agree where both are exact, as for small counts
    sequence = small if kind == "halves" else large + small
    assert averaged_counts(mc, kind, sequence) == averaged_counts(torch, kind, sequence)


def test_multi_avg_fn_gets_one_call_per_dtype():
    calls = []
    model = Counts([1, 2])
    averaged = AveragedModel(model, use_buffers=True, multi_avg_fn=lambda a, c, n: calls.append(
        ([x.dtype.name for x in a], [x.dtype.name for x in c], n)))
    averaged.update_parameters(model)
    averaged.update_parameters(model)
    assert calls == [(["float64"], ["float64"], 1), (["int64"], ["int64"], 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_get_swa_avg_fn_keeps_floats_as_they_were(dtype):
    averaged, current = np.array([0.1, 2.0], dtype), np.array([0.7, 8.0], dtype)
    result = get_swa_avg_fn()(averaged, current, 2)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, averaged + (current - averaged) / dtype(3))
