"""The `minicnn` command on hostile or surprising input: crafted checkpoints and refused files
end in one line naming the file (exit status 2), runs are never overwritten, a finished run
missing files is completed, warnings are one line, and argument errors name the option."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main
from minicnn.utils.checkpoint import load_checkpoint
from test_cli import TINY, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The last.npz of a tiny LeNet-5 run on the embedded data (1 epoch, crop augmentation)."""
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "1", "--schedule", "none", "--out", str(folder)]
                + TINY) == 0
    return folder / "last.npz"


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


def test_resume_into_an_out_that_holds_another_run_is_refused_and_leaves_it(tmp_path, capsys,
                                                                             trained):
    other = tmp_path / "other"
    assert run(capsys, "train", "--epochs", "1", "--out", str(other), *TINY)[0] == 0
    before = {name: (other / name).read_bytes() for name in ("last.npz", "best.npz", "log.json")}
    status, _, err = run(capsys, "train", "--resume", str(trained), "--epochs", "2",
                         "--out", str(other))
    assert status == 2
    assert re.search(r"--out \S+ holds another run \(last.npz, best.npz, log.json\); --resume "
                     r"\S+last.npz would overwrite it", one_line(err))
    assert {name: (other / name).read_bytes() for name in before} == before
    # an --out that holds no run takes the continued run; the checkpoint's folder is untouched
    source = trained.read_bytes()
    status, out, _ = run(capsys, "train", "--resume", str(trained), "--epochs", "2",
                         "--out", str(tmp_path / "fresh"), "--no-plots")
    assert status == 0 and "resumed from" in out and "checkpoints in " + str(tmp_path) in out
    assert load_checkpoint(tmp_path / "fresh" / "last.npz")["epoch"] == 2
    assert trained.read_bytes() == source


def test_a_finished_run_whose_schedule_fixes_its_length_is_not_told_to_extend_it(tmp_path,
                                                                                capsys):
    assert run(capsys, "train", "--epochs", "1", "--out", str(tmp_path), *TINY)[0] == 0
    status, out, err = run(capsys, "train", "--resume", "--out", str(tmp_path))
    assert status == 2 and "resumed from" not in out
    assert one_line(err).endswith("the run is finished: it has 1 epoch of its onecycle "
                                  "schedule, which cannot be extended; start a new run to train "
                                  "longer")


def test_a_finished_run_without_a_laid_out_schedule_is_told_to_pass_epochs(trained, capsys):
    status, out, err = run(capsys, "train", "--resume", str(trained))
    assert status == 2 and "resumed from" not in out
    assert one_line(err).endswith("the run is finished: it has 1 epoch; pass --epochs N with "
                                  "N > 1 to continue it")


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
    assert status == 2 and ("the run is finished: it has 1 epoch of its onecycle schedule, "
                            "which cannot be extended; start a new run") in one_line(err)


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
    (lambda state: state["config"].update(data="cifar10", data_path="/no/such/cifar"),
     "the data path stored in the checkpoint, /no/such/cifar, does not exist"),
])
def test_eval_of_a_crafted_checkpoint_is_one_line_naming_the_file(trained, tmp_path, capsys,
                                                                 change, message):
    path = crafted(tmp_path, trained, change)
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


