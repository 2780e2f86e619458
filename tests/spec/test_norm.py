"""Batch normalisation and local response normalisation: ops, reference kernels and layers."""

import itertools
import warnings

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


def leaf(array):
    return mc.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# ----- batch norm: gradients with a layer in front ------------------------------------------

@settings(max_examples=20)
@given(st.integers(2, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 3), st.booleans(), st.integers(0, 2 ** 31))
def test_batch_norm_gradcheck_behind_a_linear_map(N, D, C, H, W, affine, seed):
    # bn(x @ A): x (N, H, W, D), A (D, C) -> (N, C, H, W); its input gradient flows on to x and A
    assume(N * H * W >= 3)   # two values per channel normalise to -1, +1 whatever x is
    rng = np.random.default_rng(seed)
    x, A = leaf(rng.standard_normal((N, H, W, D))), leaf(rng.standard_normal((D, C)))
    weight = leaf(rng.uniform(0.5, 2.0, C)) if affine else None
    bias = leaf(rng.standard_normal(C)) if affine else None

    def model(x, A, weight, bias):
        return F.batch_norm((x @ A).permute(0, 3, 1, 2), None, None, weight, bias, training=True)

    check(gradcheck(model, [x, A, weight, bias], seed=seed % 1000))


@settings(max_examples=15)
@given(st.integers(3, 6), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2 ** 31))
def test_batch_norm_1d_gradcheck_behind_a_linear_map(N, D, C, seed):
    rng = np.random.default_rng(seed)
    x, A = leaf(rng.standard_normal((N, D))), leaf(rng.standard_normal((D, C)))
    weight, bias = leaf(rng.uniform(0.5, 2.0, C)), leaf(rng.standard_normal(C))
    check(gradcheck(lambda x, A, w, b: F.batch_norm(x @ A, None, None, w, b, training=True),
                    [x, A, weight, bias], seed=seed % 1000))


def test_batch_norm_eval_gradcheck():
    rng = np.random.default_rng(1)
    x, weight, bias = leaf(rng.standard_normal((3, 4, 2, 5))), leaf(rng.uniform(0.5, 2, 4)), \
        leaf(rng.standard_normal(4))
    mean, var = mc.tensor(rng.standard_normal(4)), mc.tensor(rng.uniform(0.5, 2, 4))
    check(gradcheck(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False),
                    [x, weight, bias]))
    # without affine parameters, and on (N, C) input
    x2 = leaf(rng.standard_normal((5, 4)))
    check(gradcheck(lambda x: F.batch_norm(x, mean, var, training=False), [x2]))
    # float32 statistics with float64 input are refused, as PyTorch's "mixed dtype" error
    mean32 = mc.tensor(mean.numpy().astype(np.float32))
    with pytest.raises(TypeError, match="running_mean dtype float32"):
        F.batch_norm(x2, mean32, var, training=False)


def test_reference_batch_norm_backward_equals_the_formula_term_by_term():
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal((4, 3, 2, 2))
    w = rng.standard_normal(3)
    y, mean, var, invstd = reference.batch_norm_forward(x, w, None, 1e-5)
    dx, dw, db = reference.batch_norm_backward(dy, x, w, mean, invstd)
    M = 16
    for c in range(3):
        xc, dyc = x[:, c].ravel(), dy[:, c].ravel()
        xhat = (xc - xc.mean()) / np.sqrt(xc.var() + 1e-5)
        # d/dx_i of sum_j dy_j * w * xhat_j, by the chain rule through mean and variance
        jac = (np.eye(M) - 1 / M - np.outer(xhat, xhat) / M) / np.sqrt(xc.var() + 1e-5)
        np.testing.assert_allclose(dx[:, c].ravel(), w[c] * jac.T @ dyc, rtol=1e-12, atol=1e-13)
        assert dw[c] == pytest.approx((dyc * xhat).sum(), rel=1e-12)
        assert db[c] == pytest.approx(dyc.sum(), rel=1e-12)


# ----- batch norm: statistics ---------------------------------------------------------------

def test_training_normalises_with_batch_statistics():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 3, 4, 5)) * 3 + 2
    y = F.batch_norm(mc.tensor(x), None, None, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)   # biased variance, + eps


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_running_statistics_after_a_few_steps_equal_the_formula(momentum):
    rng = np.random.default_rng(4)
    bn = nn.BatchNorm2d(3, momentum=momentum).double()
    mean, var = np.zeros(3), np.ones(3)
    batches = [rng.standard_normal((4, 3, 5, 2)) * (i + 1) + i for i in range(4)]
    for step, x in enumerate(batches, start=1):
        bn(mc.tensor(x))
        m = 1 / step if momentum is None else momentum
        mean = (1 - m) * mean + m * x.mean(axis=(0, 2, 3))
        var = (1 - m) * var + m * x.var(axis=(0, 2, 3), ddof=1)
        assert int(bn.num_batches_tracked) == step
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    if momentum is None:   # the cumulative average is the plain mean over the batches
        np.testing.assert_allclose(mean, np.mean([x.mean(axis=(0, 2, 3)) for x in batches], 0))


