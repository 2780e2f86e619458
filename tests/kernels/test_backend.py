"""The backend switch: one decision point (kernels_for) chooses the kernel set from the array's
type and the selected backend (set_backend, the ``with minicnn.backend(...)`` block, the
MINICNN_BACKEND variable), once per (backend, kind of array); "auto" falls back to NumPy once with
a warning when the C kernels are missing, a forced set that cannot run an array raises, every op
dispatches through it and records the set it ran on, and mc.info() reports what runs."""

import io
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn import backend
from minicnn.backend import arrays, ckernels, dispatch, reference


def test_selection_and_block_restore():
    selected = mc.get_backend()
    with mc.backend("numpy"):
        assert mc.get_backend() == "numpy"
        assert backend.kernels_for(np.zeros(1)) is reference
        with mc.backend("auto"):
            assert mc.get_backend() == "auto"
        assert mc.get_backend() == "numpy"
    assert mc.get_backend() == selected


def test_block_restores_after_an_exception():
    selected = mc.get_backend()
    with pytest.raises(KeyError):
        with mc.backend("numpy"):
            raise KeyError
    assert mc.get_backend() == selected


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        mc.set_backend("fortran")


def test_cuda_backend_needs_cupy_arrays():
    with mc.backend("cuda"), pytest.raises(RuntimeError, match="CuPy arrays"):
        backend.kernels_for(np.zeros(1))


@pytest.mark.skipif(not ckernels.available(), reason="C kernels not built")
def test_auto_and_c_pick_the_c_kernels_for_numpy_arrays():
    for name in ("auto", "c"):
        with mc.backend(name):
            assert backend.kernels_for(np.zeros(1)) is ckernels
            assert backend.kernels_for(np.zeros(1)).NAME == "c"


def test_environment_variable_selects_the_backend_of_a_new_thread(monkeypatch):
    monkeypatch.setenv("MINICNN_BACKEND", "NumPy")
    monkeypatch.setattr(dispatch, "_default", None)      # as in a process that chose nothing
    seen = []
    thread = threading.Thread(target=lambda: seen.append(
        (mc.get_backend(), backend.kernels_for(np.zeros(1)))))
    thread.start()
    thread.join()
    assert seen == [("numpy", reference)]


def test_missing_c_kernels_fall_back_once_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(dispatch, "_choices", {})
    monkeypatch.setattr(ckernels, "_ckernels", None)
    monkeypatch.setattr(ckernels, "_load_error", ImportError("simulated"))
    monkeypatch.setattr(arrays, "_warned", set())
    assert not ckernels.available()
    with caplog.at_level("WARNING", logger="minicnn"):
        assert backend.kernels_for(np.zeros(1)) is reference
        assert backend.kernels_for(np.zeros(1, np.float32)) is reference
    assert [(r.name, r.levelname) for r in caplog.records] == [("minicnn", "WARNING")]
    assert "did not load (simulated)" in caplog.records[0].getMessage()
    with mc.backend("c"), pytest.raises(RuntimeError, match="not available"):
        backend.kernels_for(np.zeros(1))


def test_an_incomplete_c_kernel_set_is_not_used(monkeypatch):
    monkeypatch.delattr(ckernels, "col2im")
    assert ckernels.missing_kernels() == ["col2im"]
    assert not ckernels.available()
    assert "lacks col2im" in ckernels.unavailable_reason()


def test_info_prints_and_returns_the_report():
    out = io.StringIO()
    report = mc.info(file=out)
    text = out.getvalue()
    assert report["backend"] == mc.get_backend()
    assert set(report["kernel_sets"]) == {"numpy", "c", "cuda"}
    assert report["active_kernels"] == backend.kernels_for(np.zeros(1)).NAME
    assert report["num_threads"] == ckernels.num_threads()
    for words in ("kernels for NumPy", "BLAS", "C kernel threads"):
        assert words in text
    with mc.backend("numpy"):
        assert mc.info(quiet=True)["active_kernels"] == "numpy"


@pytest.mark.skipif(not ckernels.available(), reason="C kernels not built")
def test_integer_and_empty_arrays_run_on_the_reference_under_auto_and_are_refused_by_c():
    with mc.backend("auto"):
        assert backend.kernels_for(np.zeros(3, np.int64)) is reference
        assert backend.kernels_for(np.zeros((0, 4), np.float32)) is reference
        assert backend.kernels_for(np.zeros(3, np.float32)) is ckernels
    with mc.backend("c"):
        assert backend.kernels_for(np.zeros(3, np.float32)) is ckernels
        with pytest.raises(RuntimeError, match="backend 'c' cannot run .* dtype int64"):
            backend.kernels_for(np.zeros(3, np.int64))
        with pytest.raises(RuntimeError, match=r"shape \(0, 4\)"):
            backend.kernels_for(np.zeros((0, 4), np.float32))
        with pytest.raises(RuntimeError, match="backend 'c' cannot run"):
            F.relu(mc.tensor(np.zeros((0, 3), np.float32)))


