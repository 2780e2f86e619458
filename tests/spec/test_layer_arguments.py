"""Layers refuse bad arguments when they are built, with the functional op's own check.

Checked against PyTorch (2.13): every argument that PyTorch's layer refuses at construction is
refused at construction here too, with a TypeError where PyTorch raises one. An argument that
PyTorch's layer takes but can never run (every forward raises) is refused here when the layer is
built, a step earlier. Arguments that PyTorch's layer runs with are taken.
"""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Initializing zero-element tensors:UserWarning")

# (layer, args, kwargs): the same call in both libraries. Inputs are (2, 3, 8, 8), or (2, 3)
# for Linear, so the layers take 3 channels / features.
REFUSED_AT_CONSTRUCTION_BY_PYTORCH = [
    ("Conv2d", (3, 8, 3), dict(padding="same", stride=2)),
    ("Conv2d", (3, 8, 3), dict(padding="full")),
    ("Conv2d", (3, 8, -1), {}),
    ("Conv2d", (3, 8, 3.0), {}),
    ("Conv2d", (3, 8, 3), dict(groups=0)),
    ("Conv2d", (3, 8, 3), dict(groups=2)),
    ("Conv2d", (3, 8, 3), dict(padding_mode="bogus")),
    ("ConvTranspose2d", (3, 8, 3), dict(groups=2)),
    ("ConvTranspose2d", (3, 8, 3), dict(padding_mode="reflect")),
    ("BatchNorm2d", (-1,), {}),
    ("BatchNorm2d", (2.5,), {}),
    ("BatchNorm2d", ("a",), {}),
    ("Dropout", (1.5,), {}),
    ("Dropout", (-0.1,), {}),
    ("Dropout2d", (1.5,), {}),
    ("Dropout2d", (-1,), {}),
    ("Linear", (-1, 3), {}),
    ("Linear", (3, -1), {}),
    ("Linear", (2.5, 3), {}),
]

# PyTorch builds these layers but every forward pass raises: refused here when built
REFUSED_EARLIER_THAN_PYTORCH = [
    ("Conv2d", (3, 8, 0), {}),
    ("Conv2d", (3, 8, 3), dict(stride=0)),
    ("Conv2d", (3, 8, 3), dict(padding=-1)),
    ("Conv2d", (3, 8, 3), dict(dilation=0)),
    ("Conv2d", (3, 8, 3), dict(stride=1.5)),
    ("Conv2d", (3, 8, (3, 3, 3)), {}),
    ("ConvTranspose2d", (3, 8, 3), dict(padding="same")),
    ("ConvTranspose2d", (3, 8, 3), dict(output_padding=1)),
    ("ConvTranspose2d", (3, 8, 3), dict(stride=2, output_padding=2)),
    ("ConvTranspose2d", (3, 8, 3), dict(stride=0)),
    ("MaxPool2d", (0,), {}),
    ("MaxPool2d", (2,), dict(stride=0)),
    ("MaxPool2d", (2,), dict(padding=2)),
    ("MaxPool2d", (2,), dict(padding=-1)),
    ("MaxPool2d", (2,), dict(dilation=0)),
    ("MaxPool2d", (2.5,), {}),
    ("MaxPool2d", ((2, 2, 2),), {}),
    ("AvgPool2d", (0,), {}),
    ("AvgPool2d", (2,), dict(padding=2)),
    ("AvgPool2d", (2,), dict(divisor_override=0)),
    ("AvgPool2d", (2,), dict(divisor_override=1.5)),
    ("BatchNorm2d", (3,), dict(momentum="a")),
    ("LocalResponseNorm", (0,), {}),
    ("LocalResponseNorm", (-1,), {}),
    ("LocalResponseNorm", (2.5,), {}),
    ("AdaptiveAvgPool2d", (-1,), {}),
    ("AdaptiveAvgPool2d", (2.5,), {}),
    ("AdaptiveAvgPool2d", ((2, 2, 2),), {}),
]

TAKEN = [
    ("Conv2d", (3, 8, 2), dict(padding="same", dilation=2)),
    ("Conv2d", (3, 8, 3), dict(padding="valid", stride=2)),
    ("ConvTranspose2d", (3, 8, 3), dict(stride=2, output_padding=1)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", (3,), dict(stride=1, padding=1, divisor_override=-2)),
    ("BatchNorm2d", (3,), dict(momentum=None)),
    ("LocalResponseNorm", (4,), {}),
    ("Dropout", (1,), {}),
    ("Dropout2d", (0,), {}),
    ("Linear", (3, 0), {}),
    ("AdaptiveMaxPool2d", ((None, 2),), {}),
]


def build(library, layer, args, kwargs):
    return getattr(library.nn, layer)(*args, **kwargs)


def run(library, layer, module):
    shape = (2, 3) if layer == "Linear" else (2, 3, 8, 8)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return module(torch.from_numpy(x) if library is torch else mc.tensor(x))


def label(case):
    layer, args, kwargs = case
    return f"{layer}{args}{kwargs or ''}"


@pytest.mark.parametrize("case", REFUSED_AT_CONSTRUCTION_BY_PYTORCH, ids=label)
def test_what_pytorch_refuses_at_construction_is_refused_at_construction(case):
    with pytest.raises(Exception) as theirs:
        build(torch, *case)
    expected = TypeError if theirs.type is TypeError else (ValueError, RuntimeError)
    with pytest.raises(expected):
        build(mc, *case)


@pytest.mark.parametrize("case", REFUSED_EARLIER_THAN_PYTORCH, ids=label)
def test_what_pytorch_can_never_run_is_refused_at_construction(case):
    layer = case[0]
    module = build(torch, *case)
    with pytest.raises(Exception):
        run(torch, layer, module)
    with pytest.raises((TypeError, ValueError)):
        build(mc, *case)


@pytest.mark.parametrize("case", TAKEN, ids=label)
def test_what_pytorch_runs_is_built_and_runs(case):
    layer = case[0]
    theirs = run(torch, layer, build(torch, *case))
    ours = run(mc, layer, build(mc, *case))
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    assert tuple(ours.shape) == tuple(theirs.shape)


def test_the_layer_names_the_argument():
    with pytest.raises(ValueError, match="Conv2d: padding='same' is not supported for strided"):
        nn.Conv2d(3, 8, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="MaxPool2d: stride must be at least 1"):
        nn.MaxPool2d(2, stride=0)
    with pytest.raises(TypeError, match="Linear: in_features must be an int"):
        nn.Linear(2.5, 3)
