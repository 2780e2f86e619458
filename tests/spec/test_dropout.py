"""Dropout and Dropout2d: inverted dropout, masks, eval mode, layers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.backend import reference
from minicnn.utils.gradcheck import gradcheck


def test_eval_mode_is_the_identity():
    x = mc.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout2d(mc.randn(2, 3, 4, 4), 0.5, training=False).shape == (2, 3, 4, 4)
    layer = nn.Dropout(0.7).eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    images = mc.randn(2, 3, 4, 4)
    assert nn.Dropout2d(0.7).eval()(images) is images
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        assert nn.Dropout2d(0.7).eval()(x) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_training_keeps_the_mean_and_drops_a_fraction_p(p):
    mc.manual_seed(0)
    x = mc.tensor(np.full((400, 500), 2.0))
    y = F.dropout(x, p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 2.0 / (1 - p), rtol=1e-15)
    # 200,000 Bernoulli draws: allow five standard errors (seeded, so the draw is fixed)
    n = y.size
    assert abs((~kept).mean() - p) < 5 * (p * (1 - p) / n) ** 0.5
    assert abs(y.mean() - 2.0) < 5 * 2.0 * (p / (1 - p) / n) ** 0.5


def test_backward_reuses_the_forward_mask():
    mc.manual_seed(1)
    x = mc.tensor(np.random.default_rng(0).uniform(1, 2, (6, 7)), requires_grad=True)
    y = F.dropout(x, 0.4)
    g = np.random.default_rng(1).standard_normal((6, 7))
    y.backward(g)
    mask = y.numpy() / x.numpy()       # the mask the forward pass applied (x has no zeros)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}
    np.testing.assert_allclose(x.grad.numpy(), g * mask, rtol=1e-15)


def test_dropout2d_zeroes_whole_channels():
    mc.manual_seed(2)
    x = mc.tensor(np.random.default_rng(2).uniform(1, 2, (8, 16, 3, 5)), requires_grad=True)
    y = F.dropout2d(x, 0.5)
    ratio = (y.numpy() / x.numpy()).reshape(8, 16, -1)
    assert np.all(ratio == ratio[:, :, :1])       # one factor per channel
    factors = ratio[:, :, 0]
    assert set(np.unique(factors)) == {0.0, 2.0}
    g = np.random.default_rng(3).standard_normal(x.shape)
    y.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), g * factors[:, :, None, None])


def test_dropout2d_on_3d_input_drops_channels_of_n_c_l_as_pytorch():
    mc.manual_seed(3)
    x = mc.tensor(np.ones((4, 6, 10)))
    with pytest.warns(UserWarning, match="3D input"):
        y = F.dropout2d(x, 0.5).numpy()
    assert np.all(y == y[:, :, :1])


@settings(max_examples=15)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.floats(0.05, 0.95),
       st.integers(0, 2 ** 31))
def test_dropout_gradcheck_with_a_fixed_mask(shape, p, seed):
    # each call draws a new mask, so reseed before every call to keep one mask for the check
    x = mc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)

    def seeded_dropout(t):
        mc.manual_seed(seed)
        return F.dropout(t, p)

    result = gradcheck(seeded_dropout, [x], seed=seed % 1000)
    assert result, str(result)


def test_dropout2d_gradcheck_with_a_fixed_mask():
    x = mc.tensor(np.random.default_rng(4).standard_normal((3, 4, 2, 3)), requires_grad=True)

    def seeded_dropout2d(t):
        mc.manual_seed(4)
        return F.dropout2d(t, 0.3)

    result = gradcheck(seeded_dropout2d, [x])
    assert result, str(result)


def test_seeded_masks_repeat_and_extreme_probabilities():
    x = mc.randn(5, 6)
    mc.manual_seed(7)
    first = F.dropout(x, 0.5).numpy()
    mc.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    assert F.dropout(x, 0.5).dtype == np.float32


def test_reference_mask_values_and_dtype():
    mask = reference.dropout_mask((1000,), 0.25, np.float32, np.random.default_rng(0))
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / 0.75)}
    all_dropped = reference.dropout_mask((3, 2), 1.0, np.float64, np.random.default_rng(0))
    np.testing.assert_array_equal(all_dropped, 0)
    applied = reference.dropout_apply(np.arange(4.0), np.array([0, 2.0, 2.0, 0]))
    np.testing.assert_array_equal(applied, [0, 2, 4, 0])


@pytest.mark.parametrize("p", [-0.1, 1.5, None])
def test_bad_probability(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(mc.randn(2, 2), p)
    with pytest.raises(ValueError, match="between 0 and 1"):   # F.dropout's check, at build
        nn.Dropout(p)


def test_layers_repr_and_train_mode():
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout2d(0.2)) == "Dropout2d(p=0.2, inplace=False)"
    assert repr(nn.Dropout(0.5, inplace=True)) == "Dropout(p=0.5, inplace=True)"
    layer = nn.Dropout(0.5)
    mc.manual_seed(5)
    y = layer(mc.tensor(np.ones((50, 50))))
    assert 0 < (y.numpy() == 0).mean() < 1
    assert list(layer.parameters()) == [] and list(layer.state_dict()) == []
