"""Tensor.register_post_accumulate_grad_hook: once per backward, as soon as a leaf's gradient
is complete (what DistributedDataParallel starts its reductions from)."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn.functional as F
from checks import assert_gradcheck


def test_a_hook_runs_once_with_the_whole_gradient_before_the_earlier_layers_are_done():
    x = mc.tensor(np.array([1.0, 2.0, 3.0]))
    w1 = mc.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    w2 = mc.tensor(np.array([3.0, 1.0, -2.0]), requires_grad=True)
    events = []
    w1.register_post_accumulate_grad_hook(lambda t: events.append(("w1", t.grad.numpy().copy())))
    w2.register_post_accumulate_grad_hook(
        lambda t: events.append(("w2", t.grad.numpy().copy(), w1.grad)))
    h = x * w1
    # w2 is used twice: its hook waits for both contributions
    loss = (h * w2).sum() + (w2 * w2).sum()
    loss.backward()
    assert [event[0] for event in events] == ["w2", "w1"]
    np.testing.assert_array_equal(events[0][1], x.numpy() * w1.numpy() + 2 * w2.numpy())
    assert events[0][2] is None               # w1's gradient was not computed yet
    np.testing.assert_array_equal(events[1][1], x.numpy() * w2.numpy())


def test_a_removed_hook_stays_silent_and_a_leaf_backward_runs_hooks():
    w = mc.tensor(np.ones(3), requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    w.backward(mc.tensor(np.ones(3)))
    (w * 2).sum().backward()
    assert calls == [1, 1]
    handle.remove()
    (w * 2).sum().backward()
    assert calls == [1, 1]
    np.testing.assert_array_equal(w.grad.numpy(), [5, 5, 5])   # 1 + 2 + 2, accumulated


def test_hooks_are_for_leaves_only():
    y = mc.tensor(np.ones(2), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.register_post_accumulate_grad_hook(lambda t: None)


def test_a_leaf_without_a_gradient_in_this_pass_runs_no_hook():
    a = mc.tensor(np.ones(2), requires_grad=True)
    b = mc.tensor(np.ones(2), requires_grad=True)
    calls = []
    b.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    (a * 2).sum().backward()
    assert calls == []


def test_gradcheck_passes_with_hooks_on_every_input():
    rng = np.random.default_rng(0)
    inputs = [mc.tensor(rng.standard_normal(shape), requires_grad=True)
              for shape in ((2, 2, 5, 5), (3, 2, 3, 3), (3,))]
    seen = []
    for tensor in inputs:
        tensor.register_post_accumulate_grad_hook(lambda t: seen.append(t.shape))
    assert_gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), inputs)
    assert set(seen) == {(2, 2, 5, 5), (3, 2, 3, 3), (3,)}
