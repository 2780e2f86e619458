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
from minicnn.utils.checkpoint import load_checkpoint, save_checkpoint


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
                                               r".*last good checkpoint \(1 epoch\)"):
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


def test_eval_every_evaluates_every_nth_epoch_and_the_last_and_keeps_the_best_of_those(
        tmp_path):
    trainer = build(tmp_path)
    trainer.eval_every = 2
    history = trainer.fit(5)
    assert [record["epoch"] for record in history if "test_top1" in record] == [2, 4, 5]
    assert not {"test_loss", "test_top1", "test_top5"} & (set(history[0]) | set(history[2]))
    best = load_checkpoint(tmp_path / "best.npz")
    assert best["epoch"] == max((r for r in history if "test_top1" in r),
                                key=lambda r: r["test_top1"])["epoch"]
    assert trainer.missing_files() == []
    lines = trainer.out.getvalue().splitlines()
    assert "top-1" not in lines[0] and "top-1" in lines[1] and "top-1" in lines[4]


def test_a_run_resumed_between_evaluations_trains_as_the_whole_run_and_evaluates_its_ends(
        tmp_path):
    whole = build(tmp_path / "whole")
    whole.eval_every = 3
    whole.fit(5)
    first = build(tmp_path / "split")
    first.eval_every = 3
    first.fit(2)
    second = build(tmp_path / "split")
    second.eval_every = 3
    second.resume(tmp_path / "split" / "last.npz")
    second.fit(5)
    trained = ("epoch", "lr", "train_loss", "train_accuracy")
    assert [[record[key] for key in trained] for record in second.history] == \
        [[record[key] for key in trained] for record in whole.history]
    # each fit evaluates its last epoch: the first one's (2) too
    assert [record["epoch"] for record in whole.history if "test_top1" in record] == [3, 5]
    assert [record["epoch"] for record in second.history if "test_top1" in record] == [2, 3, 5]
    assert all(np.array_equal(a, b) for a, b in zip(weights(second), weights(whole)))


@pytest.mark.parametrize("eval_every, error", [(0, ValueError), (-1, ValueError),
                                               (1.5, TypeError), (True, TypeError),
                                               ("2", TypeError)])
def test_eval_every_other_than_a_positive_int_is_named(tmp_path, eval_every, error):
    trainer = build(tmp_path)
    with pytest.raises(error, match="Trainer: eval_every must be an int"):
        Trainer(trainer.model, trainer.train_loader, trainer.test_loader, trainer.optimizer,
                eval_every=eval_every)


