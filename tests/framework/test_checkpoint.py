"""Checkpoints: exact round trips, no pickle ever, atomic writes that survive being killed."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minicnn as mc
from minicnn.utils import checkpoint
from minicnn.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def nested_state():
    return {
        "epoch": 7,
        "model": {"conv1.weight": mc.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)),
                  "bn.num_batches_tracked": np.array(5, dtype=np.int64)},
        "optimizer": {"state": {0: {"momentum_buffer": np.full(3, 0.1)}, 1: {"step": 4}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1],
                                        "nesterov": False}]},
        "rng": mc.manual_seed(3).bit_generator.state,
        "best_metric": None,
        "history": [{"loss": float("nan"), "top1": 0.25}],
        "masks": np.array([[True, False]]),
        "a/b": np.zeros(2, dtype=np.uint8),
        "a": {"b": np.ones(2, dtype=np.uint8)},
        "__array__": "a key that looks like a tag",
        "text": "ünïcode",
    }


def test_round_trip_keeps_structure_types_and_bits(tmp_path):
    state = nested_state()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)

    assert set(loaded) == set(state)
    weight = loaded["model"]["conv1.weight"]
    assert isinstance(weight, mc.Tensor) and weight.dtype == np.float32
    np.testing.assert_array_equal(weight.numpy(), state["model"]["conv1.weight"].numpy())
    assert loaded["model"]["bn.num_batches_tracked"].dtype == np.int64
    assert list(loaded["optimizer"]["state"]) == [0, 1]          # int keys stay ints
    assert loaded["optimizer"]["state"][1] == {"step": 4}
    np.testing.assert_array_equal(loaded["optimizer"]["state"][0]["momentum_buffer"],
                                  np.full(3, 0.1))
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["rng"] == state["rng"]                           # 128-bit integers intact
    assert loaded["best_metric"] is None and np.isnan(loaded["history"][0]["loss"])
    assert loaded["masks"].dtype == bool
    np.testing.assert_array_equal(loaded["a/b"], np.zeros(2))     # colliding names kept apart
    np.testing.assert_array_equal(loaded["a"]["b"], np.ones(2))
    assert loaded["__array__"] == "a key that looks like a tag"
    assert loaded["text"] == "ünïcode"


def test_restored_generator_repeats_its_draws(tmp_path):
    generator = np.random.default_rng(11)
    generator.random(5)
    save_checkpoint(tmp_path / "rng.npz", {"rng": generator.bit_generator.state})
    expected = generator.random(4)
    other = np.random.default_rng(0)
    other.bit_generator.state = load_checkpoint(tmp_path / "rng.npz")["rng"]
    np.testing.assert_array_equal(other.random(4), expected)


def test_object_arrays_are_refused_on_save(tmp_path):
    with pytest.raises(TypeError, match="object array"):
        save_checkpoint(tmp_path / "x.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    assert not os.listdir(tmp_path)


def test_a_crafted_npz_with_a_pickled_object_array_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "crafted.npz"
    save_checkpoint(path, {"weights": np.zeros(3)})
    with np.load(path, allow_pickle=False) as archive:
        meta = archive[checkpoint.META_KEY]
    # same metadata, but "weights" is now a pickled object array
    np.savez(path, allow_pickle=True, __meta__=meta, weights=np.array([print], dtype=object))
    unpickled = []
    monkeypatch.setattr("pickle.loads", lambda *a, **k: unpickled.append(a))
    with pytest.raises(CheckpointError, match="unpickling"):
        load_checkpoint(path)
    assert not unpickled


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04truncated"])
def test_garbage_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_checkpoint(path)


def test_npz_without_metadata_and_missing_file(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a minicnn checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_checkpoint(tmp_path / "nowhere.npz")


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.arange(10000.0)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.ones(1000)})

    def failing_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half of an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": np.zeros(1000)})
    monkeypatch.undo()
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 1
    np.testing.assert_array_equal(loaded["w"], np.ones(1000))
    assert os.listdir(tmp_path) == ["last.npz"]            # the temporary file is gone


def test_a_process_killed_during_the_write_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.ones(1000)})
    child = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from minicnn.utils.checkpoint import save_checkpoint
        real_savez = np.savez
        def slow_savez(file, *args, **kwargs):
            file.write(b"PK\\x03\\x04" + bytes(4096))   # a partial archive on disk
            file.flush()
            print("writing", flush=True)
            time.sleep(60)
        np.savez = slow_savez
        save_checkpoint({str(path)!r}, {{"epoch": 2, "w": np.zeros(1000)}})
    """)
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 1
    np.testing.assert_array_equal(loaded["w"], np.ones(1000))