def test_the_choice_is_made_once_per_backend_and_kind_of_array(monkeypatch):
    monkeypatch.setattr(dispatch, "_choices", {})
    calls = []
    choose = dispatch._choose
    monkeypatch.setattr(dispatch, "_choose", lambda *args: calls.append(args[0]) or choose(*args))
    with mc.backend("numpy"):
        for _ in range(3):
            backend.kernels_for(np.zeros(2, np.float32))
            backend.kernels_for(np.ones((4, 5), np.float32))
        backend.kernels_for(np.zeros(2, np.float64))
    with mc.backend("auto"):
        backend.kernels_for(np.zeros(2, np.float32))
    assert calls == ["numpy", "numpy", "auto"]


def small_net():
    mc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.LeakyReLU(), nn.MaxPool2d(2),
                         nn.AvgPool2d(2, divisor_override=3), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(2, 3), nn.Softmax(dim=1))


@pytest.mark.parametrize("name", ["numpy"] + (["c"] if ckernels.available() else []))
def test_every_op_with_a_hot_loop_runs_on_the_selected_set_and_records_it(name):
    model = small_net()
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 1, 10, 10)).astype(np.float32),
                  requires_grad=True)
    with mc.backend(name), backend.trace() as records:
        model(x).sum().backward()
        model.eval()
        model(x)
        F.adaptive_max_pool2d(x, 2)
    ops = [op for op, _ in records]
    assert {kernels for _, kernels in records} == {name}
    for op in ("Conv2d", "BatchNorm", "LeakyReLU", "MaxPool2d", "AvgPool2d",
               "AdaptiveAvgPool2d", "Linear", "Softmax", "AdaptiveMaxPool2d"):
        assert op in ops
    assert ops.count("BatchNorm") == 2      # training and eval


def test_the_kernels_log(monkeypatch, caplog):
    with caplog.at_level("DEBUG", logger="minicnn.kernels"), mc.backend("numpy"):
        F.relu(mc.tensor(np.ones(3, np.float32)))
    assert "ReLU: numpy kernels" in caplog.text


@pytest.mark.skipif(not ckernels.available(), reason="the C kernels are not built")
@pytest.mark.parametrize("variable, value, words", [
    ("MINICNN_NUM_THREADS", "abc", "MINICNN_NUM_THREADS must be a positive integer, got 'abc'"),
    ("OMP_NUM_THREADS", "-3", "OMP_NUM_THREADS must be a positive integer, got '-3'"),
    ("MINICNN_GEMM_KERNEL", "bogus", "MINICNN_GEMM_KERNEL='bogus' names no micro-kernel"),
])
def test_a_bad_thread_or_kernel_variable_is_said_once_and_ignored(variable, value, words):
    env = {key: v for key, v in os.environ.items()
           if key not in ("MINICNN_NUM_THREADS", "OMP_NUM_THREADS", "MINICNN_GEMM_KERNEL")}
    env[variable] = value
    done = subprocess.run([sys.executable, "-c", "import minicnn.backend.ckernels as c; "
                           "print(c.num_threads(), c.gemm_kernel())"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(words) == 1 and "Traceback" not in done.stderr
    threads, kernel = done.stdout.split()
    assert int(threads) >= 1 and kernel in ("avx512", "avx2", "portable")


def test_set_backend_is_for_every_thread_and_a_with_block_for_its_own(monkeypatch):
    monkeypatch.setattr(dispatch, "_default", None)

    def in_a_new_thread(function):
        seen = []
        thread = threading.Thread(target=lambda: seen.append(function()))
        thread.start()
        thread.join()
        return seen[0]

    mc.set_backend("numpy")
    assert in_a_new_thread(mc.get_backend) == "numpy"        # a new thread no longer runs "auto"
    inside = threading.Event()
    leave = threading.Event()

    def block():
        with mc.backend("auto"):
            inside.set()
            leave.wait(10)
    other = threading.Thread(target=block)
    other.start()
    inside.wait(10)
    assert mc.get_backend() == "numpy"                       # the other thread's block stays there
    with mc.backend("auto"):
        assert mc.get_backend() == "auto" and in_a_new_thread(mc.get_backend) == "numpy"
    leave.set()
    other.join()
    in_a_new_thread(lambda: mc.set_backend("auto"))          # set in any thread: for all
    assert mc.get_backend() == "auto"