def test_eval_shows_the_stored_data_path_it_uses(trained, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    path = crafted(tmp_path, trained, _set(["config"], {
        **load_checkpoint(trained)["config"], "data": "fashion-mnist",
        "data_path": str(folder)}))
    status, _, err = run(capsys, "eval", str(path))
    assert status == 2
    assert f"{path}: data from {folder} (stored in the checkpoint)" in err
    assert f"cannot read fashion-mnist from {folder}" in err


def test_eval_warns_about_nan_weights_and_flips_never_trained_on(trained, tmp_path, capsys):
    weights = load_checkpoint(trained)["model"]["features.0.weight"].numpy()
    weights[0, 0, 0, :2] = [np.nan, np.inf]
    path = crafted(tmp_path, trained,
                   _set(["model", "features.0.weight"], weights))
    status, _, err = run(capsys, "eval", str(path), "--tta", "flip")
    assert status == 0
    assert f"minicnn eval: warning: {path}: 2 of 61,706 weights are NaN or infinite" in err
    assert (f"minicnn eval: warning: --tta flip: {path} was trained without flipped images "
            "(augment: crop)") in err
    status, _, err = run(capsys, "eval", str(trained))
    assert status == 0 and "warning" not in err
    # --tta none is train's spelling of no test-time augmentation, and the same numbers
    status, plain, err = run(capsys, "eval", str(trained), "--tta", "none")
    assert status == 0 and "warning" not in err and "no test-time augmentation" in plain
    assert plain == run(capsys, "eval", str(trained))[1]


def test_train_warns_about_flips_never_trained_on_and_options_its_optimizer_ignores(tmp_path,
                                                                                    capsys):
    status, _, err = run(capsys, "train", "--epochs", "1", "--augment", "crop", "--tta", "flip",
                         "--optimizer", "adam", "--momentum", "0.5", "--out", str(tmp_path),
                         *TINY)
    assert status == 0
    assert ("minicnn train: warning: --tta flip: the run trains without flipped images "
            "(augment: crop)") in err
    assert "minicnn train: warning: --momentum ignored: --optimizer adam does not use it" in err
    status, _, err = run(capsys, "train", "--epochs", "1", "--optimizer", "sgd", "--momentum",
                         "0.5", "--augment", "crop,flip", "--tta", "flip",
                         "--out", str(tmp_path / "b"), *TINY)
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
    assert "argument --lr: expected a finite number >= 0, got 'abc'" in err
    assert "_non_negative_float" not in err


def test_readme_counts_the_models_that_minicnn_models_lists():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    count = int(re.search(r"`minicnn models` lists the (\d+) models", readme).group(1))
    assert count == len(mc.models.names())


def test_cuda_without_a_gpu_is_one_line_before_any_run_folder(tmp_path, capsys, monkeypatch):
    from minicnn.backend import cuda
    monkeypatch.setattr(cuda, "unavailable_reason", lambda: "CuPy is not installed (pip ...)")
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "train", "--device", "cuda", *TINY)
    assert status == 2
    assert one_line(err) == "minicnn train: error: --device cuda: CuPy is not installed (pip ...)"
    status, _, err = run(capsys, "train", "--backend", "cuda", *TINY)
    assert status == 2 and "--backend cuda runs on GPU arrays; add --device cuda" in one_line(err)
    assert not (tmp_path / "runs").exists()
    status, _, err = run(capsys, "eval", "best.npz", "--backend", "cuda")
    assert status == 2 and "minicnn eval runs on the CPU" in one_line(err)


@pytest.mark.parametrize("value, argv, message", [
    ("bogus", ["info"], "minicnn info: error: MINICNN_BACKEND: backend must be one of ('numpy', "
                        "'c', 'cuda', 'auto'), got 'bogus'"),
    ("cuda", ["gradcheck", "relu"], "minicnn gradcheck: error: MINICNN_BACKEND=cuda runs on GPU "
                                    "arrays; minicnn gradcheck runs on the CPU: choose the "
                                    "backend numpy, c or auto"),
    ("cuda", ["summary", "lenet5"], "minicnn summary: error: MINICNN_BACKEND=cuda runs on GPU"),
    ("cuda", ["train", *TINY], "minicnn train: error: MINICNN_BACKEND=cuda runs on GPU arrays; "
                               "add --device cuda, or choose the backend numpy, c or auto"),
])
def test_a_bad_minicnn_backend_variable_is_one_line(value, argv, message, capsys, monkeypatch,
                                                     tmp_path):
    monkeypatch.setenv("MINICNN_BACKEND", value)
    monkeypatch.setattr(mc.backend.dispatch._selected, "name", None,
                        raising=False)                                     # read it again
    monkeypatch.setattr(mc.backend.dispatch, "_default", None)
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, *argv)
    assert status == 2 and one_line(err).startswith(message)


