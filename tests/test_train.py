"""The Trainer: exact resume, divergence stops the run, logs and checkpoints, progress output,
and the main job's default recipe learns."""

import io
import json
import os
import signal

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.data import ArrayDataset, DataLoader, transforms
from minicnn.train import ProgressBar, Trainer, TrainingDiverged, TrainingInterrupted
from minicnn.utils.checkpoint import load_checkpoint


def tiny_data(n=96, seed=0):
    """Two classes of 1x6x6 images told apart by which half is brighter."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    images = rng.integers(0, 120, size=(n, 1, 6, 6))
    images[labels == 1, :, :, 3:] += 120
    images[labels == 0, :, :, :3] += 120
    return images.astype(np.uint8), labels


def build(out_dir, seed=0, lr=0.1):
    """A fresh model, augmenting shuffled loader, optimizer and schedule, all seeded: dropout
    draws from minicnn's generator, the loader from its own seed."""
    mc.manual_seed(seed)
    images, labels = tiny_data()
    augment = transforms.Compose([transforms.RandomCrop(6, padding=1),
                                  transforms.RandomHorizontalFlip()])
    train = DataLoader(ArrayDataset(images[:64], labels[:64], transform=augment), batch_size=16,
                       shuffle=True, seed=7)
    test = DataLoader(ArrayDataset(images[64:], labels[64:]), batch_size=32)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 2))
    optimizer = mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    scheduler = mc.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return Trainer(model, train, test, optimizer, scheduler, out_dir=out_dir, plots=False,
                   stream=io.StringIO(), out=io.StringIO())


def weights(trainer):
    return [param.numpy().copy() for param in trainer.model.parameters()]


def test_resumed_run_ends_with_the_same_weights_bit_for_bit(tmp_path):
    straight = build(tmp_path / "straight")
    straight.fit(3)

    first = build(tmp_path / "interrupted")
    first.fit(1)
    del first
    resumed = build(tmp_path / "interrupted", seed=12345)   # other seed: the checkpoint decides
    assert resumed.resume(tmp_path / "interrupted" / "last.npz") == 1
    resumed.fit(3)

    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    # and the run is not trivially repeatable: another loader seed changes the weights
    other = build(tmp_path / "other")
    other.train_loader.seed = 8
    other.fit(3)
    assert any((a != b).any() for a, b in zip(weights(straight), weights(other)))


def test_ctrl_c_inside_an_epoch_checkpoints_that_batch_and_resumes_exactly(tmp_path):
    straight = build(tmp_path / "straight")
    straight.fit(3)

    interrupted = build(tmp_path / "interrupted")
    real_step = interrupted.optimizer.step
    steps = []

    def step_then_ctrl_c():
        real_step()
        steps.append(1)
        if len(steps) == 6:                 # epoch 2 (of 4 batches), batch 2
            os.kill(os.getpid(), signal.SIGINT)

    interrupted.optimizer.step = step_then_ctrl_c
    handler_before = signal.getsignal(signal.SIGINT)   # SIG_IGN in a background job
    with pytest.raises(TrainingInterrupted, match="epoch 2, batch 2"):
        interrupted.fit(3)
    assert "stopping after this batch" in interrupted.stream.getvalue()
    assert signal.getsignal(signal.SIGINT) is handler_before
    saved = load_checkpoint(tmp_path / "interrupted" / "last.npz")
    assert saved["epoch"] == 1 and saved["partial_epoch"]["batches"] == 2
    assert saved["loader"] == {"seed": 7, "epoch": 1, "batch": 2}

    resumed = build(tmp_path / "interrupted", seed=999)
    resumed.resume(tmp_path / "interrupted" / "last.npz")
    resumed.fit(3)
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(straight.history, resumed.history):
        assert (a["train_loss"], a["train_accuracy"], a["lr"], a["test_top1"]) == \
            (b["train_loss"], b["train_accuracy"], b["lr"], b["test_top1"])


