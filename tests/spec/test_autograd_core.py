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


# ----- dtype rules of tensor creation (as torch.tensor and friends) -------------------------

@pytest.mark.parametrize("data, expected", [
    ([1.0, 2.0], np.float32), (1.5, np.float32), ([1, 2.5], np.float32),
    (np.zeros(2), np.float64), (np.float64(1.0), np.float64), (np.zeros(2, np.float32), np.float32),
    ([1, 2], np.int64), (3, np.int64), (np.zeros(2, np.int32), np.int32),
    ([True, False], np.bool_), (True, np.bool_), (np.zeros(2, np.uint8), np.uint8),
])
def test_tensor_dtype_follows_torch(data, expected):
    assert mc.tensor(data).dtype == expected
    torch = pytest.importorskip("torch")
    assert str(torch.tensor(data).dtype) == "torch." + {"bool": "bool"}.get(
        np.dtype(expected).name, np.dtype(expected).name)


def test_tensor_copies_and_from_numpy_shares():
    array = np.zeros(3)
    assert not np.shares_memory(mc.tensor(array).numpy(), array)
    assert np.shares_memory(mc.from_numpy(array).numpy(), array)
    assert mc.tensor([1, 2], dtype=mc.float64).dtype == np.float64


def test_tensor_refuses_non_numeric_data():
    with pytest.raises(TypeError):
        mc.tensor("abc")
    with pytest.raises(TypeError):
        mc.tensor([object()])


def test_creation_functions_follow_torch_dtypes():
    assert mc.zeros(2, 3).dtype == np.float32 and mc.zeros((2, 3)).shape == (2, 3)
    assert mc.ones([4]).shape == (4,) and mc.zeros(()).shape == ()
    assert mc.full((2,), 3).dtype == np.int64
    assert mc.full((2,), 3.0).dtype == np.float32
    assert mc.full((2,), True).dtype == np.bool_
    assert mc.arange(5).dtype == np.int64
    np.testing.assert_array_equal(mc.arange(1, 7, 2).numpy(), [1, 3, 5])
    assert mc.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert mc.randint(10, (3,)).shape == (3,) and mc.randint(10, (3,)).dtype == np.int64
    values = mc.randint(2, 5, (200,)).numpy()
    assert values.min() == 2 and values.max() == 4
    mc.manual_seed(1)
    first = mc.randn(3, 2).numpy()
    mc.manual_seed(1)
    np.testing.assert_array_equal(first, mc.randn(3, 2).numpy())
    assert mc.zeros_like(mc.tensor(np.ones(2))).dtype == np.float64


def test_item_and_bool_need_one_element():
    with pytest.raises(RuntimeError):
        mc.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(mc.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="no values is ambiguous"):
        bool(mc.zeros(0, 3))
    assert mc.tensor([[2.5]]).item() == 2.5 and bool(mc.tensor(1.0))


def test_index_takes_one_integer_element_as_pytorch():
    import operator
    assert operator.index(mc.tensor(3)) == 3 and operator.index(mc.tensor([2])) == 2
    assert operator.index(mc.tensor(True)) == 1 and [10, 20, 30][mc.tensor(1)] == 20
    for bad in (mc.tensor(1.5), mc.tensor([1, 2])):
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            operator.index(bad)


# ----- in-place operations ------------------------------------------------------------------

def test_in_place_change_of_a_saved_tensor_is_caught_at_backward():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = mc.tensor(np.array([3.0, 4.0]))
    y = (x * w).sum()          # Mul saves w for dx = w * dy
    w.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    e = x.exp()                # Exp saves its output
    loss = e.sum()
    with mc.no_grad():
        e.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_in_place_change_of_an_unsaved_tensor_is_fine_as_in_torch():
    x = mc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mc.tensor(np.array([3.0, 4.0]))
    y = (x + b).sum()          # Add saves nothing
    b.fill_(0)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_in_place_ops_on_leaves_and_graph_tensors():
    w = mc.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in "
                                           "an in-place operation"):
        w.add_(1)
    with pytest.raises(RuntimeError):
        w += 1
    with mc.no_grad():
        w.sub_(mc.tensor([0.5, 0.25]), alpha=2)
        w *= 2
    np.testing.assert_array_equal(w.numpy(), [0.0, 1.0])
    # out += identity in a forward pass (as torchvision's residual blocks write it)
    x = mc.tensor(np.array([1.0, -2.0]), requires_grad=True)
    out = x * 3
    out += x
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])
    plain = mc.zeros(2)
    alias = plain
    plain += 1
    assert alias is plain and (alias.numpy() == 1).all()


