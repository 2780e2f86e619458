"""conv2d and conv_transpose2d against PyTorch: forward values and every gradient (skipped when
PyTorch is not installed)."""

import numpy as np
import pytest
from hypothesis import given

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F

from test_conv import conv_configs   # tests/ is on sys.path under pytest

torch = pytest.importorskip("torch")

# PyTorch's note that "same" padding with an even kernel copies the input: expected here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def compare(minicnn_fn, torch_fn, arrays, rtol):
    """Run both on the same arrays (None passes through) with the same random upstream gradient;
    compare the output and the gradient of every input."""
    ours = [None if a is None else mc.tensor(a, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y, y_torch = minicnn_fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(y.numpy(), y_torch.detach().numpy(), rtol=rtol, atol=rtol)
    upstream = np.random.default_rng(0).standard_normal(y.shape).astype(y.dtype)
    y.backward(upstream)
    y_torch.backward(torch.tensor(upstream))
    for mine, reference in zip(ours, theirs):
        if mine is not None:
            scale = max(1.0, float(reference.grad.abs().max()))
            np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(),
                                       rtol=rtol, atol=rtol * scale)


def arrays_for(config, rng, weight_shape, dtype=np.float64):
    x = rng.standard_normal((config["N"], config["C"], config["H"], config["W"])).astype(dtype)
    w = rng.standard_normal(weight_shape).astype(dtype)
    b = rng.standard_normal(config["F"]).astype(dtype) if config["bias"] else None
    return [x, w, b]


@given(conv_configs())
def test_conv2d_matches_pytorch(config):
    weight_shape = (config["F"], config["C"] // config["groups"], *config["kernel"])
    options = dict(stride=config["stride"], padding=config["padding"],
                   dilation=config["dilation"], groups=config["groups"])
    compare(lambda x, w, b: F.conv2d(x, w, b, **options),
            lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **options),
            arrays_for(config, np.random.default_rng(1), weight_shape), rtol=1e-10)


@given(conv_configs(transposed=True))
def test_conv_transpose2d_matches_pytorch(config):
    weight_shape = (config["C"], config["F"] // config["groups"], *config["kernel"])
    options = dict(stride=config["stride"], padding=config["padding"],
                   output_padding=config["output_padding"], groups=config["groups"],
                   dilation=config["dilation"])
    compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **options),
            lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **options),
            arrays_for(config, np.random.default_rng(2), weight_shape), rtol=1e-10)


@pytest.mark.parametrize("kernel, dilation", [((4, 4), (1, 1)), ((2, 3), (1, 1)), ((4, 2), (3, 1)),
                                              ((2, 2), (2, 2)), ((3, 4), (2, 1))])
def test_same_padding_with_even_kernels_matches_pytorch(kernel, dilation):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 4, 7, 8)), rng.standard_normal((6, 2, *kernel)),
              rng.standard_normal(6)]
    options = dict(padding="same", dilation=dilation, groups=2)
    compare(lambda x, w, b: F.conv2d(x, w, b, **options),
            lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **options), arrays, rtol=1e-10)


@pytest.mark.parametrize("stride, output_padding, dilation", [
    (2, 1, 1), ((3, 2), (2, 1), 1), (1, 1, 2), (2, (2, 1), 3), ((1, 2), (0, 1), (2, 1))])
def test_conv_transpose2d_output_padding_matches_pytorch(stride, output_padding, dilation):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 2)),
              rng.standard_normal(6)]
    options = dict(stride=stride, padding=1, output_padding=output_padding, groups=2,
                   dilation=dilation)
    compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **options),
            lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **options),
            arrays, rtol=1e-10)


def test_float32_matches_pytorch():
    rng = np.random.default_rng(5)
    arrays = [a.astype(np.float32) for a in (rng.standard_normal((4, 3, 17, 15)),
                                             rng.standard_normal((8, 3, 5, 5)),
                                             rng.standard_normal(8))]
    options = dict(stride=2, padding=2)
    compare(lambda x, w, b: F.conv2d(x, w, b, **options),
            lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **options), arrays, rtol=1e-4)


def test_unbatched_input_matches_pytorch():
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), None]
    compare(lambda x, w, b: F.conv2d(x, w, b, padding=1),
            lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1), arrays, rtol=1e-12)
    arrays = [rng.standard_normal((3, 6, 5)), rng.standard_normal((3, 2, 3, 3)), None]
    compare(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2),
            lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, stride=2), arrays,
            rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(3, 16, 3, padding=1, bias=False),
    lambda m: m.Conv2d(8, 8, (3, 5), stride=(2, 1), padding=2, groups=4),
    lambda m: m.Conv2d(4, 6, 2, padding="same", dilation=2),
    lambda m: m.Conv2d(4, 6, 3, padding="valid"),
    lambda m: m.ConvTranspose2d(6, 4, 4, stride=2, padding=1, output_padding=1, groups=2),
    lambda m: m.ConvTranspose2d(3, 3, 3, dilation=2, bias=False),
])
def test_layers_match_pytorch_repr_parameters_and_init_bounds(make):
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    assert [(name, p.shape) for name, p in ours.named_parameters()] == [
        (name, tuple(p.shape)) for name, p in theirs.named_parameters()]
    # PyTorch's default: weight and bias uniform in +-1/sqrt(fan_in), fan_in from the weight
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    bound = 1 / np.sqrt(fan_in)
    for name, parameter in ours.named_parameters():
        values = np.abs(parameter.numpy())
        assert values.max() <= bound, name
        if values.size >= 100:
            assert values.max() > 0.9 * bound, name
