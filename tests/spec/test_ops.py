"""Tensor ops (minicnn/ops.py): float64 gradient checks over hypothesis-drawn shapes, and forward
values and gradients compared with PyTorch where it is installed."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from checks import CHECKS, assert_gradcheck, assert_matches_torch, leaves, torch_for, verify

# ----- helpers ------------------------------------------------------------------------------

seeds = st.integers(0, 2 ** 16)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
nonempty_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
pairs_of_broadcastable_shapes = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3)


def values(rng, shape, domain="any"):
    """float64 values away from the kinks of the op under test:
    any: N(0, 1); positive: [0.5, 2]; away_from_zero: |x| in [0.3, 2] with a random sign;
    distinct: a shuffled grid spaced 0.1 apart (no ties for max / min)."""
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "away_from_zero":
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "distinct":
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(0, 0.01, n)).reshape(shape)
    return rng.standard_normal(shape)


# ----- elementwise --------------------------------------------------------------------------

UNARY = {
    # name: (minicnn fn, torch fn name, domain)
    "neg": (lambda x: -x, lambda x: -x, "any"),
    "exp": (mc.exp, lambda x: x.exp(), "any"),
    "log": (mc.log, lambda x: x.log(), "positive"),
    "sqrt": (mc.sqrt, lambda x: x.sqrt(), "positive"),
    "abs": (mc.abs, lambda x: x.abs(), "away_from_zero"),
    "tanh": (mc.tanh, lambda x: x.tanh(), "any"),
    "sigmoid": (mc.sigmoid, lambda x: x.sigmoid(), "any"),
    "pow_scalar": (lambda x: x ** 2.5, lambda x: x ** 2.5, "positive"),
    "pow_int": (lambda x: x ** 3, lambda x: x ** 3, "any"),
    "pow_negative": (lambda x: x ** -1.5, lambda x: x ** -1.5, "positive"),
    "rpow": (lambda x: 1.7 ** x, lambda x: 1.7 ** x, "any"),
    "rsub": (lambda x: 2.0 - x, lambda x: 2.0 - x, "any"),
    "rdiv": (lambda x: 3.0 / x, lambda x: 3.0 / x, "away_from_zero"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_gradcheck(name, shape, seed):
    fn, _, domain = UNARY[name]
    rng = np.random.default_rng(seed)
    assert_gradcheck(fn, leaves(values(rng, shape, domain)))


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_matches_torch(name, shape, seed):
    pytest.importorskip("torch")
    fn, torch_fn, domain = UNARY[name]
    rng = np.random.default_rng(seed)
    assert_matches_torch(fn, torch_fn, [values(rng, shape, domain)], rng)


BINARY = {
    "add": (lambda a, b: a + b, "any"),
    "sub": (lambda a, b: a - b, "any"),
    "mul": (lambda a, b: a * b, "any"),
    "div": (lambda a, b: a / b, "away_from_zero"),
    "pow": (lambda a, b: a ** b, "positive"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs_of_broadcastable_shapes, seed=seeds)
def test_binary_broadcasting_gradcheck(name, shapes, seed):
    fn, domain = BINARY[name]
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    # a ** b needs a > 0; a / b needs b away from 0
    a = values(rng, a_shape, "positive" if name == "pow" else "any")
    b = values(rng, b_shape, domain if name == "div" else "any")
    result = assert_gradcheck(fn, leaves(a, b))
    assert [check.shape for check in result.inputs] == [a_shape, b_shape]


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs_of_broadcastable_shapes, seed=seeds)
def test_binary_broadcasting_matches_torch(name, shapes, seed):
    pytest.importorskip("torch")
    fn, domain = BINARY[name]
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    a = values(rng, a_shape, "positive" if name == "pow" else "any")
    b = values(rng, b_shape, domain if name == "div" else "any")
    assert_matches_torch(fn, fn, [a, b], rng)


def test_pow_gradient_for_the_exponent_at_zero_base_is_zero_as_torch():
    torch = pytest.importorskip("torch")
    a = np.array([0.0, 0.0, 2.0])
    b = np.array([2.0, 0.5, 1.5])
    x, y = leaves(a, b)
    (x ** y).sum().backward()
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (tx ** ty).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_python_number_takes_the_tensor_dtype():
    x = mc.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    for y in (x + 1.5, 1.5 * x, x / 3, 2 - x, x ** 2, 2.0 ** x):
        assert y.dtype == np.float32
    assert (mc.tensor(np.ones(2)) * 2.5).dtype == np.float64


@pytest.mark.parametrize("a_dtype, b, expected", [
    (np.int64, 2.5, np.float32),                        # int tensor * Python float -> float32
    (np.int64, np.ones(2, dtype=np.float32), np.float32),
    (np.float32, np.float64(2.0), np.float32),          # a 0-d tensor does not promote
    (np.int64, np.float64(2.0), np.float64),            # ... unless of a higher category
    (np.int32, 2, np.int32),
    (np.int32, np.int64(2), np.int32),
    (np.float32, np.ones(2), np.float64),
    (np.bool_, True, np.bool_),
])
def test_type_promotion_follows_pytorch(a_dtype, b, expected):
    a = mc.tensor(np.ones(2, dtype=a_dtype))
    other = b if type(b) in (int, float, bool) else mc.tensor(np.asarray(b))
    assert (a * other).dtype == expected
    assert (other * a).dtype == expected
    torch = pytest.importorskip("torch")
    torch_other = b if type(b) in (int, float, bool) else torch.from_numpy(np.asarray(b))
    torch_result = torch.from_numpy(np.ones(2, dtype=a_dtype)) * torch_other
    assert str(torch_result.dtype) == "torch." + {"bool": "bool"}.get(
        np.dtype(expected).name, np.dtype(expected).name)


def test_integer_division_gives_float32_as_torch():
    assert (mc.tensor([1, 2]) / mc.tensor([2, 2])).dtype == np.float32
    np.testing.assert_array_equal((mc.tensor([1, 2]) / 2).numpy(), [0.5, 1.0])


# ----- matmul -------------------------------------------------------------------------------

@st.composite
def matmul_shapes(draw):
    """Shapes of A and B for A @ B: 1-d operands, matrices and broadcast batches."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 3))
    batches = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2))
    a_batch, b_batch = batches.input_shapes
    a_shape = (k,) if draw(st.booleans()) else a_batch + (n, k)
    b_shape = (k,) if draw(st.booleans()) else b_batch + (k, m)
    return a_shape, b_shape


