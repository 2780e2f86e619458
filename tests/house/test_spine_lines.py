"""benchmarks/spine_lines.py counts code lines: not blank, comment or docstring lines."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spine_lines = runpy.run_path(str(ROOT / "benchmarks" / "spine_lines.py"))


def test_code_lines_skip_blank_comment_and_docstring_lines():
    source = '''"""Module docstring,
on two lines."""

import os   # a comment after code counts


def f(x):
    """A docstring."""
    # a comment line
    return (x +
            1)
'''
    assert spine_lines["code_lines"](source) == 4


def test_the_spine_is_autograd_ops_backend_without_the_compiled_sets_and_functional():
    names = {str(p.relative_to(ROOT)) for p in spine_lines["spine_files"](ROOT)}
    assert {"minicnn/autograd.py", "minicnn/ops.py", "minicnn/backend/reference.py",
            "minicnn/backend/geometry.py", "minicnn/nn/functional/conv.py"} <= names
    assert not names & {"minicnn/backend/ckernels.py", "minicnn/backend/validate.py",
                        "minicnn/backend/info.py"}
