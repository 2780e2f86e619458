"""benchmarks/gpu_check.sh and its pytest-free checks (benchmarks/gpu_check.py): without a GPU
the script stops cleanly at its "no GPU" line; on the CuPy stand-in the kernel check and the
ResNet-20 step check run, and the kernel check fails on a wrong kernel."""

import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from minicnn.backend import cuda

ROOT = Path(__file__).resolve().parents[2]


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(cuda.available(), reason="a GPU is present")
def test_without_a_gpu_the_script_says_so_and_writes_its_log(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
                            env={**os.environ, "OUT": str(tmp_path)}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "=== environment" in result.stdout and "NumPy" in result.stdout
    assert result.stdout.rstrip().endswith("gpu_check: skipped (no GPU)")
    assert "FAILED" not in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert (tmp_path / "log").read_text() == result.stdout


def test_the_kernel_check_passes_on_the_standin(standin_cupy, capsys):
    assert gpu_check().kernels() is True
    out = capsys.readouterr().out
    assert "kernels: all within tolerance" in out and "relu_forward" in out


def test_the_step_check_passes_on_the_standin(standin_cupy, capsys):
    assert gpu_check().step(batch=2, size=8) is True
    out = capsys.readouterr().out
    assert "ResNet-20 step: GPU equals CPU within tolerance" in out
    assert out.count(" ok ") == 8


def test_the_kernel_check_fails_on_a_wrong_kernel(standin_cupy, monkeypatch, capsys):
    module = gpu_check()
    right = cuda.relu_forward
    monkeypatch.setattr(cuda, "relu_forward", lambda x: right(x) * np.float32(1.001))
    assert module.kernels() is False
    out = capsys.readouterr().out
    assert "relu_forward" in out and "PAST" in out and "2 past tolerance" in out