@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_gradcheck(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(s) for s in shapes)
    assert_gradcheck(lambda x, y: x @ y, leaves(a, b))


@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_matches_torch(shapes, seed):
    pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(s) for s in shapes)
    assert_matches_torch(lambda x, y: mc.matmul(x, y), lambda x, y: x @ y, [a, b], rng)


def test_matmul_refuses_0d_and_mismatched_operands():
    with pytest.raises((ValueError, RuntimeError)):
        mc.matmul(mc.tensor(2.0), mc.tensor([1.0]))
    with pytest.raises((ValueError, RuntimeError)):
        mc.tensor(np.ones((2, 3))) @ mc.tensor(np.ones((2, 3)))


# ----- reductions ---------------------------------------------------------------------------

@st.composite
def reduction_case(draw, allow_empty=True):
    shape = draw(shapes if allow_empty else nonempty_shapes)
    ndim = len(shape)
    if ndim == 0 or draw(st.booleans()):
        dim = draw(st.sampled_from([None, 0, -1]) if ndim == 0 else st.just(None))
    elif draw(st.booleans()):
        dim = draw(st.integers(-ndim, ndim - 1))
    else:
        dim = tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
    return shape, dim, draw(st.booleans())


def _reduced_sizes(shape, dim):
    if dim is None or not shape:
        return list(shape)
    dims = (dim,) if isinstance(dim, int) else dim
    return [shape[d] for d in dims]


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(case=reduction_case(), seed=seeds)
def test_sum_mean_gradcheck(name, case, seed):
    shape, dim, keepdim = case
    rng = np.random.default_rng(seed)
    fn = getattr(mc, name)
    x = leaves(rng.standard_normal(shape))
    if name == "mean" and 0 in _reduced_sizes(shape, dim):
        y = fn(x[0], dim=dim, keepdim=keepdim)   # the mean of nothing is nan, as in PyTorch
        assert np.isnan(y.numpy()).all()
        return
    result = assert_gradcheck(lambda t: fn(t, dim=dim, keepdim=keepdim), x)
    assert result.inputs[0].shape == shape


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
@given(case=reduction_case(), seed=seeds)
def test_reductions_match_torch(name, case, seed):
    torch = pytest.importorskip("torch")
    shape, dim, keepdim = case
    rng = np.random.default_rng(seed)
    a = values(rng, shape, "distinct") if 0 not in shape else np.zeros(shape)
    kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    empty = 0 in _reduced_sizes(shape, dim)
    if name in ("amax", "amin") and empty:
        with pytest.raises((IndexError, RuntimeError)) as torch_error:
            getattr(torch, name)(torch.tensor(a), **kwargs)
        with pytest.raises(torch_error.type):
            getattr(mc, name)(mc.tensor(a), **kwargs)
        return
    if name == "mean" and empty:
        return   # nan, checked above
    assert_matches_torch(lambda t: getattr(mc, name)(t, **kwargs),
                         lambda t: getattr(torch, name)(t, **kwargs), [a], rng)


