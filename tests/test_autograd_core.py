"""The backward pass itself: graph order, accumulation, freeing, grad mode."""

import numpy as np
import pytest

import minicnn as mc


def test_chain_of_a_thousand_ops_backprops_without_recursion():
    x = mc.tensor(np.array([0.5, -1.5]), requires_grad=True)
    y = x
    for _ in range(1000):
        y = y * 1.001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, 1.001 ** 1000), rtol=1e-12)


def test_diamond_graph_sums_both_paths():
    # y = a*b + a*c with b = 2a and c = a^2:  dy/da = 4a + 3a^2
    a = mc.tensor(np.array([1.5, -2.0, 0.25]), requires_grad=True)
    b = a * 2
    c = a ** 2
    y = (a * b + a * c).sum()
    y.backward()
    values = a.numpy()
    np.testing.assert_allclose(a.grad.numpy(), 4 * values + 3 * values ** 2, rtol=1e-12)


def test_gradients_accumulate_across_backward_calls():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


def test_second_backward_through_freed_graph_is_an_error():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_no_grad_records_nothing():
    x = mc.tensor(np.ones(3), requires_grad=True)
    with mc.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    with mc.no_grad(), mc.enable_grad():
        assert (x * 2).requires_grad


def test_backward_needs_a_gradient_for_non_scalars():
    x = mc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    (x * 2).backward(mc.tensor(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_dtypes_follow_pytorch():
    assert mc.tensor([1.0, 2.0]).dtype == np.float32
    assert mc.tensor(np.zeros(2)).dtype == np.float64
    assert mc.tensor([1, 2]).dtype == np.int64
    with pytest.raises(RuntimeError, match="floating-point"):
        mc.tensor([1, 2], requires_grad=True)


def test_float32_input_gets_float32_gradient_from_mixed_graph():
    x = mc.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    (x * mc.tensor(np.ones(2))).sum().backward()
    assert x.grad.dtype == np.float32