def test_eval_uses_running_statistics():
    rng = np.random.default_rng(5)
    bn = nn.BatchNorm2d(2).double()
    bn.running_mean.array[...] = [1.0, -2.0]
    bn.running_var.array[...] = [4.0, 0.25]
    bn.weight.data.array[...] = [2.0, 3.0]
    bn.bias.data.array[...] = [0.5, -1.0]
    bn.eval()
    x = rng.standard_normal((3, 2, 4, 4))
    y = bn(mc.tensor(x)).numpy()
    def column(values):
        return np.array(values)[:, None, None]

    expected = ((x - column([1.0, -2.0])) / np.sqrt(column([4.0, 0.25]) + 1e-5)
                * column([2.0, 3.0]) + column([0.5, -1.0]))
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert int(bn.num_batches_tracked) == 0
    np.testing.assert_array_equal(bn.running_mean.numpy(), [1.0, -2.0])   # eval does not update


def test_batch_norm_layers_parameters_buffers_and_repr():
    bn = nn.BatchNorm2d(4)
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [(name, b.dtype) for name, b in bn.named_buffers()] == [
        ("running_mean", np.float32), ("running_var", np.float32),
        ("num_batches_tracked", np.int64)]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    np.testing.assert_array_equal(bn.bias.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    assert repr(bn) == ("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                        "track_running_stats=True)")
    plain = nn.BatchNorm1d(3, momentum=None, affine=False)
    assert list(plain.parameters()) == [] and plain.weight is None
    assert repr(plain) == ("BatchNorm1d(3, eps=1e-05, momentum=None, affine=False, bias=False, "
                           "track_running_stats=True)")
    untracked = nn.BatchNorm2d(3, track_running_stats=False)
    assert list(untracked.state_dict()) == ["weight", "bias"] and untracked.running_mean is None
    x = mc.randn(4, 3, 2, 2)
    np.testing.assert_allclose(untracked.eval()(x).numpy(), untracked.train()(x).numpy())
    assert nn.BatchNorm2d(3).double().num_batches_tracked.dtype == np.int64
    assert nn.BatchNorm2d(3).double()(mc.randn(2, 3, 2, 2).double()).dtype == np.float64


def test_batch_norm_1d_on_vectors_and_sequences():
    rng = np.random.default_rng(6)
    bn = nn.BatchNorm1d(3).double()
    for shape, axes in (((5, 3), (0,)), ((4, 3, 6), (0, 2))):
        x = rng.standard_normal(shape) * 2 + 1
        y = bn(mc.tensor(x)).numpy()
        expected = ((x - x.mean(axis=axes, keepdims=True))
                    / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5))
        np.testing.assert_allclose(y, expected, rtol=1e-10)


def test_batch_norm_float32_backward_through_a_network():
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    x = mc.randn(6, 5)
    model(x).sum().backward()
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize("call, error, words", [
    (lambda: nn.BatchNorm2d(3)(mc.randn(1, 3, 1, 1)), ValueError, "more than 1 value"),
    (lambda: nn.BatchNorm2d(3)(mc.randn(2, 3, 4)), ValueError, "expected 4D input"),
    (lambda: nn.BatchNorm1d(3)(mc.randn(2, 3, 4, 4)), ValueError, "expected 2D or 3D input"),
    (lambda: F.batch_norm(mc.randn(2, 3), None, None, mc.randn(4), training=True), ValueError,
     "weight"),
    (lambda: F.batch_norm(mc.randn(2, 3), mc.randn(2), mc.randn(2)), ValueError, "running_mean"),
    (lambda: F.batch_norm(mc.randn(2, 3), None, None, training=False), ValueError, "training"),
    (lambda: F.batch_norm(mc.randn(2, 3), None, None, training=True, momentum=None), TypeError,
     "momentum"),
    (lambda: F.batch_norm(mc.randn(3), None, None, training=True), ValueError, "input"),
])
def test_batch_norm_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ----- local response norm ------------------------------------------------------------------