@pytest.mark.parametrize("name", ["amax", "amin"])
@given(case=reduction_case(allow_empty=False), seed=seeds)
def test_amax_amin_gradcheck(name, case, seed):
    shape, dim, keepdim = case
    rng = np.random.default_rng(seed)
    fn = getattr(mc, name)
    assert_gradcheck(lambda t: fn(t, dim=dim, keepdim=keepdim), leaves(values(rng, shape, "distinct")))


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", ["max", "min"])
@given(shape=nonempty_shapes, seed=seeds, keepdim=st.booleans(), data=st.data())
def test_max_min_along_dim(check, name, shape, seed, keepdim, data):
    torch = torch_for(check)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    a = values(rng, shape, "distinct")
    result = getattr(mc, name)(mc.tensor(a), dim, keepdim)
    values_, indices = result
    assert result.values is values_ and result.indices is indices
    assert indices.dtype == np.int64
    verify(check, lambda t: getattr(mc, name)(t, dim, keepdim).values, [a], rng,
           lambda t: getattr(torch, name)(t, dim, keepdim).values)
    verify(check, lambda t: getattr(t, name)(dim=dim, keepdim=keepdim)[0], [a], rng)
    if torch is not None:
        expected = getattr(torch, name)(torch.tensor(a), dim, keepdim)
        np.testing.assert_array_equal(values_.numpy(), expected.values.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())


@pytest.mark.parametrize("name", ["max", "min"])
@given(shape=nonempty_shapes, seed=seeds)
def test_full_max_min_gradcheck(name, shape, seed):
    rng = np.random.default_rng(seed)
    assert_gradcheck(lambda t: getattr(mc, name)(t), leaves(values(rng, shape, "distinct")))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_along_dim_of_a_0d_tensor(name, keepdim):
    x = mc.tensor(np.float64(3.0), requires_grad=True)
    values_, indices = getattr(x, name)(-1, keepdim=keepdim)    # PyTorch: 0-d results, index 0
    assert values_.shape == () and indices.shape == () and int(indices) == 0
    values_.backward(mc.tensor(np.float64(2.0)))
    assert x.grad.item() == 2.0


def test_ties_follow_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, -1.0]])
    for name in ("max", "min"):
        for dim in (0, 1, -1):
            got = getattr(mc, name)(mc.tensor(a), dim)
            expected = getattr(torch, name)(torch.tensor(a), dim)
            np.testing.assert_array_equal(got.indices.numpy(), expected.indices.numpy())
        # along a dim the gradient goes to the first extreme; a full reduction (and amax /
        # amin) shares it evenly among the ties
        for reduce in (lambda t: getattr(t, name)(1)[0], lambda t: getattr(t, name)(),
                       lambda t: getattr(t, "a" + name)(1), lambda t: getattr(t, "a" + name)()):
            assert_matches_torch(reduce, reduce, [a], np.random.default_rng(0))


def test_reductions_of_0d_tensors_accept_dim_0_and_minus_1():
    x = mc.tensor(np.float64(2.0), requires_grad=True)
    for dim in (0, -1):
        assert x.sum(dim).shape == () and x.sum(dim, keepdim=True).shape == ()
        assert x.mean(dim).shape == ()
        values_, indices = x.max(dim)
        assert values_.item() == 2.0 and indices.item() == 0
    with pytest.raises(IndexError):
        x.sum(1)


