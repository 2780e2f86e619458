"""Activations, linear and losses (nn.functional): float64 gradient checks over hypothesis-drawn
shapes and options, and values and gradients compared with PyTorch where it is installed."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from checks import CHECKS, assert_gradcheck, assert_matches_torch, leaves, torch_for, verify

seeds = st.integers(0, 2 ** 16)
# relu and cross-entropy run on a kernel set: the NumPy reference, and "auto" (the C kernels
# where they are built)
KERNEL_SETS = ["numpy", "auto"]
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
nonempty_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


def away_from_zero(rng, shape):
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


# ----- activations --------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": (F.relu, "relu", {}),
    "leaky_relu": (F.leaky_relu, "leaky_relu", {}),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), "leaky_relu", {"negative_slope": 0.2}),
    "sigmoid": (F.sigmoid, "sigmoid", {}),
    "tanh": (F.tanh, "tanh", {}),
}


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(shape=shapes, seed=seeds)
def test_activation(check, kernel_set, name, shape, seed):
    torch = torch_for(check)
    fn, torch_name, kwargs = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape)        # no values at the kink of relu / leaky relu
    with mc.backend(kernel_set):
        verify(check, fn, [x], rng, lambda t: getattr(torch.nn.functional, torch_name)(t, **kwargs))


def test_activations_keep_float32_and_saturate_without_overflow():
    x = mc.tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32), requires_grad=True)
    for fn in (F.relu, F.leaky_relu, F.sigmoid, F.tanh, F.softmax, F.log_softmax):
        y = fn(x) if fn not in (F.softmax, F.log_softmax) else fn(x, 0)
        assert y.dtype == np.float32
        y.backward(mc.ones(5))
        assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
        x.grad = None
    np.testing.assert_array_equal(F.sigmoid(x).numpy(), [0.0, np.float32(1.9287499e-22), 0.5, 1.0, 1.0])


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_relu_gradient_at_zero_is_zero_and_integers_work_as_torch(kernel_set):
    with mc.backend(kernel_set):
        x = mc.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
        F.relu(x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
        relu_of_ints = F.relu(mc.tensor([3, -2]))
        assert relu_of_ints.dtype == np.int64 and relu_of_ints.tolist() == [3, 0]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(shape=shapes, seed=seeds, data=st.data())
def test_softmax(check, name, shape, seed, data):
    torch = torch_for(check)
    ndim = len(shape)
    dim = data.draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    fn = getattr(F, name)
    module = getattr(nn, {"softmax": "Softmax", "log_softmax": "LogSoftmax"}[name])(dim)
    for candidate in (lambda t: fn(t, dim), module):
        verify(check, candidate, [x], rng, lambda t: getattr(torch.nn.functional, name)(t, dim))


@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
def test_softmax_implicit_dim_follows_torch(ndim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(ndim)
    x = rng.standard_normal((2, 3, 4, 5)[:ndim])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch warns that the implicit dim is deprecated
        for name in ("softmax", "log_softmax"):
            assert_matches_torch(getattr(F, name), getattr(torch.nn.functional, name), [x], rng)


def test_softmax_of_huge_logits_is_finite_and_errors_follow_torch():
    x = mc.tensor(np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]]))
    np.testing.assert_allclose(F.softmax(x, 1).numpy(), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy()[0], [0, -1e4, -2e4])
    with pytest.raises(IndexError):
        F.softmax(x, 2)
    assert F.softmax(mc.zeros(2, 0), 1).shape == (2, 0)


# ----- linear -------------------------------------------------------------------------------

@pytest.mark.parametrize("check", CHECKS)
@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
       in_features=st.integers(1, 3), out_features=st.integers(1, 3), bias=st.booleans(), seed=seeds)
def test_linear(check, batch, in_features, out_features, bias, seed):
    torch = torch_for(check)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(batch + (in_features,)), rng.standard_normal((out_features, in_features))]
    if bias:
        arrays.append(rng.standard_normal(out_features))
    verify(check, F.linear, arrays, rng, lambda *ts: torch.nn.functional.linear(*ts))


def test_linear_refuses_a_wrong_input_size():
    with pytest.raises((ValueError, RuntimeError), match="in_features"):
        F.linear(mc.zeros(2, 3), mc.zeros(4, 2))


# ----- cross-entropy ------------------------------------------------------------------------

@st.composite
def cross_entropy_case(draw):
    """Logits of shape (N, C), (N, C, d1, ...) or (C,), targets, and every option."""
    C = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["unbatched", "batch", "k-dim"]))
    N = draw(st.integers(1, 3))
    if layout == "unbatched":
        shape = (C,)
    elif layout == "batch":
        shape = (N, C)
    else:
        shape = (N, C) + tuple(draw(st.lists(st.integers(1, 2), min_size=1, max_size=2)))
    return dict(shape=shape, C=C,
                probabilities=draw(st.booleans()),
                weighted=draw(st.booleans()),
                ignore=draw(st.booleans()),
                reduction=draw(st.sampled_from(["mean", "sum", "none"])),
                label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
                seed=draw(seeds))


def _cross_entropy_arrays(case):
    rng = np.random.default_rng(case["seed"])
    shape, C = case["shape"], case["C"]
    logits = rng.standard_normal(shape) * 2
    class_dim = 0 if len(shape) == 1 else 1
    target_shape = shape[:class_dim] + shape[class_dim + 1:]
    weight = rng.uniform(0.2, 2.0, C) if case["weighted"] else None
    if case["probabilities"]:
        p = rng.uniform(0.0, 1.0, shape)
        target = p / p.sum(axis=class_dim, keepdims=True)
        ignore_index = -100
    else:
        target = rng.integers(0, C, target_shape)
        ignore_index = -100
        if case["ignore"]:
            ignore_index = int(rng.integers(0, C))
            # keep at least one target that counts, or the mean is 0 / 0
            if (target != ignore_index).sum() == 0:
                target.reshape(-1)[0] = (ignore_index + 1) % C if C > 1 else ignore_index
    return rng, logits, target, weight, ignore_index


def _cross_entropy_options(case, weight, ignore_index):
    return dict(weight=None if weight is None else mc.tensor(weight), ignore_index=ignore_index,
                reduction=case["reduction"], label_smoothing=case["label_smoothing"])


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@given(case=cross_entropy_case())
def test_cross_entropy_gradcheck(kernel_set, case):
    _, logits, target, weight, ignore_index = _cross_entropy_arrays(case)
    options = _cross_entropy_options(case, weight, ignore_index)
    if not case["probabilities"] and case["reduction"] == "mean" and (target == ignore_index).all():
        return   # 0 / 0, as in PyTorch
    with mc.backend(kernel_set):
        assert_gradcheck(lambda z: F.cross_entropy(z, mc.tensor(target), **options), leaves(logits))


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@given(case=cross_entropy_case())
def test_cross_entropy_matches_torch(kernel_set, case):
    torch = pytest.importorskip("torch")
    with mc.backend(kernel_set):
        _check_cross_entropy_against_torch(torch, case)


def _check_cross_entropy_against_torch(torch, case):
    rng, logits, target, weight, ignore_index = _cross_entropy_arrays(case)
    options = _cross_entropy_options(case, weight, ignore_index)
    torch_options = dict(options, weight=None if weight is None else torch.tensor(weight))
    if not case["probabilities"] and case["reduction"] == "mean" and (target == ignore_index).all():
        return
    assert_matches_torch(lambda z: F.cross_entropy(z, mc.tensor(target), **options),
                         lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(target), **torch_options),
                         [logits], rng)
    loss_module = nn.CrossEntropyLoss(**options)
    np.testing.assert_allclose(loss_module(mc.tensor(logits), mc.tensor(target)).numpy(),
                               F.cross_entropy(mc.tensor(logits), mc.tensor(target), **options).numpy())


def test_cross_entropy_everything_ignored_is_nan_as_torch():
    torch = pytest.importorskip("torch")
    logits, target = np.zeros((2, 3)), np.array([1, 1])
    got = F.cross_entropy(mc.tensor(logits), mc.tensor(target), ignore_index=1).item()
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(target), ignore_index=1).item()
    assert np.isnan(got) and np.isnan(expected)


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_cross_entropy_of_an_empty_batch_as_torch(kernel_set):
    torch = pytest.importorskip("torch")
    with mc.backend(kernel_set):
        for reduction in ("sum", "none", "mean"):
            logits = mc.zeros(0, 3, requires_grad=True)
            loss = F.cross_entropy(logits, mc.tensor(np.zeros(0, np.int64)), reduction=reduction)
            expected = torch.nn.functional.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64),
                                                         reduction=reduction)
            assert loss.shape == tuple(expected.shape)
            np.testing.assert_array_equal(loss.numpy(), expected.numpy())
            if reduction != "mean":
                loss.sum().backward()
                assert logits.grad.shape == (0, 3)


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_cross_entropy_is_stable_for_huge_logits(kernel_set):
    with mc.backend(kernel_set):
        _check_huge_logits()


def _check_huge_logits():
    for dtype in (np.float32, np.float64):
        logits = mc.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype), requires_grad=True)
        loss = F.cross_entropy(logits, mc.tensor([1, 0]), label_smoothing=0.1)
        loss.backward()
        assert loss.dtype == dtype
        assert np.isfinite(loss.item()) and np.isfinite(logits.grad.numpy()).all()
        # sample 0 misses by 2e4, sample 1 by 2e4 (and log 2): the loss is their mean
        assert loss.item() == pytest.approx(0.9 * (2e4 + 2e4 + np.log(2)) / 2 + 0.1 / 3 * (
            (2e4 + 1e4) + (2e4 + 2 * np.log(2))) / 2, rel=1e-4)


def test_probability_targets_of_another_shape_are_refused():
    with pytest.raises(ValueError, match="shape"):
        F.cross_entropy(mc.zeros(2, 3), mc.tensor(np.full((2, 4), 0.25)))


def test_cross_entropy_takes_labels_as_arrays_lists_or_tensors():
    logits = mc.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    expected = F.cross_entropy(logits, mc.tensor([0, 3, 1])).item()
    assert F.cross_entropy(logits, np.array([0, 3, 1])).item() == expected
    assert F.cross_entropy(logits, [0, 3, 1]).item() == expected


def _error_type(fn):
    with pytest.raises(Exception) as error:
        fn()
    return error.type


@pytest.mark.parametrize("case", [
    "label_smoothing", "out_of_range", "negative_target", "reduction", "batch_mismatch",
    "weight_shape", "float_target_ignore_index", "float_labels_0d",
])
def test_cross_entropy_errors_follow_torch(case):
    torch = pytest.importorskip("torch")
    logits = np.zeros((2, 3))
    args = {
        "label_smoothing": ([0, 1], dict(label_smoothing=1.5)),
        "out_of_range": ([0, 3], {}),
        "negative_target": ([0, -1], {}),
        "reduction": ([0, 1], dict(reduction="avg")),
        "batch_mismatch": ([0, 1, 1], {}),
        "weight_shape": ([0, 1], dict(weight=np.ones(4))),
        "float_target_ignore_index": (np.full((2, 3), 1 / 3), dict(ignore_index=1)),
        "float_labels_0d": (np.zeros(()), {}),
    }
    target, options = args[case]
    target = np.asarray(target)

    def run(lib, F_):
        opts = {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in options.items()}
        return F_.cross_entropy(lib.tensor(logits), lib.tensor(target), **opts)

    expected = _error_type(lambda: run(torch, torch.nn.functional))
    assert _error_type(lambda: run(mc, F)) is expected


# ----- nll and mse --------------------------------------------------------------------------

@pytest.mark.parametrize("check", CHECKS)
@given(case=cross_entropy_case())
def test_nll_loss(check, case):
    torch = torch_for(check)
    case = dict(case, probabilities=False)
    rng, logits, target, weight, ignore_index = _cross_entropy_arrays(case)
    log_probs = logits - np.log(np.exp(logits).sum(axis=0 if logits.ndim == 1 else 1, keepdims=True))
    options = _cross_entropy_options(case, weight, ignore_index)
    options.pop("label_smoothing")
    if case["reduction"] == "mean" and (target == ignore_index).all():
        return
    torch_options = dict(options, weight=None if weight is None else torch.tensor(weight)) if torch else {}
    verify(check, lambda z: F.nll_loss(z, mc.tensor(target), **options), [log_probs], rng,
           lambda z: torch.nn.functional.nll_loss(z, torch.tensor(target), **torch_options))


def test_nll_loss_of_log_softmax_equals_cross_entropy():
    rng = np.random.default_rng(0)
    logits, target = mc.tensor(rng.standard_normal((4, 3, 2))), mc.tensor(rng.integers(0, 3, (4, 2)))
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(logits, 1), target).item(),
                               F.cross_entropy(logits, target).item(), rtol=1e-12)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(shape=shapes, seed=seeds)
def test_mse_loss(check, reduction, shape, seed):
    torch = torch_for(check)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    if reduction == "mean" and 0 in shape:
        assert np.isnan(F.mse_loss(mc.tensor(x), mc.tensor(y)).item())
        return
    for fn in (lambda a, b: F.mse_loss(a, b, reduction=reduction), nn.MSELoss(reduction)):
        verify(check, fn, [x, y], rng,
               lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction))


def test_loss_modules_repr_like_torch():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.NLLLoss()) == "NLLLoss()"


def test_a_loss_is_a_0d_tensor():
    loss = F.cross_entropy(mc.zeros(2, 3, requires_grad=True), [0, 2])
    assert loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx(np.log(3))


def test_mse_loss_broadcasts_with_a_warning_as_torch():
    torch = pytest.importorskip("torch")
    x, y = np.arange(6.0).reshape(2, 3), np.array([1.0, 0.0, -1.0])
    with pytest.warns(UserWarning, match="size"):
        got = F.mse_loss(mc.tensor(x), mc.tensor(y)).item()
    with pytest.warns(UserWarning):
        expected = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(expected, rel=1e-15)


def test_nll_loss_refuses_a_0d_input():
    with pytest.raises(ValueError):
        F.nll_loss(mc.tensor(0.0), mc.tensor(0))


@pytest.mark.parametrize("loss_class", ["CrossEntropyLoss", "NLLLoss"])
def test_loss_class_weights_are_a_buffer_as_torch(loss_class):
    loss = getattr(nn, loss_class)(weight=mc.tensor([1.0, 2.0, 0.5]))
    assert list(loss.state_dict()) == ["weight"]
    loss.double()
    assert loss.weight.dtype == np.float64
    assert list(getattr(nn, loss_class)().state_dict()) == []
    torch = pytest.importorskip("torch")
    assert list(getattr(torch.nn, loss_class)(weight=torch.ones(3)).state_dict()) == ["weight"]


def test_softmax_dtype_argument_casts_first_as_torch():
    x = mc.tensor(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), requires_grad=True)
    y = F.softmax(x, 1, dtype=mc.float64)
    assert y.dtype == np.float64
    y.backward(mc.tensor(np.array([[1.0, 0.0, 0.0]])))
    assert x.grad.dtype == np.float32
    assert F.log_softmax(x, dim=-1, dtype=np.float64).dtype == np.float64