def test_the_accuracy_plot_draws_the_test_curve_at_the_evaluated_epochs(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from minicnn.utils import plotting
    figures = {}
    monkeypatch.setattr(plotting, "save_png",
                        lambda figure, path: figures.setdefault(os.path.basename(path), figure))
    history = [{"epoch": epoch, "train_loss": 1.0 / epoch, "train_accuracy": 0.1 * epoch}
               for epoch in range(1, 5)]
    for record in history[1::2]:
        record.update(test_loss=0.5 / record["epoch"], test_top1=0.09 * record["epoch"])
    plotting.plot_history(history, str(tmp_path))
    train, test = figures["accuracy.png"].axes[0].get_lines()
    assert list(train.get_xdata()) == [1, 2, 3, 4]
    assert list(test.get_xdata()) == [2, 4]
    assert list(test.get_ydata()) == pytest.approx([18, 36])


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
    assert f"plots: loss.png, accuracy.png, confusion.png, filters.png in {tmp_path}" in \
        trainer.stream.getvalue()


def test_plots_have_titles_and_one_epoch_sits_on_an_integer_axis(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from minicnn.utils import plotting
    figures = {}
    monkeypatch.setattr(plotting, "save_png",
                        lambda figure, path: figures.setdefault(os.path.basename(path), figure))
    history = [{"epoch": 1, "train_loss": 0.9, "train_accuracy": 0.6, "test_loss": 0.8,
                "test_top1": 0.7}]
    plotting.plot_history(history, str(tmp_path), "lenet5 on mnist")
    plotting.plot_confusion_matrix(np.eye(3, dtype=int), str(tmp_path / "confusion.png"))
    plotting.plot_filters(np.ones((6, 1, 5, 5)), str(tmp_path / "filters.png"))
    loss = figures["loss.png"].axes[0]
    assert loss.get_title() == "lenet5 on mnist: cross-entropy loss per epoch"
    assert figures["accuracy.png"].axes[0].get_title() == \
        "lenet5 on mnist: top-1 accuracy per epoch"
    assert loss.get_xlim() == (0, 2)
    assert [tick for tick in loss.get_xticks() if 0 <= tick <= 2] == [0, 1, 2]
    assert figures["confusion.png"].axes[0].get_title() == "confusion matrix"
    assert figures["filters.png"].axes[0].get_title() == "6 first-layer filters, 1 x 5 x 5"


def test_checkpoints_log_and_plots_get_the_umasks_mode(tmp_path):
    pytest.importorskip("matplotlib")
    previous = os.umask(0o027)
    try:
        trainer = build(tmp_path)
        trainer.plots = True
        trainer.fit(1)
    finally:
        os.umask(previous)
    for name in ("last.npz", "best.npz", "log.json", "loss.png", "confusion.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_last_npz_is_written_after_best_and_log(tmp_path, monkeypatch):
    import minicnn.train as train_module
    written = []
    real_save, real_write = train_module.save_checkpoint, train_module.atomic_write
    monkeypatch.setattr(train_module, "save_checkpoint", lambda path, state: (
        written.append(os.path.basename(path)), real_save(path, state)))
    monkeypatch.setattr(train_module, "atomic_write", lambda path, write: (
        written.append(os.path.basename(path)), real_write(path, write)))
    build(tmp_path).fit(1)
    assert written == ["best.npz", "log.json", "last.npz"]


def test_a_run_killed_between_its_files_resumes_to_the_complete_run(tmp_path, monkeypatch):
    import minicnn.train as train_module
    straight = build(tmp_path / "straight")
    straight.fit(2)

    real_save = train_module.save_checkpoint

    def killed_at_epoch_2(path, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt("killed")
        real_save(path, state)

    killed = build(tmp_path / "killed")
    monkeypatch.setattr(train_module, "save_checkpoint", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(2)
    monkeypatch.undo()
    resumed = build(tmp_path / "killed", seed=5)
    assert resumed.resume(tmp_path / "killed" / "last.npz") == 1
    resumed.fit(2)
    for name in ("last.npz", "best.npz"):
        expected = load_checkpoint(tmp_path / "straight" / name)["model"]
        for key, value in load_checkpoint(tmp_path / "killed" / name)["model"].items():
            np.testing.assert_array_equal(value.numpy(), expected[key].numpy())
    assert len(json.loads((tmp_path / "killed" / "log.json").read_text())["epochs"]) == 2


def test_fit_completes_a_finished_run_that_lacks_best_and_log(tmp_path):
    """What a kill between last.npz and the other files left, when last.npz came first."""
    build(tmp_path).fit(2)
    state = load_checkpoint(tmp_path / "last.npz")
    state["best_metric"] = state["history"][-1]["test_top1"]     # the last epoch is the best
    save_checkpoint(tmp_path / "last.npz", state)
    (tmp_path / "best.npz").unlink()
    (tmp_path / "log.json").unlink()
    resumed = build(tmp_path)
    resumed.resume(tmp_path / "last.npz")
    assert resumed.missing_files() == ["best.npz", "log.json"]
    resumed.fit(2)
    assert resumed.missing_files() == []
    assert load_checkpoint(tmp_path / "best.npz")["epoch"] == 2
    assert len(json.loads((tmp_path / "log.json").read_text())["epochs"]) == 2


def test_part_written_temporary_files_are_removed_at_start_and_on_resume(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    leftovers = [".last.npz.1a2b3c4d.tmp", ".log.json.00ff00ff.tmp", ".loss.png.12345678.tmp"]
    for name in leftovers + [".notes.tmp", "mine.tmp"]:
        (tmp_path / name).write_bytes(b"partial")
    build(tmp_path).fit(1)
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == [".notes.tmp", "mine.tmp"]
    for name in leftovers:
        (tmp_path / name).write_bytes(b"partial")
    resumed = build(tmp_path)
    resumed.resume(tmp_path / "last.npz")
    resumed.fit(2)
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == [".notes.tmp", "mine.tmp"]


def test_a_new_run_never_overwrites_a_run_in_its_folder(tmp_path):
    from minicnn.train import unused_run_folder
    build(tmp_path / "run").fit(1)
    before = (tmp_path / "run" / "best.npz").read_bytes()
    with pytest.raises(FileExistsError, match=r"run holds a run \(last.npz, best.npz, log.json\)"
                                              r".*resume it"):
        build(tmp_path / "run").fit(1)
    assert (tmp_path / "run" / "best.npz").read_bytes() == before
    assert unused_run_folder(str(tmp_path / "run")) == str(tmp_path / "run") + "-1"
    build(tmp_path / "run-1").fit(1)
    assert unused_run_folder(str(tmp_path / "run")) == str(tmp_path / "run") + "-2"
    assert unused_run_folder(str(tmp_path / "other")) == str(tmp_path / "other")


def test_the_default_recipe_learns_on_a_slice_of_the_embedded_data(tmp_path):
    from minicnn import recipes
    config = {**recipes.TRAIN_DEFAULTS, "train_subset": 2000, "test_subset": 500, "epochs": 2}
    trainer = recipes.build_run(config, out_dir=None, plots=False)
    trainer.stream, trainer.out = io.StringIO(), io.StringIO()
    trainer.fit(config["epochs"])
    assert trainer.history[-1]["test_top1"] > 0.5       # chance is 0.1


@pytest.mark.slow
def test_the_main_job_reaches_85_percent(tmp_path, capsys):
    from minicnn import cli
    assert cli.main(["train", "--out", str(tmp_path), "--no-plots"]) == 0
    last_line = capsys.readouterr().out.splitlines()[-1]
    assert float(last_line.removeprefix("test accuracy: ").rstrip("%")) >= 85.0