def test_reduction_errors_follow_torch():
    x = mc.tensor(np.ones((2, 3)))
    with pytest.raises(IndexError):
        x.sum(2)
    with pytest.raises(IndexError):
        x.max(-3)
    with pytest.raises(IndexError):
        mc.max(mc.tensor(np.ones((0, 3))), 0)
    with pytest.raises(RuntimeError):
        mc.tensor(np.ones((0, 3))).max()
    with pytest.raises(RuntimeError):
        mc.tensor([1, 2]).mean()


def test_numpy_aliases_axis_and_keepdims():
    x = mc.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(axis=1, keepdims=True).numpy(), [[3.0], [12.0]])


# ----- shape ops ----------------------------------------------------------------------------

@pytest.mark.parametrize("check", CHECKS)
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape_permute_transpose(check, shape, seed, data):
    torch_for(check)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    new_shape = tuple(reversed(shape)) + (1,)
    perm = data.draw(st.permutations(range(len(shape))))
    verify(check, lambda t: t.reshape(new_shape) * 1.0, [a], rng)
    verify(check, lambda t: t.view(-1), [a], rng)
    verify(check, lambda t: t.permute(perm), [a], rng)
    if check == "gradcheck":   # PyTorch refuses these two forms for some shapes
        verify(check, lambda t: t.permute(*perm), [a], rng)
        verify(check, lambda t: t.T, [a], rng)
    if len(shape) >= 1:
        d0, d1 = data.draw(st.integers(-len(shape), len(shape) - 1)), data.draw(st.integers(0, len(shape) - 1))
        verify(check, lambda t: t.transpose(d0, d1), [a], rng)


@pytest.mark.parametrize("check", CHECKS)
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_flatten_squeeze_unsqueeze(check, shape, seed, data):
    torch_for(check)
    ndim = len(shape)
    start = data.draw(st.integers(-ndim, ndim - 1))
    end = data.draw(st.integers(start % ndim, ndim - 1))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    new_dim = data.draw(st.integers(-ndim - 1, ndim))
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    for fn in (lambda t: t.flatten(start, end), lambda t: t.flatten(), lambda t: t.squeeze(),
               lambda t: t.squeeze(dim), lambda t: t.unsqueeze(new_dim)):
        verify(check, fn, [a], rng)
    verify(check, mc.flatten, [a], rng, lambda t: t.flatten())


def test_shape_op_errors_follow_torch():
    x = mc.tensor(np.ones((2, 3, 4)))
    with pytest.raises(RuntimeError):
        x.flatten(2, 1)
    with pytest.raises(IndexError):
        x.squeeze(3)
    with pytest.raises(IndexError):
        x.unsqueeze(4)
    with pytest.raises(IndexError):
        x.transpose(0, 3)
    with pytest.raises((ValueError, RuntimeError)):
        x.permute(0, 0, 1)
    with pytest.raises((ValueError, RuntimeError)):
        x.permute(0, 1)
    with pytest.raises((ValueError, RuntimeError)):
        x.reshape(5)


def test_squeeze_with_a_tuple_of_dims():
    x = mc.tensor(np.ones((1, 2, 1, 1)))
    assert x.squeeze((0, 2)).shape == (2, 1)
    assert x.squeeze(1).shape == (1, 2, 1, 1)


# ----- indexing -----------------------------------------------------------------------------

INDICES = {
    "int": lambda s: 1,
    "negative_int": lambda s: -1,
    "slice": lambda s: slice(1, None),
    "strided_slice": lambda s: (slice(None), slice(None, None, 2)),
    "reversed": lambda s: slice(None, None, -1),
    "ellipsis": lambda s: (Ellipsis, 0),
    "none": lambda s: (None, slice(0, 2), None),
    "int_array_repeats": lambda s: np.array([0, 2, 0, 0]),
    "list_repeats": lambda s: [2, 2, 1],
    "tensor_index": lambda s: mc.tensor([1, 1, 0]),
    "two_arrays": lambda s: (np.array([0, 2, 2]), np.array([1, 1, 3])),
    "array_and_slice": lambda s: (slice(None), np.array([[3, 0], [3, 3]])),
    "bool_mask": lambda s: np.random.default_rng(1).random(s) > 0.4,
    "bool_rows": lambda s: np.array([True, False, True]),
    "mixed": lambda s: (np.array([2, 0, 2]), slice(1, 3)),
}


