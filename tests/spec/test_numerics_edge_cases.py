"""Values at the edges (infinite logits, NaN in a max, near-constant batch-norm channels, views of
non-contiguous tensors), each pinned to the value PyTorch 2.13 gives, on every kernel set."""

import warnings

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.backend import ckernels

KERNEL_SETS = ["numpy"] + (["c"] if ckernels.available() else [])
inf, nan = np.inf, np.nan


def cross_entropy_and_grad(logits, target, **options):
    z = mc.tensor(np.array(logits), requires_grad=True)
    loss = F.cross_entropy(z, np.array(target), **options)
    loss.backward()
    return float(loss.item()), z.grad.numpy()


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_cross_entropy_with_a_minus_inf_logit_is_finite(kernel_set):
    with mc.backend(kernel_set):
        loss, grad = cross_entropy_and_grad([[0.0, -inf, 1.0]], [0])
        assert loss == pytest.approx(1.3132616875182228, rel=1e-15)
        np.testing.assert_allclose(grad, [[-0.7310585786300049, 0.0, 0.7310585786300049]],
                                   rtol=1e-15)
        loss, _ = cross_entropy_and_grad([[0.0, -inf, 1.0]], [1])     # the target is impossible
        assert loss == inf
        loss, _ = cross_entropy_and_grad([[0.0, -inf, 1.0]], [0], label_smoothing=0.1)
        assert loss == inf                                             # as PyTorch: smoothing
                                                                       # puts mass on -inf


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_cross_entropy_of_huge_float32_logits(kernel_set):
    with mc.backend(kernel_set):
        z = mc.tensor(np.array([[3e38, -3e38, 0.0, 1.0]], dtype=np.float32), requires_grad=True)
        loss = F.cross_entropy(z, np.array([0]))
        assert loss.dtype == np.float32 and float(loss.item()) == 0.0


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_cross_entropy_ignored_rows_do_not_leak_nan(kernel_set):
    with mc.backend(kernel_set):
        loss, grad = cross_entropy_and_grad([[0.0, -inf, 1.0], [1.0, 2.0, 3.0]], [-100, 2])
        assert loss == pytest.approx(0.4076059644443804, rel=1e-15)
        np.testing.assert_array_equal(grad[0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@pytest.mark.parametrize("loss_fn", [F.cross_entropy, F.nll_loss])
def test_every_target_ignored_gives_nan_loss_and_zero_gradient(kernel_set, loss_fn):
    with mc.backend(kernel_set):
        z = mc.tensor(np.array([[0.0, -inf, 1.0]]), requires_grad=True)
        loss = loss_fn(z, np.array([-100]))
        loss.backward()
        assert np.isnan(loss.item())
        np.testing.assert_array_equal(z.grad.numpy(), [[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@pytest.mark.parametrize("values, expected_grad", [
    ([[nan, nan], [1.0, 2.0]], [0.0, 1.0, 0.0, 0.0]),      # PyTorch: the last NaN of the window
    ([[1.0, nan], [nan, 2.0]], [0.0, 0.0, 1.0, 0.0]),
    ([[1.0, 3.0], [3.0, 2.0]], [0.0, 1.0, 0.0, 0.0]),       # ties: the first maximum
])
@pytest.mark.parametrize("pool", ["max_pool2d", "adaptive_max_pool2d"])
def test_one_rule_for_nan_and_ties_in_every_max(kernel_set, values, expected_grad, pool):
    with mc.backend(kernel_set):
        x = mc.tensor(np.array([[values]]), requires_grad=True)
        y = F.max_pool2d(x, 2) if pool == "max_pool2d" else F.adaptive_max_pool2d(x, 1)
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy().ravel(), expected_grad)


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_batch_norm_running_var_is_the_unbiased_batch_variance(kernel_set):
    rng = np.random.default_rng(0)
    x = 5 + 1e-6 * rng.standard_normal((8, 2, 4, 4))
    with mc.backend(kernel_set):
        bn = nn.BatchNorm2d(2, momentum=1.0).double()
        bn(mc.tensor(x))
        expected = x.transpose(1, 0, 2, 3).reshape(2, -1).var(axis=1, ddof=1)
        np.testing.assert_allclose(bn.running_var.numpy(), expected, rtol=1e-14)


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_batch_norm_running_var_of_a_constant_float32_channel_is_zero(kernel_set):
    x = np.full((4, 1, 3, 3), 0.7, dtype=np.float32)
    with mc.backend(kernel_set):
        bn = nn.BatchNorm2d(1, momentum=1.0)
        bn(mc.tensor(x))
        assert bn.running_var.numpy()[0] == 0.0


def test_view_of_a_non_contiguous_tensor_raises_as_pytorch():
    t = mc.tensor(np.arange(12.0).reshape(3, 4)).permute(1, 0)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(12)
    assert t.reshape(12).tolist() == [0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0,
                                      11.0]
    assert t.view(4, 3).shape == (4, 3)               # the same shape is always a view
    contiguous = mc.tensor(np.arange(12.0)).view(3, 4)
    assert contiguous.view(2, 6).shape == (2, 6)


def test_elementwise_ops_are_silent_at_poles_as_pytorch():
    x = mc.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # NumPy's RuntimeWarning would raise
        y = x.log()
        y.sum().backward()
        ratio = mc.tensor(np.array([1.0, 0.0])) / mc.tensor(np.array([0.0, 0.0]))
    assert y.tolist() == [-inf, 0.0] and x.grad.tolist() == [inf, 1.0]
    assert ratio.numpy()[0] == inf and np.isnan(ratio.numpy()[1])


def test_grad_fn_and_min_max_results_are_named_as_pytorch():
    y = mc.tensor(np.array([1.0, 2.0]), requires_grad=True) * 2
    assert repr(y).endswith("grad_fn=<MulBackward0>)")
    assert repr(y.grad_fn).startswith("<MulBackward0 object at 0x")
    rows = mc.tensor(np.array([[1.0, 2.0]]))
    assert type(rows.min(dim=1)).__name__ == "min" and type(rows.max(dim=1)).__name__ == "max"
    assert rows.min(dim=1).indices.tolist() == [0] and rows.max(dim=1).values.tolist() == [2.0]
