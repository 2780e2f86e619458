"""The layers of the house: no module of minicnn imports one of a layer above its own.

The layers are the table in README.md's "What is inside" (the one place they are written; this
test reads it): a row ``| N | `file.py`, `folder/` | what |``, layer 0 at the bottom. Every
import counts, at the top of a file or inside a function: a deferred import is still an arrow.
``from minicnn import X`` counts as importing X's module (the package only re-exports it), and
``import minicnn`` as importing the package itself, which sits in the layer of the highest module
it imports (it re-exports them all).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "minicnn"


def read_layers():
    """{file or folder name as written in the README (``autograd.py``, ``nn/``): layer}."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## What is inside", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for number, modules in re.findall(r"^\| (\d+) \| ([^|]*) \|", section, re.M):
        for name in re.findall(r"`([^`]+)`", modules):
            assert name not in layers, f"{name} is in two layers of the README's table"
            layers[name] = int(number)
    assert layers, "README.md's 'What is inside' has no table of layers"
    return layers


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
LAYERS = read_layers()


def layer_of(module):
    """The layer of ``minicnn.a.b``: that of ``a.py``, or of the folder ``a/``, or of the
    package's own ``__init__.py`` for ``minicnn``."""
    parts = module.split(".")
    name = "__init__.py" if len(parts) == 1 else parts[1] + ("/" if len(parts) > 2 or (
        PACKAGE / parts[1]).is_dir() else ".py")
    if name not in LAYERS:
        raise KeyError(f"{module} ({name}) is in no layer of README.md's table")
    return LAYERS[name]


def reexported():
    """{name the package re-exports: the module it comes from}."""
    names = {}
    for node in ast.parse(MODULES["minicnn"].read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minicnn"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names[alias.asname or alias.name] = submodule if submodule in MODULES \
                    else node.module
    return names


REEXPORTED = reexported()


def imported_modules(module, source=None):
    """(line, module of minicnn) for every import in ``module``'s file (or in ``source``, the
    text of a module file of that name)."""
    path = MODULES.get(module)
    package = module if path is not None and path.name == "__init__.py" else \
        module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "minicnn":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            if source.split(".")[0] != "minicnn":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    yield node.lineno, submodule
                elif source == "minicnn":
                    yield node.lineno, REEXPORTED.get(alias.name, "minicnn")
                else:
                    yield node.lineno, source


def upward_imports(module, source=None):
    own = layer_of(module)
    return sorted((line, target) for line, target in imported_modules(module, source)
                  if layer_of(target) > own)


def test_every_module_is_in_a_layer_and_every_name_of_the_table_exists():
    for module in MODULES:
        layer_of(module)
    for name in LAYERS:
        assert (PACKAGE / name).exists(), f"README.md's layers name {name}, which is not in minicnn/"


def test_the_package_sits_in_the_layer_of_what_it_imports():
    """``import minicnn`` stands for every module the package imports: its row in the table is
    the highest of theirs."""
    highest = max(layer_of(target) for _, target in imported_modules("minicnn"))
    assert layer_of("minicnn") == highest


def test_the_check_sees_each_form_of_an_upward_import():
    """A deferred absolute import, a relative one, a name through the package, the package
    itself and a dotted import: each is found in a layer-0 file; imports from below are not."""
    source = ("import numpy\nfrom minicnn.backend import reference\nfrom . import geometry\n"
              "def f():\n    from minicnn.nn import functional\n"
              "from ..optim import sgd\nfrom minicnn import save\nimport minicnn\n"
              "import minicnn.data.loader\n")
    assert upward_imports("minicnn.backend.probe", source) == [
        (5, "minicnn.nn.functional"), (6, "minicnn.optim.sgd"), (7, "minicnn.serialization"),
        (8, "minicnn"), (9, "minicnn.data.loader")]


@pytest.mark.parametrize("module", [module for module in MODULES if module != "minicnn"])
def test_no_module_imports_one_above_it(module):
    found = [f"line {line}: {target} (layer {layer_of(target)})"
             for line, target in upward_imports(module)]
    assert found == [], f"{module} (layer {layer_of(module)}) imports from above"
