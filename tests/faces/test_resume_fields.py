"""Every field of a training checkpoint is checked before `minicnn train --resume` uses it: a
crafted or damaged field ends in one line naming it (exit status 2), never in a traceback, a
silent acceptance or a run that diverges; the checkpoints the trainer writes, for every
optimizer and schedule, still resume."""

import json
import re
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn.utils.checkpoint import load_checkpoint, save_checkpoint
from test_cli import run

SMALL = ["--train-subset", "96", "--test-subset", "64", "--batch-size", "32", "--no-plots"]


def stopped_run(folder, monkeypatch, capsys, *options, inside_epoch=False):
    """The last.npz of a 2-epoch run stopped after epoch 1 (or after epoch 1's first batch)."""
    if inside_epoch:
        train_epoch = mc.train.Trainer.train_epoch

        def stop_after_a_batch(self):
            self._stop_requested = True
            return train_epoch(self)
        monkeypatch.setattr(mc.train.Trainer, "train_epoch", stop_after_a_batch)
    else:
        monkeypatch.setattr(mc.train.Trainer, "_stop_agreed", lambda self: True)
    status, _, err = run(capsys, "train", "--epochs", "2", "--out", str(folder), *SMALL,
                         *options)
    monkeypatch.undo()
    assert status == 130, err
    return folder / "last.npz"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stopped")
    with pytest.MonkeyPatch.context() as monkeypatch:
        capsys = _NoCapture()
        return {"epoch": stopped_run(folder / "epoch", monkeypatch, capsys),
                "batch": stopped_run(folder / "batch", monkeypatch, capsys, inside_epoch=True)}


class _NoCapture:
    def readouterr(self):
        return type("Captured", (), {"out": "", "err": ""})()


def _set(*path_and_value):
    *path, value = path_and_value

    def change(state):
        node = state
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _drop_test_loss(state):
    del state["history"][0]["test_loss"]


def _nan_buffer(state):
    buffer = state["optimizer"]["state"][0]["momentum_buffer"]
    array = buffer.numpy().copy()
    array.flat[0] = np.nan
    state["optimizer"]["state"][0]["momentum_buffer"] = array


def _nan_weight(state):
    name = next(iter(state["model"]))
    array = state["model"][name].numpy().copy()
    array.flat[0] = np.inf
    state["model"][name] = array