def loop_lrn(x, size, alpha, beta, k):
    """b_c = a_c / (k + alpha / n * sum_{j = c - n//2}^{c + (n-1)//2} a_j^2) ^ beta."""
    y = np.empty_like(x)
    C = x.shape[1]
    for n, c in itertools.product(range(x.shape[0]), range(C)):
        window = range(max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1))
        total = sum(x[n, j] ** 2 for j in window)
        y[n, c] = x[n, c] / (k + alpha / size * total) ** beta
    return y


@st.composite
def lrn_configs(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 3)),
             draw(st.integers(1, 3)))
    return dict(shape=shape, size=draw(st.integers(1, 6)),
                alpha=draw(st.sampled_from([1e-4, 0.1, 1.0])),
                beta=draw(st.sampled_from([0.75, 0.5, 1.3])),
                k=draw(st.sampled_from([1.0, 2.0, 0.5])))


@settings(max_examples=30)
@given(lrn_configs(), st.integers(0, 2 ** 31))
def test_lrn_equals_the_formula_and_gradcheck(config, seed):
    x = leaf(np.random.default_rng(seed).standard_normal(config["shape"]))
    args = (config["size"], config["alpha"], config["beta"], config["k"])
    np.testing.assert_allclose(F.local_response_norm(x, *args).numpy(), loop_lrn(x.numpy(), *args),
                               rtol=1e-12, atol=1e-15)
    check(gradcheck(lambda t: F.local_response_norm(t, *args), [x], seed=seed % 1000))


def test_lrn_on_3d_and_5d_inputs_and_behind_a_linear_map():
    rng = np.random.default_rng(7)
    x3 = rng.standard_normal((2, 5, 4))
    np.testing.assert_allclose(F.local_response_norm(mc.tensor(x3), 3, 0.5, 0.75, 2.0).numpy(),
                               loop_lrn(x3[..., None], 3, 0.5, 0.75, 2.0)[..., 0], rtol=1e-12)
    x5 = rng.standard_normal((1, 4, 2, 3, 2))
    y5 = F.local_response_norm(mc.tensor(x5), 2, 0.5, 0.75, 1.0).numpy()
    expected = loop_lrn(x5.reshape(1, 4, 12, 1), 2, 0.5, 0.75, 1.0).reshape(x5.shape)
    np.testing.assert_allclose(y5, expected, rtol=1e-12)
    x, A = leaf(rng.standard_normal((2, 3, 3, 4))), leaf(rng.standard_normal((4, 5)))
    check(gradcheck(
        lambda x, A: F.local_response_norm((x @ A).permute(0, 3, 1, 2), 5, 0.3, 0.75, 2.0), [x, A]))


def test_lrn_layer_repr_and_alexnet_values():
    assert repr(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)) == (
        "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2)")
    assert repr(nn.LocalResponseNorm(3)) == "LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)"
    x = mc.randn(2, 8, 3, 3)
    y = nn.LocalResponseNorm(5, 1e-4, 0.75, 2)(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), loop_lrn(x.numpy().astype(np.float64), 5, 1e-4, 0.75, 2),
                               rtol=1e-6)


@pytest.mark.parametrize("call, error, words", [
    (lambda: F.local_response_norm(mc.randn(2, 3), 2), ValueError, "3D or higher"),
    (lambda: F.local_response_norm(mc.randn(2, 3, 4), 0), ValueError, "size"),
    (lambda: F.local_response_norm(mc.randn(2, 3, 4), 2.5), TypeError, "size"),   # as PyTorch
])
def test_lrn_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ----- PyTorch cross-checks -----------------------------------------------------------------

def test_batch_norm_matches_pytorch_over_several_steps():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    ours = nn.BatchNorm2d(3, momentum=0.2).double()
    theirs = torch.nn.BatchNorm2d(3, momentum=0.2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.5, 1.5, 2.0]))
        theirs.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for step in range(3):
        x = rng.standard_normal((4, 3, 3, 5)) * (step + 1) + step
        g = rng.standard_normal(x.shape)
        xt, tx = mc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = ours(xt), theirs(tx)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), value.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-10)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((2, 3, 3, 5))
    np.testing.assert_allclose(ours(mc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)


@settings(max_examples=15)
@given(lrn_configs(), st.integers(0, 2 ** 31))
def test_lrn_matches_pytorch(config, seed):
    torch = pytest.importorskip("torch")
    x = leaf(np.random.default_rng(seed).standard_normal(config["shape"]))
    args = (config["size"], config["alpha"], config["beta"], config["k"])
    tx = torch.tensor(x.numpy(), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = torch.nn.functional.local_response_norm(tx, *args)
    y = F.local_response_norm(x, *args)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)
