"""minicnn.utils.gradcheck itself: it passes right gradients, FAILS wrong ones (so the gradient
checks of the other tests can fail), names the worst elements, and samples elements."""

import numpy as np
import pytest

import minicnn as mc
from minicnn.autograd import Function
from minicnn.utils.gradcheck import gradcheck


class Square(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, grad_y):
        # dx = 2 x dy
        x, = self.saved
        return 2 * x * grad_y


class SquareForgetsUpstream(Square):
    """Ignores dy: right only for an all-ones upstream gradient."""

    def backward(self, grad_y):
        x, = self.saved
        return 2 * x


class SquareWrongAtOneElement(Square):
    def backward(self, grad_y):
        x, = self.saved
        grad = 2 * x * grad_y
        grad[1, 2] *= 1.001
        return grad


class AddForgetsBroadcast(Function):
    """a + b with b broadcast, whose backward forgets to sum b's gradient over the batch."""

    def forward(self, a, b):
        return a + b

    def backward(self, grad_y):
        return grad_y, grad_y[:1]


def leaf(shape, seed=0):
    return mc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_right_gradients_pass():
    result = gradcheck(Square.apply, [leaf((3, 4))])
    assert result and result.passed
    assert result.max_rel_error < 1e-8
    assert result.inputs[0].checked == 12
    assert "passed" in str(result)


def test_a_backward_that_ignores_the_upstream_gradient_fails():
    result = gradcheck(SquareForgetsUpstream.apply, [leaf((3, 4))])
    assert not result
    assert "FAILED" in str(result)
    assert result.max_rel_error > 1e-2


def test_a_backward_that_forgets_to_sum_a_broadcast_fails():
    result = gradcheck(AddForgetsBroadcast.apply, [leaf((3, 4)), leaf((1, 4), seed=1)])
    assert not result
    assert result.inputs[0].passed and not result.inputs[1].passed


def test_the_report_names_the_worst_element_with_both_values():
    x = leaf((3, 4))
    result = gradcheck(SquareWrongAtOneElement.apply, [x])
    assert not result
    check = result.inputs[0]
    where, numeric, analytic, rel = check.worst[0]
    assert where == (1, 2)
    assert analytic == pytest.approx(numeric * 1.001, rel=1e-7)
    assert rel == pytest.approx(0.001 / 2.001, rel=1e-4)
    report = str(result)
    assert "(1, 2)" in report and f"{numeric:16.9e}" in report and f"{analytic:16.9e}" in report
    assert all(not w[0] == (1, 2) for w in check.worst[1:])


def test_sampling_checks_the_requested_number_of_elements():
    x = leaf((10, 10))
    first = gradcheck(SquareWrongAtOneElement.apply, [x], max_elements=7, seed=3)
    again = gradcheck(SquareWrongAtOneElement.apply, [x], max_elements=7, seed=3)
    assert first.inputs[0].checked == 7
    assert [w[0] for w in first.inputs[0].worst] == [w[0] for w in again.inputs[0].worst]
    # over many seeds, the one wrong element out of 100 is caught about 7% of the time
    caught = sum(not gradcheck(SquareWrongAtOneElement.apply, [x], max_elements=7, seed=s)
                 for s in range(60))
    assert 0 < caught < 15
    assert gradcheck(Square.apply, [x], max_elements=1000).inputs[0].checked == 100


def test_non_contiguous_inputs_are_perturbed_in_place():
    base = np.random.default_rng(0).standard_normal((4, 3))
    x = mc.tensor(base, requires_grad=True)
    x.array = base.T                      # a transposed view: reshape(-1) would copy
    assert not x.array.flags.c_contiguous
    assert gradcheck(lambda t: (t * t).sum(0) * t[0], [x])
    np.testing.assert_array_equal(x.numpy(), base.T)   # restored exactly


def test_several_outputs_and_inputs_that_pass_through():
    a, b = leaf((2, 3)), leaf((2, 3), seed=1)
    frozen = mc.tensor(np.ones((2, 3)))
    result = gradcheck(lambda x, y, c, k: (x * y * c, (x + k * y).exp()), [a, b, frozen, 2.0])
    assert result
    assert [check.index for check in result.inputs] == [0, 1]


def test_inputs_must_be_float64():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(Square.apply, [mc.tensor(np.ones(3, dtype=np.float32), requires_grad=True)])
    with pytest.raises(ValueError):
        gradcheck(lambda x: x * 2, [mc.tensor(np.ones(3))])


def test_the_relative_error_is_the_cs231n_one():
    # analytic 2x * g against numeric 2x * g * (1 + 1e-3) at one element:
    # |a - n| / max(|a| + |n|, 1e-8)
    result = gradcheck(SquareWrongAtOneElement.apply, [leaf((3, 4))])
    assert result.inputs[0].max_rel_error == pytest.approx(0.001 / 2.001, rel=1e-4)