def test_checkpoints_log_and_summary_lines(tmp_path):
    trainer = build(tmp_path)
    history = trainer.fit(2)
    assert [record["epoch"] for record in history] == [1, 2]
    for record in history:
        assert {"train_loss", "train_accuracy", "test_top1", "test_top5", "lr", "seconds",
                "images_per_second"} <= set(record)
        assert 0 <= record["test_top1"] <= record["test_top5"] <= 1
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["epochs"] == json.loads(json.dumps(history))
    last = load_checkpoint(tmp_path / "last.npz")
    assert last["epoch"] == 2 and last["loader"] == {"seed": 7, "epoch": 2, "batch": 0}
    best = load_checkpoint(tmp_path / "best.npz")
    assert best["epoch"] == max(history, key=lambda r: r["test_top1"])["epoch"]
    lines = trainer.out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2  train loss ")
    assert "top-1" in lines[1] and "top-5" in lines[1]
    progress = trainer.stream.getvalue()
    assert "\r" not in progress and "epoch 1 [" in progress and "img/s" in progress


@pytest.mark.filterwarnings("ignore:overflow")
def test_a_huge_learning_rate_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = build(tmp_path)
    trainer.fit(1)
    good = weights(trainer)
    for group in trainer.optimizer.param_groups:
        group["lr"] = 1e30
    with pytest.raises(TrainingDiverged, match=r"training diverged: .*(nan|inf).* at epoch 2"
                                               r".*last good checkpoint \(1 epochs\)"):
        trainer.fit(3)
    saved = load_checkpoint(tmp_path / "last.npz")
    assert saved["epoch"] == 1
    for param, name in zip(good, saved["model"]):
        np.testing.assert_array_equal(saved["model"][name].numpy(), param)
    assert len(json.loads((tmp_path / "log.json").read_text())["epochs"]) == 1


@pytest.mark.filterwarnings("ignore:overflow")
def test_a_diverging_first_epoch_says_no_checkpoint_was_written(tmp_path):
    trainer = build(tmp_path, lr=1e30)
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        trainer.fit(1)
    assert not (tmp_path / "last.npz").exists()


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_redraws_in_place_on_a_terminal():
    stream = FakeTerminal()
    bar = ProgressBar(3, "epoch 1", stream)
    bar.interval = 0.0
    for done in (1, 2, 3):
        bar.update(done, 10 * done, loss="0.5000")
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "3/3" in text and "loss 0.5000" in text and "img/s" in text and "ETA" in text


def test_plots_are_skipped_with_one_notice_without_matplotlib(tmp_path, monkeypatch):
    from minicnn.utils import plotting
    monkeypatch.setattr(plotting, "available", lambda: False)
    monkeypatch.setattr(plotting, "_notified", False)
    trainer = build(tmp_path)
    trainer.plots = True
    trainer.fit(1)
    trainer.save_plots()
    assert trainer.stream.getvalue().count("plots skipped: matplotlib is not installed") == 1
    assert not list(tmp_path.glob("*.png"))


def test_plots_are_written_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    trainer = build(tmp_path)
    trainer.model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(64, 2))
    trainer.optimizer = mc.optim.SGD(trainer.model.parameters(), lr=0.1)
    trainer.scheduler = None
    trainer.plots = True
    trainer.fit(2)
    for name in ("loss", "accuracy", "confusion", "filters"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_default_recipe_learns_on_a_slice_of_the_embedded_data(tmp_path):
    from minicnn import cli
    config = {**cli.TRAIN_DEFAULTS, "train_subset": 2000, "test_subset": 500, "epochs": 2}
    trainer = cli.build_run(config, out_dir=None, plots=False)
    trainer.stream, trainer.out = io.StringIO(), io.StringIO()
    trainer.fit(config["epochs"])
    assert trainer.history[-1]["test_top1"] > 0.5       # chance is 0.1


@pytest.mark.slow
def test_the_main_job_reaches_85_percent(tmp_path, capsys):
    from minicnn import cli
    assert cli.main(["train", "--out", str(tmp_path), "--no-plots"]) == 0
    last_line = capsys.readouterr().out.splitlines()[-1]
    assert float(last_line.removeprefix("test accuracy: ").rstrip("%")) >= 85.0
