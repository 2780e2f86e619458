"""nn.init: fans and gains as PyTorch computes them, the distributions' bounds and spread
(statistically, with a seeded generator), and reproducibility with a seed."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn.nn import init

weight_shapes = hnp.array_shapes(min_dims=2, max_dims=5, min_side=1, max_side=5)


@given(shape=weight_shapes)
def test_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    ours = init._calculate_fan_in_and_fan_out(mc.zeros(shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fans_by_hand():
    assert init._calculate_fan_in_and_fan_out(mc.zeros(16, 3, 5, 5)) == (75, 400)
    assert init._calculate_fan_in_and_fan_out(mc.zeros(10, 20)) == (20, 10)
    with pytest.raises(ValueError):
        init._calculate_fan_in_and_fan_out(mc.zeros(5))


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
    ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("selu", None),
])
def test_gains_match_torch(nonlinearity, param):
    expected = {"tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75}.get(nonlinearity, 1.0)
    if nonlinearity == "leaky_relu":
        expected = math.sqrt(2 / (1 + (0.01 if param is None else param) ** 2))
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_gain_errors_match_torch():
    torch = pytest.importorskip("torch")
    for args in (("swish",), ("leaky_relu", "x"), ("leaky_relu", True)):
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(*args)
        with pytest.raises(ValueError):
            init.calculate_gain(*args)


# Each case: the function, its keyword arguments, the shape, and the expected
# ("uniform", bound) or ("normal", std), written out from the formulas of the papers.
SHAPE = (64, 32, 3, 3)               # fan_in = 288, fan_out = 576
FAN_IN, FAN_OUT = 32 * 9, 64 * 9
CASES = [
    (init.kaiming_uniform_, {}, ("uniform", math.sqrt(2) * math.sqrt(3 / FAN_IN))),
    (init.kaiming_uniform_, {"a": math.sqrt(5)}, ("uniform", 1 / math.sqrt(FAN_IN))),
    (init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"},
     ("uniform", math.sqrt(2) * math.sqrt(3 / FAN_OUT))),
    (init.kaiming_normal_, {}, ("normal", math.sqrt(2) / math.sqrt(FAN_IN))),
    (init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"},
     ("normal", math.sqrt(2 / FAN_OUT))),
    (init.kaiming_normal_, {"a": 0.2, "nonlinearity": "leaky_relu"},
     ("normal", math.sqrt(2 / 1.04) / math.sqrt(FAN_IN))),
    (init.xavier_uniform_, {}, ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    (init.xavier_uniform_, {"gain": 2.0}, ("uniform", 2 * math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    (init.xavier_normal_, {}, ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    (init.xavier_normal_, {"gain": 0.5}, ("normal", 0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    (init.uniform_, {"a": -0.3, "b": 0.3}, ("uniform", 0.3)),
    (init.normal_, {"std": 0.02}, ("normal", 0.02)),
]


@pytest.mark.parametrize("index", range(len(CASES)))
def test_distribution_bounds_and_spread(index):
    fn, kwargs, (kind, scale) = CASES[index]
    tensor = mc.zeros(SHAPE)
    assert fn(tensor, generator=np.random.default_rng(index), **kwargs) is tensor
    values = tensor.numpy().astype(np.float64)
    n = values.size                                   # 18,432 draws
    assert abs(values.mean()) < 5 * scale / math.sqrt(n)
    if kind == "uniform":
        assert np.abs(values).max() <= scale
        assert np.abs(values).max() > 0.999 * scale
        expected_std = scale / math.sqrt(3)
    else:
        expected_std = scale
        assert np.abs(values).max() < 6 * scale
    # the sample std is within ~1% of the truth; 4% leaves no room for a wrong fan or gain
    assert values.std() == pytest.approx(expected_std, rel=0.04)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_same_seed_same_values(index):
    fn, kwargs, _ = CASES[index]
    a, b, c = mc.zeros(SHAPE), mc.zeros(SHAPE), mc.zeros(SHAPE)
    fn(a, generator=np.random.default_rng(7), **kwargs)
    fn(b, generator=np.random.default_rng(7), **kwargs)
    fn(c, generator=np.random.default_rng(8), **kwargs)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    mc.manual_seed(3)
    fn(a, **kwargs)
    mc.manual_seed(3)
    fn(b, **kwargs)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_constant_fills_and_keep_dtype():
    t = mc.tensor(np.zeros((2, 3)), requires_grad=True)
    assert init.ones_(t) is t and (t.numpy() == 1).all() and t.dtype == np.float64
    init.zeros_(t)
    assert not t.numpy().any()
    init.constant_(t, 0.25)
    assert (t.numpy() == 0.25).all()
    assert init.normal_(mc.zeros(3, dtype=np.float32)).dtype == np.float32


def test_kaiming_mode_errors_and_zero_element_tensors():
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_uniform_(mc.zeros(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="no-op"):
        assert init.kaiming_uniform_(mc.zeros(0, 3)).shape == (0, 3)
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_normal_(mc.zeros(4, 0))


def test_initialises_parameters_in_place_for_layers():
    import minicnn.nn as nn
    layer = nn.Linear(8, 4)
    weight = layer.weight
    init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu",
                         generator=np.random.default_rng(0))
    assert layer.weight is weight and weight.requires_grad and weight.dtype == np.float32
