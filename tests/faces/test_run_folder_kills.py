"""A run killed at any of its file writes leaves a folder that `minicnn train --resume`
continues or a fresh `minicnn train` starts, and a refusal names the command that works. The
kill is simulated at the k-th atomic write (before its rename, leaving the part-written
temporary file, or just after it), for every k of a short run and of a run stopped inside its
first epoch; the run that recovers ends with the weights of the run never killed."""

import os

import pytest

import minicnn.train as train_module
from minicnn.cli import main
from minicnn.utils import checkpoint, plotting
from minicnn.utils.checkpoint import load_checkpoint

OPTIONS = ["--epochs", "2", "--train-subset", "64", "--test-subset", "32", "--batch-size",
           "32", "--no-plots"]


class Killed(BaseException):
    """What a SIGKILL is to the code after it: nothing of the process runs on."""


def writes(monkeypatch, kill_at=None, after_rename=False, stop_in_epoch_1=False):
    """Patch every atomic write to count (and, at call ``kill_at``, to die); returns the
    list of written names."""
    real, written = checkpoint.atomic_write, []

    def atomic_write(path, write):
        written.append(path)
        if len(written) == kill_at and not after_rename:
            with open(checkpoint._create_temporary(*_split(path))[1], "wb") as file:
                file.write(b"PK\x03")           # the part-written temporary file stays
            raise Killed
        real(path, write)
        if len(written) == kill_at:
            raise Killed
    for module in (checkpoint, train_module, plotting):
        monkeypatch.setattr(module, "atomic_write", atomic_write)
    if stop_in_epoch_1:
        train_epoch = train_module.Trainer.train_epoch

        def stop_after_a_batch(self):
            self._stop_requested |= self.epoch == 0
            return train_epoch(self)
        monkeypatch.setattr(train_module.Trainer, "train_epoch", stop_after_a_batch)
    return written


def _split(path):
    return os.path.dirname(os.path.abspath(path)), os.path.basename(path)


def weights(folder):
    return {key: value.numpy() for key, value in load_checkpoint(folder / "last.npz")["model"]
            .items()}


def train(folder, *extra):
    return main(["train", *OPTIONS, "--out", str(folder), *extra])


def run_to_the_end(folder):
    """Train, and resume after each Ctrl-C stop; the last exit status."""
    status = train(folder)
    while status == 130:
        status = main(["train", "--resume", "--no-plots", "--out", str(folder)])
    return status


@pytest.mark.parametrize("stop_in_epoch_1", [False, True])
def test_a_kill_at_every_write_leaves_a_run_that_resumes_or_restarts(tmp_path, monkeypatch,
                                                                     capsys, stop_in_epoch_1):
    with monkeypatch.context() as patch:
        written = writes(patch, stop_in_epoch_1=stop_in_epoch_1)
        assert run_to_the_end(tmp_path / "straight") == 0
    expected = weights(tmp_path / "straight")
    points = len(written)
    assert points >= 5
    outcomes = []
    for kill_at in range(1, points + 1):
        for after_rename in (False, True):
            folder = tmp_path / f"killed-{kill_at}-{after_rename}"
            with monkeypatch.context() as patch:
                writes(patch, kill_at, after_rename, stop_in_epoch_1)
                with pytest.raises(Killed):
                    run_to_the_end(folder)
            capsys.readouterr()
            status = main(["train", "--resume", "--no-plots", "--out", str(folder)])
            err = capsys.readouterr().err
            if status == 2 and "the run is finished: it has 2 epochs" in err:
                status = 0                # killed after its last write: the run is complete
            elif status == 2:
                assert "start it afresh with the command that began it" in err, err
                status = train(folder)
            outcomes.append(status)
            assert status == 0, (kill_at, after_rename, err)
            for name, value in weights(folder).items():
                assert (value == expected[name]).all(), (kill_at, after_rename, name)
            assert not list(folder.glob(".*.tmp"))
    assert outcomes == [0] * (2 * points)
