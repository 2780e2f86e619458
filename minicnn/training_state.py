"""What a training checkpoint must hold before a run resumes from it.

A checkpoint is data from a file. ``Trainer.load_state_dict`` checks it with ``check_state``
before it changes anything, so that a crafted or damaged one is refused with one StateError
naming the field (``history[1].test_top1: expected a number in [0, 1], got 'x'``) instead of a
traceback later, or a run that trains on nonsense. The parts that have an owner are checked
by it: the optimizer's hyper-parameters by its constructor's rules (``Optimizer.load_state_dict``),
the schedule's state against its own shape, the loader's position against its length.

``check_recipe`` adds what only a known recipe can tell (the ``minicnn train`` settings from
which the trainer was rebuilt): the loader's seed and position, and the optimizer's and the
schedule's state, must be exactly what that recipe gives after the checkpoint's number of
steps. A learning rate of 1e30 passes SGD's own rule (lr >= 0), but not the run's schedule.
"""

import math
from contextlib import contextmanager

import numpy as np

__all__ = ["StateError", "check_state", "check_recipe", "named"]

FIELDS = ("epoch", "model", "optimizer", "scheduler", "rng", "loader", "best_metric", "history",
          "partial_epoch", "config")
RECORD_KEYS = ("epoch", "lr", "train_loss", "train_accuracy", "seconds", "images_per_second")
TEST_KEYS = ("test_loss", "test_top1", "test_top5")
FRACTIONS = ("train_accuracy", "test_top1", "test_top5")
PARTIAL_KEYS = ("batches", "loss_sum", "correct", "images", "seconds", "lr")


class StateError(ValueError):
    """A training checkpoint field that cannot be resumed from; the message names the field."""


@contextmanager
def named(field):
    """Turn the ValueError, TypeError, KeyError or OverflowError of a part's own check into a
    StateError that names the field."""
    try:
        yield
    except StateError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        detail = (str(error).splitlines() or [type(error).__name__])[0]
        raise StateError(f"{field}: {detail:.300}") from None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _number(value, field, low=None, high=None):
    if not _is_number(value) or low is not None and value < low or \
            high is not None and value > high:
        bounds = "" if low is None else f" in [{low}, {'inf' if high is None else high}]"
        raise StateError(f"{field}: expected a finite number{bounds}, got {value!r:.60}")


def _integer(value, field, low, high=None):
    if type(value) is not int or value < low or high is not None and value > high:
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise StateError(f"{field}: expected an integer {bounds}, got {value!r:.60}")


def check_state(state, trainer):
    """StateError naming the first field of ``state`` (a Trainer checkpoint) that is missing,
    of the wrong type or out of range for ``trainer``."""
    if not isinstance(state, dict):
        raise StateError(f"checkpoint: expected a dict of the fields {', '.join(FIELDS)}")
    missing = [field for field in FIELDS if field not in state]
    if missing:
        raise StateError(f"{missing[0]}: missing from the checkpoint")
    epoch = state["epoch"]
    _integer(epoch, "epoch", 0)
    history = state["history"]
    if not isinstance(history, list) or len(history) != epoch:
        raise StateError(f"history: expected a list of one record per completed epoch "
                         f"({epoch}), got {history!r:.60}")
    for index, record in enumerate(history):
        where = f"history[{index}]"
        # a Trainer with a test set evaluates some epochs (its eval_every and the last of a fit)
        tested = isinstance(record, dict) and trainer.test_loader is not None and \
            not set(TEST_KEYS).isdisjoint(record)
        keys = RECORD_KEYS + (TEST_KEYS if tested else ())
        if not isinstance(record, dict) or not set(keys) <= set(record):
            raise StateError(f"{where}: expected a record with the keys {', '.join(keys)}")
        _integer(record["epoch"], f"{where}.epoch", index + 1, index + 1)
        for key in keys[1:]:
            low = None if key in ("train_loss", "test_loss") else 0    # any loss_fn's value
            _number(record[key], f"{where}.{key}", low, 1 if key in FRACTIONS else None)
    if state["best_metric"] is None:
        # every epoch is evaluated without a test set (by its training accuracy)
        if any(trainer.test_loader is None or "test_top1" in record for record in history):
            raise StateError("best_metric: None after an evaluated epoch")
    else:
        _number(state["best_metric"], "best_metric", 0, 1)
    _check_partial_epoch(state["partial_epoch"], trainer)
    if not isinstance(state["config"], dict):
        raise StateError(f"config: expected a dict, got {type(state['config']).__name__}")
    _check_model(state["model"])
    if trainer.scheduler is not None and state["scheduler"] is None:
        raise StateError("scheduler: the checkpoint has no learning-rate schedule state")
    if not isinstance(state["rng"], dict):
        raise StateError(f"rng: expected a generator state dict, got {state['rng']!r:.60}")


