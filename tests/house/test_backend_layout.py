"""The backend's layout, read from its source: each kernel's contract written once for the C and
CUDA sets, no private name of the backend used outside its module, info.py below the top
package."""

import ast
from pathlib import Path

import pytest

import minicnn
from minicnn.backend import ckernels, contract, cuda, reference

PACKAGE = Path(minicnn.__file__).parent


def _imported_modules(tree):
    """{local name: minicnn module} for every ``import minicnn.x`` / ``from minicnn[.x] import y``
    (y may be a module) of a parsed file."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("minicnn"):
                    names[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minicnn"):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


NAMEDTUPLE_API = {"_fields", "_replace", "_asdict", "_make"}   # public, despite the underscore


def _private_uses(path):
    """The private names (``_x``, not dunder) that ``path`` imports from, or reads off, another
    minicnn module, each as (that module, the use)."""
    tree = ast.parse(path.read_text())
    modules = _imported_modules(tree)
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minicnn"):
            uses += [(node.module, f"from {node.module} import {a.name}") for a in node.names
                     if a.name.startswith("_") and not a.name.startswith("__")]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in modules and node.attr.startswith("_")
              and not node.attr.startswith("__") and node.attr not in NAMEDTUPLE_API):
            uses.append((modules[node.value.id], f"{node.value.id}.{node.attr}"))
    return uses


def test_the_backend_uses_no_private_name_of_another_module():
    found = {str(path.relative_to(PACKAGE)): [use for _, use in _private_uses(path)]
             for path in sorted((PACKAGE / "backend").glob("*.py"))}
    assert {path: uses for path, uses in found.items() if uses} == {}


def test_no_module_uses_a_private_name_of_the_backend():
    found = {str(path.relative_to(PACKAGE)): [use for module, use in _private_uses(path)
                                               if module.startswith("minicnn.backend")]
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert {path: uses for path, uses in found.items() if uses} == {}


def test_info_takes_the_version_without_importing_the_top_package():
    tree = ast.parse((PACKAGE / "backend" / "info.py").read_text())
    top = [node for node in ast.walk(tree)
           if (isinstance(node, ast.Import) and any(a.name == "minicnn" for a in node.names))
           or (isinstance(node, ast.ImportFrom) and node.module == "minicnn"
               and any(a.name == "__version__" for a in node.names))]
    assert top == []
    assert minicnn.backend.info.info(quiet=True)["minicnn"] == minicnn.__version__


@pytest.mark.parametrize("kernel_set", [ckernels, cuda], ids=["c", "cuda"])
def test_both_compiled_sets_run_the_contracts_kernels(kernel_set):
    """One contract per kernel: the C and CUDA sets' kernels of contract.KERNELS are the same
    methods of contract.Kernels, and the kernels of contract.FROM_REFERENCE the reference's."""
    for name in contract.KERNELS:
        kernel = getattr(kernel_set, name)
        assert isinstance(kernel.__self__, contract.Kernels), name
        assert kernel.__func__ is getattr(contract.Kernels, name), name
    for name in contract.FROM_REFERENCE:
        assert getattr(kernel_set, name) is getattr(reference, name), name