def test_commands_without_ops_ignore_a_cuda_backend(capsys, monkeypatch):
    monkeypatch.setattr(mc.backend.dispatch._selected, "name", "cuda", raising=False)
    for argv in (["models"], ["info"], ["show", "im2col"]):
        assert run(capsys, *argv)[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["summary", "lenet5", "--input", "3x32x32"],
     "lenet5 on a 3x32x32 input: conv2d: groups=1 and weight of shape (6, 1, 5, 5) expect input "
     "with 1 channels"),
    (["summary", "vgg16", "--input", "3x16x16"], "vgg16 on a 3x16x16 input: max_pool2d: input "
                                                 "of size 1x1 is too small"),
    (["gradcheck", "conv2d", "--groups", "3", "--in-channels", "2", "--out-channels", "4"],
     "--groups 3 must divide --in-channels 2 and --out-channels 4"),
    (["gradcheck", "cross_entropy", "--label-smoothing", "2"],
     "argument --label-smoothing: expected a number in [0, 1], got '2'"),
    (["train", "--label-smoothing", "1.5"],
     "argument --label-smoothing: expected a number in [0, 1], got '1.5'"),
    (["train", "--epochs", "9" * 401], "argument --epochs: expected a positive integer up to "
                                       "2,147,483,647, got '99999999999999999999'... (401 "
                                       "characters)"),
    (["train", "--batch-size", str(10**9)],
     "argument --batch-size: expected a positive integer up to 1,048,576, got '1000000000'"),
    (["train", "--lr", "inf"], "argument --lr: expected a finite number >= 0, got 'inf'"),
    (["train", "--lr", "nan"], "argument --lr: expected a finite number >= 0, got 'nan'"),
    (["train", "--weight-decay", "1e999"],
     "argument --weight-decay: expected a finite number >= 0, got '1e999'"),
    (["train", "--gamma", "Infinity"],
     "argument --gamma: expected a finite number >= 0, got 'Infinity'"),
    (["train", "--epochs", "1", "--model-option", "modern=x", *TINY],
     "model lenet5: option 'modern' is a switch: expected True or False, got 'x'"),
    (["train", "--epochs", "1", "--model-option", "num_classes=7", *TINY],
     "model option num_classes=7: fashion-mnist-embedded has 10 classes, the number the model's "
     "classifier must have; leave the option out"),
])
def test_impossible_settings_are_usage_errors_naming_them(argv, message, capsys, monkeypatch,
                                                          tmp_path):
    monkeypatch.chdir(tmp_path)     # a regression would train into runs/ here
    try:
        status = main(argv)
    except SystemExit as exit_:     # argparse's own errors
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert message in err.strip().splitlines()[-1]


def test_an_out_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    status, _, err = run(capsys, "train", "--epochs", "1",
                         "--out", str(tmp_path / "a_file" / "run"), *TINY)
    assert status == 2 and one_line(err) == (f"minicnn train: error: --out {tmp_path}/a_file/run: "
                                             "cannot create the folder (Not a directory)")


def test_num_classes_as_a_model_option_is_taken_when_it_is_the_datas(tmp_path, capsys):
    status, _, err = run(capsys, "train", "--epochs", "1", "--model-option", "num_classes=10",
                         "--out", str(tmp_path), *TINY)
    assert status == 0, err
    assert load_checkpoint(tmp_path / "last.npz")["config"]["model_options"] == {
        "num_classes": 10}


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    """`minicnn models | head -1`: no BrokenPipeError traceback once head has exited."""
    process = subprocess.Popen([sys.executable, "-m", "minicnn", "models"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    process.stdout.close()          # the reader is gone before the first line is written
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert err == ""


def test_a_run_folder_given_as_a_checkpoint_names_the_file_to_pass(trained, capsys):
    folder = trained.parent
    status, _, err = run(capsys, "eval", str(folder))
    assert status == 2
    assert one_line(err) == (f"minicnn eval: error: checkpoint '{folder}' is a folder, not a "
                             f"checkpoint file; pass a file in it, such as {folder / 'best.npz'}")


def test_a_data_path_without_its_dataset_is_refused_or_ignored_aloud(trained, tmp_path, capsys,
                                                                      monkeypatch):
    """A forgotten --data would train on the shipped subset and ignore the path: refused;
    eval of a run on the shipped subset says it ignores --data-path."""
    monkeypatch.chdir(tmp_path)     # a regression would train into runs/ here
    status, _, err = run(capsys, "train", "--data-path", str(tmp_path), *TINY)
    assert status == 2
    assert one_line(err) == (f"minicnn train: error: --data-path {tmp_path} names no dataset: "
                             "pass --data fashion-mnist, mnist, cifar10 or cifar100 with it (the "
                             "default fashion-mnist-embedded ships with minicnn)")
    status, out, err = run(capsys, "eval", str(trained), "--data-path", str(tmp_path))
    assert status == 0 and "200 test images" in out
    assert one_line(err) == (f"minicnn eval: warning: --data-path ignored: {trained} was trained "
                             "on the fashion-mnist-embedded data shipped with minicnn")
