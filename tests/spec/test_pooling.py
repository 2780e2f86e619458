"""Pooling: max / average / adaptive pooling ops, their reference kernels and the layers."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.backend import reference
from minicnn.utils.gradcheck import gradcheck

def check(result):
    assert result, str(result)


def distinct_input(shape, seed):
    """float64 values at least 0.01 apart (a shuffled ramp): no ties inside any window, so max
    pooling is smooth under the gradcheck's 1e-6 steps."""
    rng = np.random.default_rng(seed)
    values = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0
    return mc.tensor(values, requires_grad=True)


# ----- direct loop implementations (PyTorch's definitions, written out) ----------------------

def loop_max_pool(x, k, s, p, d, oh, ow):
    N, C, H, W = x.shape
    y = np.full((N, C, oh, ow), -np.inf)
    idx = np.full((N, C, oh, ow), -1)
    for n, c, a, b in itertools.product(range(N), range(C), range(oh), range(ow)):
        for i, j in itertools.product(range(k[0]), range(k[1])):
            h, w = a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1]
            if 0 <= h < H and 0 <= w < W and (idx[n, c, a, b] < 0 or x[n, c, h, w] > y[n, c, a, b]):
                y[n, c, a, b], idx[n, c, a, b] = x[n, c, h, w], h * W + w
    return y, idx


def loop_avg_pool(x, k, s, p, oh, ow, count_include_pad, divisor_override=None):
    N, C, H, W = x.shape
    y = np.zeros((N, C, oh, ow))
    for a, b in itertools.product(range(oh), range(ow)):
        h0, w0 = a * s[0] - p[0], b * s[1] - p[1]
        h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
        padded_count = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
        total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
        divisor = divisor_override or (padded_count if count_include_pad else (h1 - h0) * (w1 - w0))
        y[:, :, a, b] = total / divisor
    return y


def pytorch_out(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape, written out."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


# ----- hypothesis configurations ------------------------------------------------------------

@st.composite
def pool_configs(draw, dilation=True):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    limit = [kk // 2 for kk in k]       # PyTorch's rule, dilated or not
    p = (draw(st.integers(0, limit[0])), draw(st.integers(0, limit[1])))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
             draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    ceil_mode = draw(st.booleans())
    oh = pytorch_out(shape[2], k[0], s[0], p[0], d[0], ceil_mode)
    ow = pytorch_out(shape[3], k[1], s[1], p[1], d[1], ceil_mode)
    assume(oh >= 1 and ow >= 1)
    return dict(shape=shape, k=k, s=s, p=p, d=d, ceil_mode=ceil_mode, oh=oh, ow=ow)


# ----- output sizes -------------------------------------------------------------------------

@pytest.mark.parametrize("size, kernel, stride, padding, ceil_mode, expected", [
    (55, 3, 2, 0, False, 27),      # AlexNet: 3x3 stride-2 pool after conv1
    (27, 3, 2, 0, False, 13),      # AlexNet after conv2
    (112, 3, 2, 0, False, 55),     # GoogLeNet's 3x3/2 pool without ceil_mode ...
    (112, 3, 2, 0, True, 56),      # ... and with it, as the network needs
    (56, 3, 2, 0, True, 28),
    (14, 2, 2, 0, True, 7),
    (224, 2, 2, 0, False, 112),    # VGG
    (5, 2, 2, 1, True, 3),         # ceil would give 4; the 4th window starts in the right padding
    (6, 3, 2, 0, True, 3),         # floor gives 2, ceil keeps a partial last window
    (7, 3, 2, 1, False, 4),
    (1, 3, 2, 1, True, 1),
])
def test_output_size_hand_computed(size, kernel, stride, padding, ceil_mode, expected):
    x = mc.randn(1, 1, size, size)
    y = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
    assert y.shape[-2:] == (expected,) * 2
    assert F.avg_pool2d(x, kernel, stride, padding, ceil_mode).shape[-2:] == (expected,) * 2
    assert nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)(x).shape[-1] == expected


# ----- max pooling --------------------------------------------------------------------------

@given(pool_configs(), st.integers(0, 2 ** 31))
def test_max_pool2d_forward_and_indices_equal_the_loop(config, seed):
    x = distinct_input(config["shape"], seed).numpy()
    y, idx = F.max_pool2d(mc.tensor(x), config["k"], config["s"], config["p"], config["d"],
                          config["ceil_mode"], return_indices=True)
    y_loop, idx_loop = loop_max_pool(x, config["k"], config["s"], config["p"], config["d"],
                                     config["oh"], config["ow"])
    np.testing.assert_array_equal(y.numpy(), y_loop)
    np.testing.assert_array_equal(idx.numpy(), idx_loop)
    assert idx.dtype == np.int64


@settings(max_examples=20)
@given(pool_configs(), st.integers(0, 2 ** 31))
def test_max_pool2d_gradcheck(config, seed):
    x = distinct_input(config["shape"], seed)
    pool = lambda t: F.max_pool2d(t, config["k"], config["s"], config["p"], config["d"],
                                  config["ceil_mode"])
    assume(np.isfinite(pool(x).numpy()).all())   # a dilated window may hold padding only
    check(gradcheck(pool, [x], seed=seed % 1000))


@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 0), (3, 1, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool2d_gradcheck_overlapping_windows(kernel, stride, padding):
    x = distinct_input((2, 3, 9, 8), seed=kernel * 10 + stride)
    check(gradcheck(lambda t: F.max_pool2d(t, kernel, stride, padding), [x]))


def test_max_pool2d_backward_accumulates_over_windows_sharing_a_max():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0          # the max of all four 3x3 stride-1 windows
    x[0, 0, 2, 2] = 4.0
    xt = mc.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, 3, 1)
    grad = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    y.backward(grad)
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(xt.grad.numpy(), expected)