@pytest.mark.parametrize("name", sorted(INDICES))
@given(seed=seeds)
def test_indexing_gradcheck(name, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, 4))
    index = INDICES[name](a.shape)
    assert_gradcheck(lambda t: t[index], leaves(a))


@pytest.mark.parametrize("name", sorted(INDICES))
def test_indexing_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    index = INDICES[name](a.shape)

    def to_torch(i):
        if isinstance(i, tuple):
            return tuple(to_torch(j) for j in i)
        if isinstance(i, mc.Tensor):
            return torch.from_numpy(i.numpy())
        return torch.from_numpy(i) if isinstance(i, np.ndarray) else i

    if name == "reversed":   # torch has no negative steps; flip is the same selection
        assert_matches_torch(lambda t: t[index], lambda t: t.flip(0), [a], rng)
        return
    assert_matches_torch(lambda t: t[index], lambda t: t[to_torch(index)], [a], rng)


def test_out_of_range_index_is_an_index_error():
    with pytest.raises(IndexError):
        mc.tensor(np.ones((2, 3)))[2]
    with pytest.raises(IndexError):
        mc.tensor(np.ones((2, 3)))[mc.tensor([0.5])]


def test_setitem_writes_in_place_outside_the_graph():
    x = mc.zeros(2, 3)
    x[0, 1:] = 5.0
    x[1] = mc.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x.numpy(), [[0, 5, 5], [1, 2, 3]])
    w = mc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError):
        w[0] = 2.0
    with mc.no_grad():
        w[0] = 2.0
    assert w.numpy()[0] == 2.0


# ----- cat and stack ------------------------------------------------------------------------

@pytest.mark.parametrize("check", CHECKS)
@given(shape=nonempty_shapes, seed=seeds, count=st.integers(1, 3), data=st.data())
def test_cat_stack(check, shape, seed, count, data):
    torch = torch_for(check)
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1))
    stack_dim = data.draw(st.integers(-ndim - 1, ndim))
    rng = np.random.default_rng(seed)
    cat_arrays = []
    for _ in range(count):
        piece = list(shape)
        piece[dim] = data.draw(st.integers(0, 3))
        cat_arrays.append(rng.standard_normal(piece))
    stack_arrays = [rng.standard_normal(shape) for _ in range(count)]
    verify(check, lambda *ts: mc.cat(ts, dim), cat_arrays, rng, lambda *ts: torch.cat(ts, dim))
    verify(check, lambda *ts: mc.stack(list(ts), stack_dim), stack_arrays, rng,
           lambda *ts: torch.stack(ts, stack_dim))


def test_cat_errors_follow_torch():
    with pytest.raises(RuntimeError):
        mc.cat([mc.tensor(1.0), mc.tensor(2.0)])
    with pytest.raises(IndexError):
        mc.cat([mc.tensor([1.0]), mc.tensor([2.0])], dim=1)
    with pytest.raises(IndexError):
        mc.stack([mc.tensor([1.0]), mc.tensor([2.0])], dim=3)
    with pytest.raises((ValueError, RuntimeError)):
        mc.cat([mc.zeros(2, 3), mc.zeros(2, 4)])
    with pytest.raises((ValueError, RuntimeError)):
        mc.cat([])


# ----- a composite, as a layer would use the ops --------------------------------------------

@given(seed=seeds)
def test_composite_expression_gradcheck(seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)

    def f(x, w, b):
        h = (x @ w + b).tanh()
        return (h * h).sum(1, keepdim=True) / (1 + h.abs().mean()) + mc.cat([h, x[:, :1]], 1).exp()

    assert_gradcheck(f, leaves(x, w, b))


def test_pow_gradients_at_the_limits_follow_torch():
    pytest.importorskip("torch")
    a, b = np.array([0.0, 0.0, 1.0, 0.0]), np.array([-1.0, 0.0, 2.0, 2.0])
    assert_matches_torch(lambda x, y: x ** y, lambda x, y: x ** y, [a, b], np.random.default_rng(0))
    assert_matches_torch(lambda x: x ** 0, lambda x: x ** 0, [a], np.random.default_rng(0))


