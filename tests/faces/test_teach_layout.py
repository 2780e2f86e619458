"""Where things live: every exercise is one file name in three folders (skeleton, spec,
solution), and nothing in the package or its examples imports the command line (minicnn.cli)
but the entry point, ``python -m minicnn``."""

import ast
import os

import pytest

from minicnn.teach import exercises
from minicnn.teach.specs import EXERCISES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEACH = os.path.join(ROOT, "minicnn", "teach")


def _modules(folder):
    return {name[:-3] for name in os.listdir(os.path.join(TEACH, folder))
            if name.endswith(".py") and not name.startswith("_")}


def test_each_exercise_is_one_name_in_the_skeleton_spec_and_solution_folders():
    assert _modules("exercises") == _modules("specs") == _modules("solutions") == set(
        exercises.NAMES)
    assert {name: spec.name for name, spec in EXERCISES.items()} == {
        name: name for name in exercises.NAMES}


def test_the_solutions_folder_is_not_a_package_so_no_install_ships_it():
    assert not os.path.exists(os.path.join(TEACH, "solutions", "__init__.py"))
    assert os.path.exists(os.path.join(TEACH, "specs", "__init__.py"))


def _imports(path):
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _python_files(*folders):
    for folder in folders:
        for directory, _, names in os.walk(os.path.join(ROOT, folder)):
            yield from (os.path.join(directory, name) for name in names if name.endswith(".py"))


@pytest.mark.parametrize("folder", ["minicnn", "examples", "benchmarks"])
def test_only_the_entry_point_imports_the_command_line(folder):
    entry = {os.path.join(ROOT, "minicnn", "__main__.py"), os.path.join(ROOT, "minicnn", "cli.py")}
    importers = [os.path.relpath(path, ROOT) for path in _python_files(folder)
                 if path not in entry and "minicnn.cli" in set(_imports(path))]
    assert importers == []