def test_max_pool2d_ties_pick_the_first_in_scan_order():
    x = np.ones((1, 1, 3, 3))
    y, idx = F.max_pool2d(mc.tensor(x), 2, 1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), [[[[0, 1], [3, 4]]]])
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    _, idx = F.max_pool2d(mc.tensor(x), 2, return_indices=True)
    assert idx.item() == 1


def test_max_pool2d_padding_never_wins_even_against_minus_inf():
    x = np.full((1, 1, 2, 2), -np.inf)
    x[0, 0, 1, 1] = -1e300
    y, idx = F.max_pool2d(mc.tensor(x), 3, 2, padding=1, return_indices=True)
    assert y.item() == -1e300 and idx.item() == 3
    y, idx = F.max_pool2d(mc.tensor(np.full((1, 1, 2, 2), -np.inf)), 2, 1, padding=1,
                          return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])


def test_max_pool2d_float32_and_unbatched_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 7, 6)).astype(np.float32)
    y, idx = F.max_pool2d(mc.tensor(x), 3, 2, 1, ceil_mode=True, return_indices=True)
    y4, idx4 = F.max_pool2d(mc.tensor(x[None]), 3, 2, 1, ceil_mode=True, return_indices=True)
    assert y.dtype == np.float32 and y.shape == (3, 4, 4) and idx.shape == (3, 4, 4)
    np.testing.assert_array_equal(y.numpy(), y4.numpy()[0])
    np.testing.assert_array_equal(idx.numpy(), idx4.numpy()[0])
    xt = mc.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    assert xt.grad.shape == x.shape and xt.grad.numpy().sum() == 3 * 3 * 3
    y = F.avg_pool2d(mc.tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=False)
    y4 = F.avg_pool2d(mc.tensor(x[None]), 3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert y.dtype == np.float32 and y.shape == (3, 4, 4)
    np.testing.assert_array_equal(y.numpy(), y4.numpy()[0])


# ----- average pooling ----------------------------------------------------------------------

@given(pool_configs(dilation=False), st.booleans(), st.sampled_from([None, 1, 3]),
       st.integers(0, 2 ** 31))
def test_avg_pool2d_forward_equals_the_loop(config, count_include_pad, divisor_override, seed):
    x = np.random.default_rng(seed).standard_normal(config["shape"])
    y = F.avg_pool2d(mc.tensor(x), config["k"], config["s"], config["p"], config["ceil_mode"],
                     count_include_pad, divisor_override)
    expected = loop_avg_pool(x, config["k"], config["s"], config["p"], config["oh"], config["ow"],
                             count_include_pad, divisor_override)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-14)