def test_floating_functions_of_integers_give_float32_as_torch():
    for fn in (mc.exp, mc.log, mc.sqrt, mc.tanh, mc.sigmoid):
        assert fn(mc.tensor([1, 2])).dtype == np.float32
    assert mc.abs(mc.tensor([-1, 2])).dtype == np.int64
    assert mc.cat([mc.tensor([1]), mc.tensor([2.0])]).dtype == np.float32
    assert mc.stack([mc.tensor([1]), mc.tensor(np.array([2.0]))]).dtype == np.float64


def test_an_empty_dim_list_reduces_every_dim_as_torch():
    x = mc.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=()).item() == 15.0 and x.mean(dim=[]).item() == 2.5
    assert x.amax(dim=()).item() == 5.0


@pytest.mark.parametrize("case", ["reshape", "reshape_two_inferred", "reshape_zero", "matmul",
                                  "broadcast", "cat", "stack", "permute"])
def test_shape_errors_are_value_errors_and_runtime_errors_as_torch(case):
    x = mc.ones(2, 3)
    calls = {
        "reshape": lambda lib, t: t.reshape(4),
        "reshape_two_inferred": lambda lib, t: t.reshape(-1, -1),
        "reshape_zero": lambda lib, t: lib.zeros(0, 3).reshape(0, -1),
        "matmul": lambda lib, t: t @ lib.ones(2, 3),
        "broadcast": lambda lib, t: t + lib.ones(4),
        "cat": lambda lib, t: lib.cat([t, lib.ones(2, 4)]),
        "stack": lambda lib, t: lib.stack([t, lib.ones(3, 2)]),
        "permute": lambda lib, t: t.permute(0, 0),
    }
    with pytest.raises(ValueError):
        calls[case](mc, x)
    with pytest.raises(RuntimeError):
        calls[case](mc, x)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        calls[case](torch, torch.ones(2, 3))


@given(shape=shapes, seed=seeds)
def test_reshape_accepts_every_valid_inferred_shape(shape, seed):
    x = mc.tensor(np.random.default_rng(seed).standard_normal(shape))
    n = x.numel()
    assert x.reshape(-1).shape == (n,)
    assert x.reshape(n, 1).shape == (n, 1)
    if n:
        assert x.reshape(1, -1, 1).shape == (1, n, 1)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(shapes=pairs_of_broadcastable_shapes, seed=seeds)
def test_maximum_minimum(check, name, shapes, seed):
    torch = torch_for(check)
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)   # ties have probability 0
    verify(check, getattr(mc, name), [a, b], rng, lambda x, y: getattr(torch, name)(x, y))
    other_form = {"maximum": "max", "minimum": "min"}[name]
    verify(check, lambda x, y: getattr(mc, other_form)(x, y), [a, b], rng,
           lambda x, y: getattr(torch, other_form)(x, y))


def test_maximum_shares_the_gradient_of_ties_as_torch():
    pytest.importorskip("torch")
    import torch
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])
    for name in ("maximum", "minimum"):
        assert_matches_torch(getattr(mc, name), getattr(torch, name), [a, b], np.random.default_rng(0))


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_pass_the_gradient_to_both_inputs_at_a_nan(op):
    # PyTorch: d max(a, b)/da is 0 where a < b, 1/2 on a tie, else 1; a NaN compares false, so
    # both inputs get the whole gradient there (torch 2.13: grads [1, 2, 1.5, *] below)
    a = mc.tensor([float("nan"), 1.0, 2.0, 3.0], requires_grad=True)
    b = mc.tensor([0.0, float("nan"), 2.0, 1.0], requires_grad=True)
    getattr(mc, op)(a, b).backward(mc.tensor([1.0, 2.0, 3.0, 4.0]))
    winner_is_a = op == "maximum"
    assert a.grad.tolist() == [1.0, 2.0, 1.5, 4.0 if winner_is_a else 0.0]
    assert b.grad.tolist() == [1.0, 2.0, 1.5, 0.0 if winner_is_a else 4.0]