def test_detach_shares_data_and_version():
    x = mc.tensor(np.ones(2), requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), x.numpy())
    y = x.exp().sum() + (x * d).sum()
    d.fill_(5.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ----- graph freeing ------------------------------------------------------------------------

def test_backward_frees_the_intermediate_tensors():
    import gc
    import weakref
    x = mc.tensor(np.ones(1000), requires_grad=True)
    hidden = (x * 2).exp()
    watch = weakref.ref(hidden)
    loss = (hidden * x).sum()
    del hidden
    gc.collect()
    assert watch() is not None          # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert watch() is None              # freed although the loss is still alive
    assert x.grad is not None


def test_retain_graph_keeps_the_intermediate_tensors():
    import gc
    import weakref
    x = mc.tensor(np.ones(3), requires_grad=True)
    hidden = x.exp()
    watch = weakref.ref(hidden)
    loss = (hidden * x).sum()
    del hidden
    loss.backward(retain_graph=True)
    gc.collect()
    assert watch() is not None
    loss.backward()


def test_shared_subgraph_after_free_is_an_error_as_in_torch():
    x = mc.tensor(np.ones(2), requires_grad=True)
    h = x.exp()
    a, b = (h * 2).sum(), (h * 3).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        b.backward()


def test_gradient_of_a_non_float_output_and_int_inputs():
    x = mc.tensor(np.array([3.0, 1.0, 2.0]), requires_grad=True)
    values, indices = x.max(0)
    assert not indices.requires_grad and values.requires_grad
    with pytest.raises(RuntimeError):
        mc.tensor([1, 2]).sum().backward()


def test_backward_seed_shape_is_checked():
    x = mc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError):
        (x * 2).backward(mc.tensor(np.ones(2)))


def test_broadcast_gradients_are_summed_back_to_each_shape():
    a = mc.tensor(np.ones((2, 1, 3)), requires_grad=True)
    b = mc.tensor(np.arange(4.0).reshape(4, 1), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (2, 1, 3) and b.grad.shape == (4, 1)
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 1, 3), 6.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((4, 1), 6.0))


def test_numpy_takes_tensors_and_ndarray_operands_defer_to_tensor():
    x = mc.tensor(np.array([1.0, 2.0]))
    assert np.asarray(x).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), [1.0, 2.0])
    for result in (np.ones(2) + x, x + np.ones(2), np.float64(2.0) * x):
        assert isinstance(result, mc.Tensor)
    assert x.contiguous() is x
    assert mc.ones(2, 3).t().shape == (3, 2) and mc.ones(3).t().shape == (3,)
    with pytest.raises(ValueError):
        mc.ones(2, 3, 4).t()


def test_no_grad_works_as_a_decorator_too():
    @mc.no_grad()
    def doubled_requires_grad(x):
        return (x * 2).requires_grad

    x = mc.ones(2, requires_grad=True)
    assert doubled_requires_grad(x) is False and doubled_requires_grad(x) is False
    assert (x * 2).requires_grad and mc.is_grad_enabled()


def test_format_of_a_0d_tensor_formats_its_number_as_torch():
    loss = mc.tensor(np.float64(0.123456))
    assert f"{loss:.3f}" == "0.123" and f"{mc.tensor(7):>3d}" == "  7"
    assert f"{mc.tensor([1.0, 2.0])}" == repr(mc.tensor([1.0, 2.0]))
    torch = pytest.importorskip("torch")
    assert f"{loss:.3f}" == f"{torch.tensor(0.123456, dtype=torch.float64):.3f}"


def test_np_array_of_a_tensor_is_a_copy_and_np_asarray_a_view():
    t = mc.tensor(np.zeros(3))
    copied = np.array(t)
    copied[0] = 5.0
    assert t.numpy()[0] == 0.0
    assert np.shares_memory(np.asarray(t), t.numpy())


def test_in_place_change_through_a_view_is_caught_as_in_torch():
    x = mc.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    w = mc.tensor(np.ones((2, 2)), requires_grad=True)
    loss = (w * x).sum()                # Mul saves x
    row = x[0]                          # a view of x
    row.mul_(10)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    flat = x.reshape(-1)
    loss = (w * flat.reshape(2, 2)).sum()
    flat.reshape(2, 2)[1].fill_(0)      # through a view of the saved view
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    copy = x[[0, 1]]                    # advanced indexing copies: no shared count
    loss = (w * x).sum()
    copy.fill_(0)
    loss.backward()