def _check_partial_epoch(partial, trainer):
    if partial is None:
        return
    if not isinstance(partial, dict) or set(partial) != set(PARTIAL_KEYS):
        raise StateError(f"partial_epoch: expected None or a dict with the keys "
                         f"{', '.join(PARTIAL_KEYS)}, got {partial!r:.60}")
    batches = len(trainer.train_loader) if hasattr(trainer.train_loader, "__len__") else None
    # a stop inside an epoch happens after a batch and before the last one
    _integer(partial["batches"], "partial_epoch.batches", 1,
             None if batches is None else batches - 1)
    _integer(partial["images"], "partial_epoch.images", 1)
    _integer(partial["correct"], "partial_epoch.correct", 0, partial["images"])
    _number(partial["loss_sum"], "partial_epoch.loss_sum")
    _number(partial["seconds"], "partial_epoch.seconds", 0)
    _number(partial["lr"], "partial_epoch.lr", 0)


def _check_model(weights):
    if not isinstance(weights, dict):
        raise StateError(f"model: expected a dict of named arrays, got {type(weights).__name__}")
    for name, value in weights.items():
        array = getattr(value, "array", value)
        if not hasattr(array, "dtype") or array.dtype.kind not in "fiub":
            raise StateError(f"model.{name}: expected a numeric array, got {value!r:.60}")
        if array.dtype.kind == "f" and not np.isfinite(np.asarray(array)).all():
            raise StateError(f"model.{name}: holds NaN or infinity")


def check_recipe(state, trainer):
    """StateError unless the loader's state, and the optimizer's and schedule's, are what the
    trainer's freshly built loader, optimizer and schedule give at the checkpoint's point
    (``state`` passed check_state). Steps the fresh schedule there: call it before loading."""
    epoch, partial = state["epoch"], state["partial_epoch"]
    batches = 0 if partial is None else partial["batches"]
    loader = getattr(trainer.train_loader, "state_dict", None)
    if loader is not None:
        expected = {"seed": loader()["seed"], "epoch": epoch, "batch": batches}
        if state["loader"] != expected:
            raise StateError(f"loader: {state['loader']!r:.80} does not continue this run "
                             f"(expected {expected})")
    if epoch > state["config"].get("epochs", epoch):
        raise StateError(f"epoch: {epoch} is past the run's {state['config']['epochs']} epochs")
    optimizer, scheduler = trainer.optimizer, trainer.scheduler
    if scheduler is not None:
        steps = epoch if trainer.scheduler_interval == "epoch" else \
            epoch * len(trainer.train_loader) + batches
        saved_steps = state["scheduler"].get("last_epoch") if isinstance(
            state["scheduler"], dict) else None
        if saved_steps != scheduler.last_epoch + steps:
            raise StateError(f"scheduler.last_epoch: {saved_steps!r:.40} does not continue this "
                             f"run (expected {scheduler.last_epoch + steps})")
        for _ in range(steps):
            scheduler.step()
        _check_equal(scheduler.state_dict(), state["scheduler"], "scheduler")
    saved_groups = state["optimizer"].get("param_groups") if isinstance(
        state["optimizer"], dict) else None
    if not isinstance(saved_groups, list) or len(saved_groups) != len(optimizer.param_groups):
        raise StateError("optimizer.param_groups: not this run's parameter groups")
    for index, (group, saved) in enumerate(zip(optimizer.param_groups, saved_groups)):
        expected = {key: value for key, value in group.items() if key != "params"}
        saved = saved if isinstance(saved, dict) else {}
        _check_equal(expected, {key: saved.get(key) for key in expected},
                     f"optimizer.param_groups[{index}]")


def _check_equal(expected, saved, field):
    """StateError naming the first entry where ``saved`` differs from ``expected``."""
    if isinstance(expected, dict) and isinstance(saved, dict) and set(expected) == set(saved):
        for key in expected:
            _check_equal(expected[key], saved[key], f"{field}.{key}")
    elif isinstance(expected, (list, tuple)) and isinstance(saved, (list, tuple)) \
            and len(expected) == len(saved):
        for index, (a, b) in enumerate(zip(expected, saved)):
            _check_equal(a, b, f"{field}[{index}]")
    elif type(expected) is not type(saved) and not (_is_number(expected) and _is_number(saved)) \
            or expected != saved:
        raise StateError(f"{field}: {saved!r:.60}, but this run's settings give {expected!r:.60} "
                         "at this point")