@settings(max_examples=20)
@given(pool_configs(dilation=False), st.booleans(), st.sampled_from([None, 2]),
       st.integers(0, 2 ** 31))
def test_avg_pool2d_gradcheck(config, count_include_pad, divisor_override, seed):
    x = mc.tensor(np.random.default_rng(seed).standard_normal(config["shape"]), requires_grad=True)
    pool = lambda t: F.avg_pool2d(t, config["k"], config["s"], config["p"], config["ceil_mode"],
                                  count_include_pad, divisor_override)
    check(gradcheck(pool, [x], seed=seed % 1000))


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad", [
    (3, 2, 0, False, True), (3, 1, 1, False, False), (3, 2, 1, True, True), (3, 2, 1, True, False)])
def test_avg_pool2d_gradcheck_overlapping_windows(kernel, stride, padding, ceil_mode,
                                                  count_include_pad):
    x = mc.tensor(np.random.default_rng(3).standard_normal((2, 2, 8, 7)), requires_grad=True)
    check(gradcheck(
        lambda t: F.avg_pool2d(t, kernel, stride, padding, ceil_mode, count_include_pad), [x]))


def test_avg_pool2d_ceil_mode_divisor_stops_at_the_padded_edge():
    # 5 wide, k=3, s=2, p=1, ceil: windows start at -1, 1, 3; the last covers 3..5, where 5 is
    # padding (counted) and 6 lies past the padded image (not counted): divisor 3 per row, not 3 x 3
    x = np.ones((1, 1, 5, 5))
    y = F.avg_pool2d(mc.tensor(x), 3, 2, 1, ceil_mode=True).numpy()[0, 0]
    assert y.shape == (3, 3)
    assert y[0, 0] == pytest.approx(4 / 9) and y[1, 1] == 1.0 and y[2, 2] == pytest.approx(4 / 9)
    x = np.ones((1, 1, 6, 6))
    y = F.avg_pool2d(mc.tensor(x), 3, 2, 0, ceil_mode=True).numpy()[0, 0]
    assert y.shape == (3, 3) and y[2, 2] == 1.0   # window 4..6 clipped to the image: divisor 4
    y = F.avg_pool2d(mc.tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy()
    np.testing.assert_allclose(y, 1.0)


# ----- adaptive pooling ---------------------------------------------------------------------

@st.composite
def adaptive_configs(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    output = (draw(st.one_of(st.none(), st.integers(1, 6))), draw(st.integers(1, 6)))
    return shape, output


def loop_adaptive(x, output, reduce):
    H, W = x.shape[-2:]
    oh, ow = (H if output[0] is None else output[0]), output[1]
    y = np.empty(x.shape[:2] + (oh, ow))
    for a, b in itertools.product(range(oh), range(ow)):
        rows = slice(a * H // oh, -(-(a + 1) * H // oh))
        cols = slice(b * W // ow, -(-(b + 1) * W // ow))
        y[:, :, a, b] = reduce(x[:, :, rows, cols], axis=(2, 3))
    return y


@settings(max_examples=20)
@given(adaptive_configs(), st.integers(0, 2 ** 31))
def test_adaptive_avg_pool2d_equals_the_loop_and_gradcheck(config, seed):
    shape, output = config
    x = mc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, output).numpy(),
                               loop_adaptive(x.numpy(), output, np.mean), rtol=1e-12, atol=1e-14)
    check(gradcheck(lambda t: F.adaptive_avg_pool2d(t, output), [x], seed=seed % 1000))


@settings(max_examples=20)
@given(adaptive_configs(), st.integers(0, 2 ** 31))
def test_adaptive_max_pool2d_equals_the_loop_and_gradcheck(config, seed):
    shape, output = config
    x = distinct_input(shape, seed)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(x, output).numpy(),
                                  loop_adaptive(x.numpy(), output, np.max))
    check(gradcheck(lambda t: F.adaptive_max_pool2d(t, output), [x], seed=seed % 1000))


def test_global_average_pooling_and_unbatched_adaptive_pooling():
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 5)).astype(np.float32)
    y = F.adaptive_avg_pool2d(mc.tensor(x), 1)
    assert y.shape == (2, 3, 1, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy()[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-6)
    assert nn.AdaptiveAvgPool2d((1, 1))(mc.tensor(x)).shape == (2, 3, 1, 1)
    assert F.adaptive_avg_pool2d(mc.tensor(x[0]), (None, 2)).shape == (3, 7, 2)
    y, idx = F.adaptive_max_pool2d(mc.tensor(x[0]), 3, return_indices=True)
    assert y.shape == idx.shape == (3, 3, 3)


# ----- the reference kernels directly (the contract the C and CUDA kernels match) -----------

def test_reference_max_pool_backward_sums_gradients_per_input_element():
    grad_y = np.arange(1.0, 9.0).reshape(2, 1, 2, 2)
    indices = np.array([[[[0, 0], [3, -1]]], [[[5, 5], [5, 5]]]], dtype=np.int64)
    grad_x = reference.max_pool2d_backward(grad_y, indices, 2, 3)
    expected = np.zeros((2, 1, 2, 3))
    expected[0, 0, 0, 0], expected[0, 0, 1, 0] = 3.0, 3.0
    expected[1, 0, 1, 2] = 5.0 + 6 + 7 + 8
    np.testing.assert_array_equal(grad_x, expected)


def test_reference_avg_pool_backward_is_the_adjoint_of_forward():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    for count_include_pad in (True, False):
        args = (3, 2, 2, 2, 1, 1)
        y = reference.avg_pool2d_forward(x, *args, 4, 3, count_include_pad)
        g = rng.standard_normal(y.shape)
        grad_x = reference.avg_pool2d_backward(g, 7, 6, *args, count_include_pad)
        assert np.vdot(y, g) == pytest.approx(np.vdot(x, grad_x), rel=1e-12)


# ----- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, words", [
    (lambda x: F.max_pool2d(x, 3, padding=2), ValueError, "padding"),
    (lambda x: F.avg_pool2d(x, 3, padding=2), ValueError, "padding"),
    (lambda x: F.max_pool2d(x, 0), ValueError, "kernel_size"),
    (lambda x: F.max_pool2d(x, 2, stride=0), ValueError, "stride"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "dilation"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), ValueError, "padding"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), ValueError, "kernel_size"),
    (lambda x: F.max_pool2d(x, 2.5), TypeError, "kernel_size"),
    (lambda x: F.max_pool2d(x, 9), ValueError, "too small"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda x: F.max_pool2d(x.reshape(-1), 2), ValueError, "input"),
    (lambda x: F.max_pool2d(x.numpy(), 2), TypeError, "Tensor"),
    (lambda x: F.avg_pool2d(x.long(), 2), TypeError, "float"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), ValueError, "output_size"),
    (lambda x: F.adaptive_max_pool2d(x, (2, 2, 2)), ValueError, "output_size"),
])
def test_bad_arguments_raise_naming_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call(mc.randn(1, 2, 5, 5))