# (which checkpoint, change, the field the one-line refusal names)
VARIANTS = [
    ("epoch", _set("history", 0, {"epoch": 1}), "history[0]: expected a record with the keys"),
    ("epoch", _set("history", "abc"), "history: expected a list"),
    # an evaluated epoch's record has all three test figures (an unevaluated one, none)
    ("epoch", _drop_test_loss, re.compile(r"history\[0\]: expected .* test_loss, test_top1")),
    ("epoch", _set("history", 0, "test_top1", 7.0),
     re.compile(r"history\[0\].test_top1: .*in \[0, 1\]")),
    ("epoch", _set("best_metric", "x"), "best_metric: expected a finite number"),
    ("epoch", _set("best_metric", 2.5), "best_metric: expected a finite number in"),
    ("epoch", _set("best_metric", None), "best_metric: None after an evaluated epoch"),
    ("epoch", _set("loader", "batch", -3), "loader: {'seed': 0, 'epoch': 1, 'batch': -3} does not"),
    ("epoch", _set("loader", "batch", 10**6), "loader: {'seed': 0, 'epoch': 1, 'batch': 1000000}"),
    ("epoch", _set("loader", "seed", 7), re.compile("loader: .* does not continue this run")),
    ("epoch", _set("partial_epoch", "1"), "partial_epoch: expected None or a dict"),
    ("epoch", _set("scheduler", {"last_epoch": 3}), "scheduler"),
    ("epoch", _set("scheduler", "total_steps", "x"),
     "scheduler.total_steps: 'x', but this run's settings give 6"),
    ("epoch", _set("scheduler", "last_epoch", 10**6), "scheduler.last_epoch: 1000000 does not"),
    ("epoch", _set("scheduler", None), "scheduler: the checkpoint has no learning-rate schedule"),
    ("epoch", _set("optimizer", "param_groups", 0, "lr", "0.1"),
     "optimizer.param_groups[0].lr: '0.1', but this run's settings give 0.0"),
    ("epoch", _set("optimizer", "param_groups", 0, "lr", 1e30),
     re.compile(r"optimizer.param_groups\[0\].lr: 1e\+30, but this run's settings give")),
    ("epoch", _set("optimizer", "param_groups", 0, "lr", -5),
     "optimizer.param_groups[0].lr: -5, but this run's settings give 0.0"),
    ("epoch", _set("optimizer", "param_groups", 0, "momentum", float("nan")),
     "optimizer.param_groups[0].momentum: nan, but this run's settings give 0.9"),
    ("epoch", _set("optimizer", "param_groups", 0, "nesterov", "yes"),
     "optimizer.param_groups[0].nesterov: 'yes', but this run's settings give True"),
    ("epoch", _set("optimizer", "state", 0, "momentum_buffer", "x"),
     "optimizer: loaded state 'momentum_buffer' must be an array"),
    ("epoch", _nan_buffer, "optimizer: loaded state 'momentum_buffer' must hold finite"),
    ("epoch", _nan_weight, "model.features.0.weight: holds NaN or infinity"),
    ("epoch", _set("rng", "state", "state", -1), "rng: Python integer -1 out of bounds"),
    ("epoch", _set("config", "label_smoothing", 5.0), "label_smoothing=5.0"),
    ("epoch", _set("config", "crop_padding", 3000),
     "crop_padding 3000 is wider than the 28x28 images; at most 28"),
    ("epoch", _set("config", "epochs", 3), "scheduler.total_steps: 6, but this run's settings"),
    ("epoch", _set("config", "batch_size", 10**9), "settings are malformed: batch_size=1000000000"),
    ("epoch", _set("config", "model_options", {"modern": "x"}),
     "model lenet5: option 'modern' is a switch: expected True or False, got 'x'"),
    ("epoch", _set("epoch", -4), "epoch: expected an integer >= 0, got -4"),
    ("epoch", _set("epoch", "1"), "epoch: expected an integer >= 0, got '1'"),
    ("epoch", _set("epoch", 2), "history: expected a list of one record per completed epoch"),
    ("epoch", lambda state: state.pop("rng"), "rng: missing from the checkpoint"),
    ("batch", _set("partial_epoch", "batches", -2), "partial_epoch.batches: expected an integer"),
    ("batch", _set("partial_epoch", "batches", 3),
     re.compile(r"partial_epoch.batches: .*in \[1, 2\]")),
    ("batch", _set("partial_epoch", "images", -32), "partial_epoch.images: expected an integer"),
    ("batch", _set("partial_epoch", "correct", 33),
     re.compile(r"partial_epoch.correct: .* \[0, 32\]")),
    ("batch", _set("partial_epoch", "loss_sum", "1.5"), "partial_epoch.loss_sum: expected a"),
    ("batch", _set("loader", "batch", 2), re.compile("loader: .* does not continue this run")),
]


@pytest.mark.parametrize("which, change, message", VARIANTS,
                         ids=[str(i) for i in range(len(VARIANTS))])
def test_a_crafted_field_is_one_line_naming_it(checkpoints, tmp_path, capsys, which, change,
                                               message):
    state = load_checkpoint(checkpoints[which])
    change(state)
    save_checkpoint(tmp_path / "last.npz", state)
    status, out, err = run(capsys, "train", "--resume", str(tmp_path / "last.npz"),
                           "--no-plots")
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, (status, out, err)
    found = message.search(lines[0]) if isinstance(message, re.Pattern) else message in lines[0]
    assert found and (str(tmp_path / "last.npz") in lines[0] or "crop_padding" in message
                      or "model lenet5" in message), lines[0]
    assert not (tmp_path / "log.json").exists()      # refused before any training


@pytest.mark.parametrize("which", ["epoch", "batch"])
def test_the_untouched_checkpoints_resume(checkpoints, tmp_path, capsys, which):
    state = load_checkpoint(checkpoints[which])
    save_checkpoint(tmp_path / "last.npz", state)
    status, out, err = run(capsys, "train", "--resume", str(tmp_path / "last.npz"), "--no-plots")
    assert status == 0, err
    assert out.splitlines()[-1].startswith("test accuracy: ")


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    ["--optimizer", "adam", "--schedule", "cosine"],
    ["--optimizer", "adamw", "--schedule", "multistep"],
    ["--optimizer", "rmsprop", "--schedule", "step", "--step-size", "1"],
    ["--optimizer", "sgd", "--schedule", "none", "--momentum", "0"],
])
def test_every_optimizer_and_schedule_resumes_inside_and_after_an_epoch(tmp_path, capsys,
                                                                        monkeypatch, options):
    for inside_epoch in (False, True):
        folder = tmp_path / str(inside_epoch)
        stopped_run(folder, monkeypatch, capsys, *options, inside_epoch=inside_epoch)
        status, _, err = run(capsys, "train", "--resume", "--out", str(folder))
        assert status == 0, err


