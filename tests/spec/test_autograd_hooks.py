"""Hooks and the rest of torch.autograd: register_post_accumulate_grad_hook (once per backward,
as soon as a leaf's gradient is complete: what DistributedDataParallel starts its reductions
from), register_hook, retain_grad, autograd.grad, set_grad_enabled and inference_mode."""

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


# ----- register_hook, retain_grad, autograd.grad, set_grad_enabled, inference_mode -------------

def test_register_hook_sees_and_replaces_gradients_as_pytorch():
    x = mc.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = y.register_hook(lambda g: g * 10)            # replaces dy on its way to x
    x.register_hook(lambda g: g + 1)                      # a leaf: before .grad is accumulated
    (y * mc.tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    np.testing.assert_array_equal(seen[0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [21.0, 41.0, 61.0])
    handle.remove()
    x.grad = None
    y = x * 2
    (y * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't "
                                           "require gradient"):
        mc.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="changed the size"):
        z = x * 1
        z.register_hook(lambda g: g.sum())
        z.sum().backward()


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = mc.tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x * 3
    assert not y.retains_grad
    y.retain_grad()
    assert y.retains_grad
    (y ** 2).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, -12.0])
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, -36.0])
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has "
                                           "requires_grad=False"):
        mc.tensor([1.0]).retain_grad()


def test_autograd_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = mc.tensor(np.array([3.0, 4.0]), requires_grad=True)
    x.grad = mc.tensor(np.array([100.0, 100.0]))
    hidden = x * w
    loss = (hidden ** 2).sum()
    gx, gh = mc.autograd.grad(loss, [x, hidden], retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), 2 * (1.0 * 9.0) * np.array([1.0, 0.0])
                                  + 2 * np.array([0.0, 2.0 * 16.0]))
    np.testing.assert_array_equal(gh.numpy(), 2 * np.array([3.0, 8.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 100.0])
    assert w.grad is None
    (gw,) = mc.autograd.grad([loss, hidden.sum()], w, allow_unused=False)
    np.testing.assert_array_equal(gw.numpy(), 2 * np.array([1.0 * 3.0, 4.0 * 4.0])
                                  + np.array([1.0, 2.0]))
    unused = mc.tensor(np.array([1.0]), requires_grad=True)
    loss = (x * w).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        mc.autograd.grad(loss, [unused], retain_graph=True)
    assert mc.autograd.grad(loss, [unused], allow_unused=True, retain_graph=True) == (None,)
    (zeros,) = mc.autograd.grad(loss, [unused], materialize_grads=True)
    np.testing.assert_array_equal(zeros.numpy(), [0.0])
    with pytest.raises(NotImplementedError, match="create_graph"):
        mc.autograd.grad((x * w).sum(), [x], create_graph=True)


def test_autograd_grad_against_pytorch():
    torch = pytest.importorskip("torch")
    values = np.array([[0.5, -1.5], [2.0, 0.25]])
    upstream = np.array([[1.0, -2.0], [0.5, 3.0]])
    x = mc.tensor(values, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    ours = mc.autograd.grad((x.exp() * x).sum(0), x, grad_outputs=mc.tensor(upstream[0]))
    theirs = torch.autograd.grad((tx.exp() * tx).sum(0), tx,
                                 grad_outputs=torch.tensor(upstream[0]))
    np.testing.assert_allclose(ours[0].numpy(), theirs[0].numpy(), rtol=1e-12)


def test_set_grad_enabled_and_inference_mode():
    x = mc.tensor(np.array([1.0]), requires_grad=True)
    with mc.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with mc.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert mc.is_grad_enabled()
    mc.set_grad_enabled(False)          # a call takes effect at once, as in PyTorch
    try:
        assert not mc.is_grad_enabled()
    finally:
        mc.set_grad_enabled(True)
    with mc.inference_mode():
        assert not (x * 2).requires_grad
    with mc.inference_mode(False):
        assert (x * 2).requires_grad

    @mc.inference_mode()
    def predict(value):
        return value * 2
    assert not predict(x).requires_grad
