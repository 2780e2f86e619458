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


# ----------------------------------------------------------------------------- hardening

def one_line(err):
    """The stderr of a refused command: exactly one line, no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_prints_its_header_with_the_epoch_lines_on_stdout(tmp_path, capsys):
    status, out, err = run(capsys, "train", "--epochs", "1", "--out", str(tmp_path), *TINY)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("training lenet5 on fashion-mnist-embedded for 1 epoch (")
    assert lines[1].startswith("epoch 1/1") and lines[-1].startswith("test accuracy")
    assert "1 epochs" not in out + err


def test_a_second_train_never_overwrites_the_first(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "runs" / "lenet5-fashion-mnist-embedded"
    assert run(capsys, "train", "--epochs", "1", *TINY)[0] == 0
    best = (first / "best.npz").read_bytes()
    status, out, _ = run(capsys, "train", "--epochs", "1", "--seed", "3", *TINY)
    assert status == 0 and "checkpoints in runs/lenet5-fashion-mnist-embedded-1" in out
    assert (first / "best.npz").read_bytes() == best
    assert (tmp_path / "runs" / "lenet5-fashion-mnist-embedded-1" / "best.npz").is_file()
    status, _, err = run(capsys, "train", "--epochs", "1", "--out", str(first), *TINY)
    assert status == 2
    assert re.search(r"--out \S+ holds a run \(last.npz, best.npz, log.json\); continue it "
                     r"with --resume --out", one_line(err))
    assert (first / "best.npz").read_bytes() == best


def test_resume_finishes_a_finished_run_that_lacks_best_and_log(tmp_path, capsys):
    assert run(capsys, "train", "--epochs", "1", "--out", str(tmp_path), *TINY)[0] == 0
    (tmp_path / "best.npz").unlink()
    (tmp_path / "log.json").unlink()
    (tmp_path / ".last.npz.0badf00d.tmp").write_bytes(b"PK\x03\x04")
    status, out, _ = run(capsys, "train", "--resume", "--out", str(tmp_path), "--no-plots")
    assert status == 0, out
    assert "the run is finished but lacks best.npz, log.json; writing them" in out
    assert out.splitlines()[-1].startswith("test accuracy: ")
    assert (tmp_path / "best.npz").is_file() and (tmp_path / "log.json").is_file()
    assert not list(tmp_path.glob("*.tmp"))
    status, _, err = run(capsys, "train", "--resume", "--out", str(tmp_path))
    assert status == 2 and "the run already has 1 epoch;" in one_line(err)


def crafted(folder, source, change):
    """A copy of the checkpoint ``source`` with ``change(state)`` applied, in ``folder``."""
    state = load_checkpoint(source)
    change(state)
    path = folder / "crafted.npz"
    mc.utils.checkpoint.save_checkpoint(path, state)
    return path


def _set(path, value):
    def change(state):
        *parents, key = path
        node = state
        for parent in parents:
            node = node[parent]
        node[key] = value
    return change


@pytest.mark.parametrize("change, message", [
    (lambda state: state.pop("model"), "lacks its model weights"),
    (_set(["config"], [1, 2]), "has no training configuration"),
    (_set(["config", "data"], ["cifar10"]), r"settings are malformed: data=\['cifar10'\]"),
    (_set(["config", "model_options"], "modern"), "model_options='modern'"),
    (_set(["config", "test_subset"], -5), "test_subset=-5"),
    (_set(["config", "model"], "no_such_net"), "model='no_such_net'"),
    (_set(["model", "features.0.weight"], np.zeros((1, 1, 1, 1), np.float32)),
     r"its weights do not fit model lenet5: size mismatch for features.0.weight"),
    (_set(["model", "features.0.weight"], np.array(["a"] * 150).reshape(6, 1, 5, 5)),
     "its weights do not fit model lenet5"),
    (_set(["config", "data"], "cifar10"), "the data path stored in the checkpoint, None"),
])
def test_eval_of_a_crafted_checkpoint_is_one_line_naming_the_file(two_runs, tmp_path, capsys,
                                                                 change, message):
    if message.startswith("the data path"):
        change = _set(["config"], {**load_checkpoint(two_runs[0] / "last.npz")["config"],
                                   "data": "cifar10", "data_path": "/no/such/cifar"})
        message = "the data path stored in the checkpoint, /no/such/cifar, does not exist"
    path = crafted(tmp_path, two_runs[0] / "last.npz", change)
    status, _, err = run(capsys, "eval", str(path))
    assert status == 2
    line = one_line(err)
    assert str(path) in line and re.search(message, line), line


def test_eval_of_metadata_nested_100000_deep_is_one_line(tmp_path, capsys):
    meta = '{"format": "minicnn-checkpoint", "version": 1, "tree": ' + "[" * 100000 + \
        "]" * 100000 + "}"
    np.savez(tmp_path / "deep.npz", __meta__=np.frombuffer(meta.encode(), np.uint8))
    status, _, err = run(capsys, "eval", str(tmp_path / "deep.npz"))
    assert status == 2 and "deep.npz" in one_line(err) and "nests deeper" in err


def test_eval_shows_the_stored_data_path_it_uses(two_runs, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    path = crafted(tmp_path, two_runs[0] / "last.npz", _set(["config"], {
        **load_checkpoint(two_runs[0] / "last.npz")["config"], "data": "fashion-mnist",
        "data_path": str(folder)}))
    status, _, err = run(capsys, "eval", str(path))
    assert status == 2
    assert f"{path}: data from {folder} (stored in the checkpoint)" in err
    assert f"cannot read fashion-mnist from {folder}" in err


def test_eval_warns_about_nan_weights_and_flips_never_trained_on(two_runs, tmp_path, capsys):
    weights = load_checkpoint(two_runs[0] / "last.npz")["model"]["features.0.weight"].numpy()
    weights[0, 0, 0, :2] = [np.nan, np.inf]
    path = crafted(tmp_path, two_runs[0] / "last.npz",
                   _set(["model", "features.0.weight"], weights))
    status, _, err = run(capsys, "eval", str(path), "--tta", "flip")
    assert status == 0
    assert f"minicnn eval: warning: {path}: 2 of 61,706 weights are NaN or infinite" in err
    assert (f"minicnn eval: warning: --tta flip: {path} was trained without flipped images "
            "(augment: crop)") in err
    status, _, err = run(capsys, "eval", str(two_runs[0] / "last.npz"))
    assert status == 0 and "warning" not in err


def test_a_refused_pickle_is_one_line_with_exit_status_2(tmp_path, capsys):
    import pickle
    from test_datasets import cifar10_files, make_cifar
    files = cifar10_files("python", make_cifar(10, np.random.default_rng(0)))
    files["cifar-10-batches-py/test_batch"] = pickle.dumps({"data": print}, protocol=2)
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    status, _, err = run(capsys, "train", "--model", "resnet20", "--data", "cifar10",
                         "--data-path", str(tmp_path), "--out", str(tmp_path / "run"))
    assert status == 2
    assert re.search(r"test_batch: refusing to unpickle the global '(__builtin__|builtins).print'",
                     one_line(err))


def custom_types(parser):
    """(option, type function) of every option of every subcommand typed by minicnn.cli."""
    from minicnn import cli
    for action in parser._actions:
        if getattr(action.type, "__module__", None) == cli.__name__ and action.option_strings:
            yield action.option_strings[0], action.type
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict):
                yield from custom_types(action.choices[sub])


def test_a_bad_number_names_the_option_not_an_internal_function(capsys):
    from minicnn import cli
    checked = 0
    for option, function in custom_types(cli.build_parser()):
        message = None
        try:
            function("abc")
        except Exception as error:  # noqa: BLE001
            message = str(error)
            assert type(error).__name__ == "ArgumentTypeError", (option, error)
        assert message is None or function.__name__ not in message
        checked += 1
    assert checked >= 10
    with pytest.raises(SystemExit):
        main(["train", "--lr", "abc"])
    err = capsys.readouterr().err
    assert "argument --lr: expected a number >= 0, got 'abc'" in err
    assert "_non_negative_float" not in err


def test_readme_counts_the_models_that_minicnn_models_lists():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    count = int(re.search(r"`minicnn models` lists the (\d+) models", readme).group(1))
    assert count == len(mc.models.names())