# ----- layers -------------------------------------------------------------------------------

def test_pooling_layers_repr_defaults_and_no_parameters():
    assert repr(nn.MaxPool2d(3, 2)) == (
        "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)")
    assert repr(nn.MaxPool2d((3, 2), stride=1, padding=1, ceil_mode=True)) == (
        "MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, ceil_mode=True)")
    assert repr(nn.AvgPool2d(3, 2)) == "AvgPool2d(kernel_size=3, stride=2, padding=0)"
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    assert repr(nn.AdaptiveMaxPool2d(2)) == "AdaptiveMaxPool2d(output_size=2)"
    assert nn.MaxPool2d(3).stride == 3 and nn.AvgPool2d(2).stride == 2
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)):
        assert list(layer.parameters()) == [] and list(layer.state_dict()) == []
    y, idx = nn.MaxPool2d(2, return_indices=True)(mc.randn(1, 1, 4, 4))
    assert y.shape == idx.shape == (1, 1, 2, 2)
    y = nn.AvgPool2d(3, 1, 1, count_include_pad=False)(mc.randn(2, 3, 5, 5))
    assert y.shape == (2, 3, 5, 5)


# ----- PyTorch cross-checks -----------------------------------------------------------------

@settings(max_examples=30)
@given(pool_configs(), st.integers(0, 2 ** 31))
def test_max_pool2d_matches_pytorch(config, seed):
    torch = pytest.importorskip("torch")
    # PyTorch's return_indices path allows padding only up to half the (undilated) kernel
    assume(all(p <= k // 2 for p, k in zip(config["p"], config["k"])))
    x = distinct_input(config["shape"], seed)
    args = (config["k"], config["s"], config["p"], config["d"], config["ceil_mode"])
    y, idx = F.max_pool2d(x, *args, return_indices=True)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, *args, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    finite = np.isfinite(y.numpy())   # PyTorch's index of a padding-only window is no position
    np.testing.assert_array_equal(idx.numpy()[finite], tidx.numpy()[finite])
    if finite.all():
        g = np.random.default_rng(seed).standard_normal(y.shape)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@settings(max_examples=30)
@given(pool_configs(dilation=False), st.booleans(), st.integers(0, 2 ** 31))
def test_avg_pool2d_matches_pytorch(config, count_include_pad, seed):
    torch = pytest.importorskip("torch")
    x = mc.tensor(np.random.default_rng(seed).standard_normal(config["shape"]), requires_grad=True)
    args = (config["k"], config["s"], config["p"], config["ceil_mode"], count_include_pad)
    y = F.avg_pool2d(x, *args)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, *args)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@given(adaptive_configs(), st.integers(0, 2 ** 31))
def test_adaptive_pooling_matches_pytorch(config, seed):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    shape, output = config
    x = distinct_input(shape, seed)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    for ours, theirs in ((F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d),
                         (F.adaptive_max_pool2d, TF.adaptive_max_pool2d)):
        x.grad, tx.grad = None, None
        y, ty = ours(x, output), theirs(tx, output)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
        g = np.random.default_rng(seed).standard_normal(y.shape)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    _, idx = F.adaptive_max_pool2d(x, output, return_indices=True)
    _, tidx = TF.adaptive_max_pool2d(tx, output, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def test_float32_ceil_mode_edge_cases_match_pytorch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = np.random.default_rng(6).standard_normal((2, 3, 112, 112)).astype(np.float32)
    y, idx = F.max_pool2d(mc.tensor(x), 3, 2, ceil_mode=True, return_indices=True)
    ty, tidx = TF.max_pool2d(torch.tensor(x), 3, 2, ceil_mode=True, return_indices=True)
    assert y.shape == (2, 3, 56, 56)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    for kw in (dict(padding=1, ceil_mode=True),
               dict(padding=1, ceil_mode=True, count_include_pad=False)):
        y = F.avg_pool2d(mc.tensor(x[:, :, :13, :13]), 3, 2, **kw)
        ty = TF.avg_pool2d(torch.tensor(x[:, :, :13, :13]), 3, 2, **kw)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6, atol=1e-7)



@pytest.mark.parametrize("kernel, padding, dilation, accepted", [
    (3, 2, 2, False), (3, 1, 2, True), (5, 3, 3, False), (5, 2, 3, True), (4, 2, 3, True),
    (1, 1, 1, False), (2, 1, 1, True)])
def test_pooling_padding_is_at_most_half_the_kernel_as_pytorch(kernel, padding, dilation,
                                                               accepted):
    x = mc.tensor(np.random.default_rng(0).standard_normal((1, 1, 9, 9)))
    if accepted:
        assert F.max_pool2d(x, kernel, padding=padding, dilation=dilation).shape[0] == 1
        return
    with pytest.raises(ValueError, match=r"max_pool2d: padding should be at most half of the "
                                         r"kernel size"):
        F.max_pool2d(x, kernel, padding=padding, dilation=dilation)
    with pytest.raises(ValueError, match="padding should be at most half"):
        nn.MaxPool2d(kernel, padding=padding, dilation=dilation)
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(RuntimeError, match="pad should be"):
        torch.nn.functional.max_pool2d(torch.zeros(1, 1, 9, 9), kernel, padding=padding,
                                       dilation=dilation)
