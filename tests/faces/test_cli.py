"""The `minicnn` command: help, gradcheck, a tiny train / resume / eval cycle, clear errors."""

import re

import numpy as np
import pytest

import minicnn as mc
from minicnn.autograd import Function
from minicnn.cli import main
from minicnn.utils.checkpoint import load_checkpoint

TINY = ["--train-subset", "512", "--test-subset", "200", "--batch-size", "32", "--no-plots"]


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("argv", [[], ["train"], ["eval"], ["summary"], ["gradcheck"],
                                  ["gradcheck", "conv2d"], ["gradcheck", "batchnorm2d"],
                                  ["models"], ["info"]])
def test_every_command_has_help(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: minicnn")


@pytest.mark.parametrize("argv", [
    ["conv2d", "--in-channels", "2", "--out-channels", "3", "--kernel-size", "3", "--stride", "2",
     "--padding", "1"],
    ["conv2d", "--in-channels", "4", "--out-channels", "2", "--groups", "2", "--dilation", "2",
     "--no-bias"],
    ["maxpool2d", "--kernel-size", "3", "--stride", "2", "--padding", "1", "--ceil-mode"],
    ["avgpool2d", "--no-count-include-pad", "--padding", "1"],
    ["batchnorm2d"],
    ["lrn", "--size", "3", "--alpha", "0.5"],
    ["linear"],
    ["relu"],
    ["cross_entropy", "--label-smoothing", "0.1"],
])
def test_gradcheck_passes_for_the_layers(capsys, argv):
    status, out, _ = run(capsys, "gradcheck", *argv)
    assert status == 0, out
    lines = out.splitlines()
    assert lines[-1].startswith("passed")
    errors = [float(m) for m in re.findall(r"relative error (\S+) over", out)]
    assert errors and max(errors) < 1e-5


class WrongReLU(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return np.maximum(x, 0)

    def backward(self, grad_y):
        x, = self.saved
        return grad_y * (x > 0) * 1.01      # 1% off


def test_gradcheck_reports_a_wrong_backward_with_exit_status_1(capsys, monkeypatch):
    monkeypatch.setattr(mc.nn.functional, "relu", lambda x: WrongReLU.apply(x))
    status, out, _ = run(capsys, "gradcheck", "relu")
    assert status == 1
    assert "FAILED" in out and "numeric" in out


def test_gradcheck_with_impossible_hyperparameters_is_a_usage_error(capsys):
    status, _, err = run(capsys, "gradcheck", "conv2d", "--kernel-size", "9")
    assert status == 2 and "error:" in err and "too small" in err


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two tiny LeNet-5 runs on the embedded data (1 epoch, seeds 0 and 1)."""
    folder = tmp_path_factory.mktemp("runs")
    outputs = []
    for seed in (0, 1):
        status = main(["train", "--epochs", "1", "--seed", str(seed), "--schedule", "none",
                       "--out", str(folder / f"seed{seed}")] + TINY)
        assert status == 0
        outputs.append(folder / f"seed{seed}")
    return outputs


def test_train_ends_with_the_test_accuracy_line(tmp_path, capsys):
    status, out, err = run(capsys, "train", "--epochs", "1", "--out", str(tmp_path), *TINY)
    assert status == 0
    lines = out.splitlines()
    assert re.fullmatch(r"test accuracy: \d{1,3}\.\d\d%", lines[-1])
    assert sum(line.startswith("test accuracy") for line in lines) == 1
    assert "epoch 1 [" in err                    # the progress bar, on stderr
    for name in ("last.npz", "best.npz", "log.json"):
        assert (tmp_path / name).is_file()
    config = load_checkpoint(tmp_path / "last.npz")["config"]
    assert config["model"] == "lenet5" and config["data"] == "fashion-mnist-embedded"


def test_resume_continues_and_refuses_changed_settings(tmp_path, capsys):
    run(capsys, "train", "--epochs", "1", "--out", str(tmp_path / "onecycle"), *TINY)
    status, _, err = run(capsys, "train", "--resume", str(tmp_path / "onecycle" / "last.npz"),
                         "--lr", "0.5")
    assert status == 2 and "--lr 0.5" in err
    status, _, err = run(capsys, "train", "--resume", str(tmp_path / "onecycle" / "last.npz"),
                         "--epochs", "2")
    assert status == 2 and "laid out for 1 epoch;" in err
    run(capsys, "train", "--epochs", "1", "--schedule", "step", "--out", str(tmp_path), *TINY)
    status, out, err = run(capsys, "train", "--resume", "--out", str(tmp_path), "--epochs", "2")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("resumed from") and lines[1].startswith("training lenet5")
    assert lines[2].startswith("epoch 2/2")
    assert load_checkpoint(tmp_path / "last.npz")["epoch"] == 2


def test_eval_single_tta_and_ensemble(two_runs, capsys):
    first, second = (str(folder / "last.npz") for folder in two_runs)
    status, out, _ = run(capsys, "eval", first)
    assert status == 0
    assert "200 test images" in out and "top-1 error" in out and "top-5 error" in out
    assert "ensemble" not in out
    status, flipped, _ = run(capsys, "eval", first, second, "--tta", "flip")
    assert status == 0 and "flip test-time augmentation" in flipped
    rows = [line for line in flipped.splitlines() if line.rstrip().endswith("%")]
    assert len(rows) == 3 and rows[-1].startswith("ensemble of 2")
    for row in rows:
        top1, top5 = (float(v) for v in re.findall(r"([\d.]+)%", row))
        assert 0 <= top5 <= top1 <= 100


def test_clear_errors_for_bad_models_data_and_checkpoints(tmp_path, capsys):
    status, _, err = run(capsys, "train", "--model", "no_such_net")
    assert status == 2 and "unknown model 'no_such_net'" in err
    status, _, err = run(capsys, "train", "--data", "cifar10")
    assert status == 2 and "--data-path" in err
    status, _, err = run(capsys, "train", "--data", "cifar10", "--data-path",
                         str(tmp_path / "missing"))
    assert status == 2 and "no such file" in err
    status, _, err = run(capsys, "eval", str(tmp_path / "missing.npz"))
    assert status == 2 and "does not exist" in err
    np.savez(tmp_path / "plain.npz", x=np.zeros(2))
    status, _, err = run(capsys, "eval", str(tmp_path / "plain.npz"))
    assert status == 2 and "not a minicnn checkpoint" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "0"])
    assert exit_info.value.code == 2


@pytest.mark.filterwarnings("ignore:overflow", "ignore:invalid value")
def test_a_diverging_run_exits_with_status_1_and_says_why(tmp_path, capsys):
    status, out, err = run(capsys, "train", "--epochs", "1", "--lr", "1e30", "--schedule", "none",
                           "--out", str(tmp_path), *TINY)
    assert status == 1
    assert "training diverged" in err and "smaller learning rate" in err
    assert "test accuracy" not in out


def test_models_lists_the_zoo(capsys):
    status, out, _ = run(capsys, "models")
    assert status == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == mc.models.names() and "lenet5" in names and "resnet20" in names


def test_summary_prints_the_parameter_count(capsys):
    status, out, _ = run(capsys, "summary", "lenet5")
    assert status == 0 and "61,706" in out
    status, out, _ = run(capsys, "summary", "resnet20", "--input", "3x32x32")
    assert status == 0 and "269,722" in out    # ResNet-20, identity shortcuts: 0.27M (He et al.)
    status, _, err = run(capsys, "summary", "no_such_net")
    assert status == 2 and "unknown model" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "lenet5", "--input", "28x28"])
    assert exit_info.value.code == 2


def test_info_names_the_kernel_sets(capsys):
    status, out, _ = run(capsys, "info")
    assert status == 0 and "numpy" in out and "BLAS" in out


def test_info_trace_lists_the_kernel_set_of_each_op(capsys):
    with mc.backend("numpy"):
        status, out, _ = run(capsys, "info", "--trace", "lenet5")
    assert status == 0 and "kernel sets of one training step of lenet5" in out
    assert "Conv2d                   numpy  x3" in out and "Linear" in out
    status, _, err = run(capsys, "info", "--trace", "no-such-net")
    assert status == 2 and "unknown model" in err
