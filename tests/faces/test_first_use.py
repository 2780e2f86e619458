"""What a new user meets first: an install without a C compiler, the first run without the C
kernels, and the examples' defaults (run as subprocesses, as a user runs them)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn.utils.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


def python(*args, cwd=REPO, env=None):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                          timeout=300)


def test_a_build_without_a_c_compiler_succeeds_with_one_plain_line(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.so", "__pycache__", "tests", "benchmarks", "*.egg-info"))
    done = python("setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
                  "--build-temp", str(tmp_path / "temp"), cwd=source,
                  env={"CC": str(tmp_path / "no-such-cc")})
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines()
             if "C kernels" in line or "Traceback" in line or "no-such-cc" in line]
    assert lines == ["minicnn: the C kernels could not be built (no C compiler?); minicnn will "
                     "run on its slower NumPy kernels. Install gcc or clang and reinstall to "
                     "build them."]


def test_the_first_run_without_c_kernels_says_so_in_one_plain_line():
    done = python("-c", "import sys; sys.modules['minicnn._ckernels'] = None\n"
                        "from minicnn.cli import main\n"
                        "sys.exit(main(['gradcheck', 'conv2d']))")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("minicnn gradcheck: warning: the C kernels are not available")
    assert ".py" not in lines[0]


WITHOUT_C = ("import sys; sys.modules['minicnn._ckernels'] = None\n"
             "import numpy as np, minicnn as mc, minicnn.nn.functional as F\n")
TWO_OPS = ("x = mc.tensor(np.ones((1, 1, 4, 4)))\n"
           "F.max_pool2d(x, 2); F.relu(x.double()); F.relu(x)\n")


def test_a_script_without_c_kernels_is_told_once_in_one_plain_line():
    done = python("-c", WITHOUT_C + TWO_OPS)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("minicnn: the C kernels are not available (")
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert ".py" not in done.stderr and "Warning" not in done.stderr


def test_the_missing_c_kernels_line_goes_through_the_minicnn_logger():
    silenced = python("-c", WITHOUT_C + "import logging\n"
                      "logging.getLogger('minicnn').setLevel(logging.ERROR)\n" + TWO_OPS)
    assert silenced.returncode == 0 and silenced.stderr == ""
    configured = python("-c", WITHOUT_C + "import logging\n"
                        "logging.basicConfig(format='%(levelname)s %(name)s | %(message)s')\n"
                        + TWO_OPS)
    assert configured.stderr.startswith("WARNING minicnn | minicnn: the C kernels are not")
    assert len(configured.stderr.splitlines()) == 1, configured.stderr


def test_the_cifar_example_has_no_development_data_path():
    done = python("examples/train_cifar10_resnet20.py", "--help")
    assert done.returncode == 0
    assert "shared" not in done.stdout and "../" not in done.stdout
    done = python("examples/train_cifar10_resnet20.py")
    assert done.returncode == 2 and "path" in done.stderr


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "run" / "best.npz"
    weight = np.random.default_rng(0).standard_normal((6, 1, 5, 5)).astype(np.float32)
    save_checkpoint(path, {"epoch": 1, "model": {"conv.weight": mc.tensor(weight)}})
    return path


def test_visualize_filters_writes_next_to_the_checkpoint_not_into_the_cwd(tmp_path,
                                                                          checkpoint):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = python(str(REPO / "examples" / "visualize_filters.py"), str(checkpoint), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert not list(cwd.iterdir())
    written = sorted(path.name for path in checkpoint.parent.iterdir())
    assert written in (["best-filters.png", "best.npz"], ["best-filters.pgm", "best.npz"])
    assert str(checkpoint.parent / written[0]) in done.stdout


def test_an_install_ships_every_file_of_the_package(tmp_path):
    """What pip copies (build_py: the Python files and the package data) holds every file of
    minicnn/ and kernels/ that git tracks: `minicnn zoo` once failed after `pip install .`
    because minicnn/teach/zoo.json was left out."""
    listed = subprocess.run(["git", "ls-files", "minicnn", "kernels"], cwd=REPO,
                            capture_output=True, text=True)
    if listed.returncode != 0 or not listed.stdout:
        pytest.skip("not a git checkout")
    done = python("setup.py", "-q", "build_py", "--build-lib", str(tmp_path))
    assert done.returncode == 0, done.stderr
    shipped = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")
               if path.is_file()}
    tracked = {re.sub(r"^kernels/", "minicnn/_kernels/", name)
               for name in listed.stdout.splitlines()}
    # the exercises' solutions stay in the source tree: a student's install has none
    solutions = {name for name in tracked if name.startswith("minicnn/teach/solutions/")}
    assert solutions and not solutions & shipped
    assert tracked - solutions - shipped == set()


def test_the_lenet_example_names_a_folder_without_the_data_in_one_line(tmp_path):
    done = python("examples/lenet_fashion_mnist.py", str(tmp_path), "--out",
                  str(tmp_path / "run"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"cannot read Fashion-MNIST from {tmp_path}: dataset not found")