def test_eval_of_a_5000_digit_integer_in_the_metadata_is_one_line(checkpoints, tmp_path,
                                                                  capsys):
    path = tmp_path / "digits.npz"
    with zipfile.ZipFile(checkpoints["epoch"]) as source, zipfile.ZipFile(path, "w") as copy:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "__meta__.npy":
                header_end = data.index(b"\n") + 1
                meta = json.loads(data[header_end:].decode())
                text = json.dumps(meta).replace('"epoch": 1', '"epoch": ' + "9" * 5000, 1)
                array = np.frombuffer(text.encode(), np.uint8)
                with copy.open(info.filename, "w") as file:
                    np.lib.format.write_array(file, array)
            else:
                copy.writestr(info, data)
    status, _, err = run(capsys, "eval", str(path))
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and "digits" in lines[0]


@pytest.mark.parametrize("dtype", [[("a", "<f4")], "<U3"], ids=["structured", "string"])
def test_a_tensor_entry_of_a_structured_dtype_is_one_line_naming_it(checkpoints, tmp_path,
                                                                    capsys, dtype):
    """The metadata says Tensor, the .npy entry holds records or strings."""
    path = tmp_path / "last.npz"
    with zipfile.ZipFile(checkpoints["epoch"]) as source, zipfile.ZipFile(path, "w") as copy:
        for info in source.infolist():
            if info.filename == "model/features.0.bias.npy":
                with copy.open(info.filename, "w") as file:
                    np.lib.format.write_array(file, np.zeros(6, dtype))
            else:
                copy.writestr(info, source.read(info))
    status, _, err = run(capsys, "train", "--resume", str(path), "--no-plots")
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and "entry 'model/features.0.bias' is a tensor of dtype" \
        in lines[0], lines[0]


def test_the_optimizer_refuses_what_its_constructor_refuses_and_non_finite_values():
    param = mc.tensor(np.zeros(3), requires_grad=True)
    for optimizer in (mc.optim.SGD([param], lr=0.1, momentum=0.9), mc.optim.AdamW([param]),
                      mc.optim.RMSprop([param])):
        for name, value, error, message in [
                ("lr", -5, ValueError, "param_groups[0]: Invalid lr value: -5"),
                ("lr", float("nan"), TypeError, "param_groups[0].lr must be a finite number"),
                ("lr", "0.1", TypeError, "param_groups[0].lr must be a finite number"),
                ("weight_decay", float("inf"), TypeError, "weight_decay must be a finite")]:
            state = optimizer.state_dict()
            state["param_groups"][0][name] = value
            with pytest.raises(error, match=re.escape(message)):
                optimizer.load_state_dict(state)
    adam = mc.optim.Adam([param])
    state = adam.state_dict()
    state["param_groups"][0]["betas"] = (0.9, 1.5)
    with pytest.raises(ValueError, match=re.escape("Invalid betas[1] value: 1.5")):
        adam.load_state_dict(state)


def test_the_schedule_and_the_loader_refuse_a_state_of_another_shape():
    param = mc.tensor(np.zeros(3), requires_grad=True)
    schedule = mc.optim.lr_scheduler.StepLR(mc.optim.SGD([param], lr=0.1), 2)
    for change, message in [({"last_epoch": "3"}, "last_epoch: expected an integer"),
                            ({"base_lrs": [0.1, 0.2]}, "base_lrs: expected a list of 1"),
                            ({"base_lrs": [-1.0]}, "learning rates must be finite and >= 0"),
                            ({"gamma": float("nan")}, "gamma: expected a number")]:
        with pytest.raises((TypeError, ValueError), match=re.escape(message)):
            schedule.load_state_dict({**schedule.state_dict(), **change})
    loader = mc.data.DataLoader(mc.data.ArrayDataset(np.zeros((10, 1, 2, 2), np.float32),
                                                     np.zeros(10, np.int64)), batch_size=4)
    for state in ({"seed": 0, "epoch": 0, "batch": 3}, {"seed": -1, "epoch": 0, "batch": 0},
                  {"seed": 0, "epoch": "1", "batch": 0}, {"seed": 0, "epoch": 0}):
        with pytest.raises(ValueError, match="loader state"):
            loader.load_state_dict(state)
    loader.load_state_dict({"seed": 5, "epoch": 2, "batch": 2})
    assert loader.state_dict() == {"seed": 5, "epoch": 2, "batch": 2}
