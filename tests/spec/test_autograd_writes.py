"""Autograd sees every write, as PyTorch's does (issue: version counters, recorded in-place
writes, the Tensor protocol).

- A value saved for backward and written afterwards (an optimizer step, nn.init,
  load_state_dict, zero_grad, an in-place op) makes backward raise PyTorch's RuntimeError.
- A write of values that require grad into any tensor (setitem, +=, add_, copy_, through a
  view) is recorded, and the gradient reaches both sides (checked numerically in float64).
- Iteration, ``in``, format and requires_grad follow PyTorch; a full max() / min() shares its
  gradient among ties and NaNs as PyTorch does; concurrent backward passes add up.

Each case runs on every kernel set that is built, in float32 and float64, and against PyTorch
where it is installed (fixed expected values otherwise).
"""

import sys
import threading

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.backend import ckernels
from minicnn.optim import SGD, Adam, AdamW, RMSprop
from minicnn.utils.gradcheck import gradcheck

try:
    import torch
except ImportError:
    torch = None

KERNEL_SETS = ["numpy"] + (["c"] if ckernels.available() else [])
DTYPES = [np.float32, np.float64]
SAVED_VALUE_CHANGED = "modified by an inplace operation"


@pytest.fixture(autouse=True, params=KERNEL_SETS)
def kernel_set(request):
    with mc.backend(request.param):
        yield request.param


def tensor(values, dtype=np.float64, requires_grad=False):
    return mc.tensor(np.asarray(values, dtype=dtype), requires_grad=requires_grad)


def torch_error(fn):
    """The message of the RuntimeError that ``fn`` raises in PyTorch (None without PyTorch)."""
    if torch is None:
        return None
    with pytest.raises(RuntimeError) as raised:
        fn()
    return str(raised.value)


# ----- a saved value written between forward and backward raises ------------------------------

def discriminator(dtype):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    return model.to(dtype), tensor(rng.standard_normal((5, 4)), dtype, requires_grad=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", [SGD, Adam, AdamW, RMSprop])
def test_the_gan_pattern_raises_as_pytorch(optimizer, dtype):
    # the generator's loss goes through the discriminator, whose step comes before its backward
    model, fake = discriminator(dtype)
    generator_loss = model(fake).sum()
    (model(fake.detach()) ** 2).mean().backward()
    optimizer(model.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match=SAVED_VALUE_CHANGED + r".* is at version (\d+); "
                                           r"expected version (\d+) instead") as raised:
        generator_loss.backward()
    assert raised.match(r"Linear's backward")

    def in_torch():
        linear = torch.nn.Linear(4, 1)
        x = torch.randn(5, 4, requires_grad=True)
        loss = linear(x).sum()
        linear(x.detach()).sum().backward()
        getattr(torch.optim, optimizer.__name__)(linear.parameters(), lr=0.1).step()
        loss.backward()
    expected = torch_error(in_torch)
    assert expected is None or SAVED_VALUE_CHANGED in expected


def test_the_message_names_the_tensor_as_pytorch():
    x = tensor([1.0, 2.0, 3.0], np.float32, requires_grad=True)
    w = tensor([1.0, 2.0, 3.0], np.float32, requires_grad=True)
    loss = (x * w).sum()
    with mc.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError) as raised:
        loss.backward()
    ours = str(raised.value).split(" Hint")[0]
    assert ours == ("one of the variables needed for gradient computation has been modified by "
                    "an inplace operation: [torch.FloatTensor [3]] is at version 1; expected "
                    "version 0 instead.")
    y = x.exp()
    loss = y.sum()
    with mc.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match=r"\[torch.FloatTensor \[3\]\], which is output 0 "
                                           r"of Exp, is at version 1; expected version 0"):
        loss.backward()
    if torch is not None:
        def in_torch():
            tx = torch.ones(3, requires_grad=True)
            tw = torch.ones(3, requires_grad=True)
            tl = (tx * tw).sum()
            with torch.no_grad():
                tw.mul_(2)
            tl.backward()
        assert torch_error(in_torch).split(" Hint")[0] == ours


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("write", ["load_state_dict", "init", "zero_grad", "copy_", "setitem"])
def test_writes_outside_the_tensor_methods_are_seen(write, dtype):
    model, x = discriminator(dtype)
    loss = model(x).sum()
    first = model[0]
    if write == "load_state_dict":
        model.load_state_dict(discriminator(dtype)[0].state_dict())
    elif write == "init":
        nn.init.kaiming_uniform_(first.weight)
    elif write == "zero_grad":
        # a gradient that a second graph reads, zeroed in place before that graph's backward
        first.weight.grad = mc.zeros(*first.weight.shape, dtype=dtype)
        loss = (x.sum() * first.weight.grad).sum() + loss
        model.zero_grad(set_to_none=False)
    elif write == "copy_":
        with mc.no_grad():
            first.weight.copy_(mc.zeros(*first.weight.shape, dtype=dtype))
    else:
        with mc.no_grad():
            first.weight[0, 0] = 5.0
    with pytest.raises(RuntimeError, match=SAVED_VALUE_CHANGED):
        loss.backward()


def test_a_write_that_backward_does_not_read_is_fine_as_in_pytorch():
    # dw = x * dy reads x only: with x not requiring grad, w is not saved
    x = tensor([1.0, 2.0, 3.0])
    w = tensor([4.0, 5.0, 6.0], requires_grad=True)
    loss = (x * w).sum() + F.linear(x[None], w[None]).sum()
    with mc.no_grad():
        w.add_(1)
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0, 6.0])
    y = w * 2
    y += 1                       # Mul saved w, not y: nothing it reads changed
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 6.0, 8.0])


def test_the_data_attribute_writes_without_counting_as_pytorch():
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor([3.0, 4.0], requires_grad=True)
    loss = (x * w).sum()
    w.data.mul_(2)               # .data is PyTorch's way around the check; detach() is not
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 8.0])
    loss = (x * w).sum()
    w.detach().mul_(2)
    with pytest.raises(RuntimeError, match=SAVED_VALUE_CHANGED):
        loss.backward()


# ----- writes of values that require grad are recorded ------------------------------------------

WRITES = {
    "setitem": lambda buffer, w: buffer.__setitem__(0, (w * 2).sum()),
    "setitem_slice": lambda buffer, w: buffer.__setitem__(slice(1, 4), w[:3] * w[2:]),
    "iadd": lambda buffer, w: buffer.__iadd__(w),
    "add_": lambda buffer, w: buffer.add_(w, alpha=3),
    "copy_": lambda buffer, w: buffer.copy_(w * 2),
    "mul_": lambda buffer, w: buffer.add_(1).mul_(w),
    "index_iadd": lambda buffer, w: buffer.__setitem__(1, buffer[1] + w[2] * w[3]),
    "view_copy_": lambda buffer, w: buffer[2:].copy_(w[:3].exp()),
    "view_iadd": lambda buffer, w: buffer.reshape(1, 5)[0, 1:].add_(w[1:] ** 2),
}


def written(name, w, lib):
    """The buffer after the write ``name`` of values computed from w, times fixed weights."""
    if lib is mc:
        buffer = mc.zeros(5, dtype=w.dtype)
    else:
        buffer = torch.zeros(5, dtype=w.dtype)
    WRITES[name](buffer, w)
    weights = np.arange(1.0, 6.0)
    return buffer * (mc.tensor(weights, dtype=w.dtype) if lib is mc
                     else torch.tensor(weights, dtype=w.dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_into_a_buffer_carries_the_gradient(name, dtype):
    values = np.array([0.5, -1.0, 1.5, 2.0, -0.25])
    w = tensor(values, dtype, requires_grad=True)
    out = written(name, w, mc)
    assert out.requires_grad
    out.sum().backward()
    if torch is not None:
        tw = torch.tensor(values, dtype=torch.float32 if dtype == np.float32 else torch.float64,
                          requires_grad=True)
        torch_out = written(name, tw, torch)
        torch_out.sum().backward()
        tol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out.detach().numpy(), torch_out.detach().numpy(), rtol=tol)
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=tol)
    assert np.any(w.grad.numpy() != 0)


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_into_a_buffer_passes_a_float64_gradient_check(name):
    w = tensor([0.5, -1.0, 1.5, 2.0, -0.25], requires_grad=True)
    assert gradcheck(lambda w: written(name, w, mc), [w])


def test_the_fixed_gradients_of_the_issue_cases():
    w = tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = mc.zeros(3, dtype=np.float64)
    out[0] = (w * 2).sum()
    v = tensor([5.0, 6.0, 7.0])
    (out * v).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [10.0, 10.0, 10.0])
    acc = mc.zeros(3, dtype=np.float64)
    acc += w
    acc.add_(w)
    w.grad = None
    (acc * tensor([0.0, 1.0, 2.0])).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 2.0, 4.0])
    assert not acc.is_leaf and type(acc.grad_fn).__name__ == "CopySlices"


def test_a_reduction_built_by_index_assignment():
    x = tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    total = mc.zeros(5, dtype=np.float64)
    for i in range(5):
        total[i] = (x[i] ** 2).sum()
    total.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.arange(10.0).reshape(5, 2))


def test_in_place_on_a_non_leaf_updates_every_alias_and_the_graph():
    x = tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 2
    alias = y
    y += 1
    assert alias is y and y.numpy().tolist() == [3.0, -3.0, 7.0]
    y.mul_(x)                     # y = (2x + 1) x: dy/dx = 4x + 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, -7.0, 13.0])


def test_in_place_on_a_value_backward_needs_raises():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()                   # Exp reads its output
    y += 1
    with pytest.raises(RuntimeError, match="output 0 of Exp, is at version 1"):
        y.sum().backward()
    z = F.relu(x * 1)             # ReLU reads its output too (PyTorch: same)
    z[0] = 0.0
    with pytest.raises(RuntimeError, match=SAVED_VALUE_CHANGED):
        z.sum().backward()


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = tensor([1.0, 2.0], requires_grad=True)
    for write in (lambda: w.add_(1), lambda: w.__setitem__(0, 3.0), lambda: w.copy_(w * 2),
                  lambda: w.zero_()):
        with pytest.raises(RuntimeError, match="^a leaf Variable that requires grad is being "
                                               "used in an in-place operation.$"):
            write()
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad"):
        w[0:1].add_(1)
    with mc.no_grad():
        w[0] = 7.0
        w.add_(1)
    np.testing.assert_array_equal(w.numpy(), [8.0, 3.0])
    assert w.is_leaf and w.grad_fn is None


def test_in_place_dtype_and_shape_rules_as_pytorch():
    counts = mc.tensor(np.zeros(3, dtype=np.int64))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        counts += 1.5
    counts[0] = 2.7               # setitem and copy_ cast as PyTorch's copy_ does
    assert counts.numpy().tolist() == [2, 0, 0]
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast"):
        counts.add_(mc.tensor(np.ones((2, 3), dtype=np.int64)))
    with pytest.raises(RuntimeError, match="broadcast"):     # PyTorch: RuntimeError too
        counts.copy_(mc.tensor(np.ones(2, dtype=np.int64)))


# ----- the Tensor protocol ---------------------------------------------------------------------

def test_iteration_as_pytorch():
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(mc.tensor(1.0))
    with pytest.raises(TypeError):
        sum(mc.tensor(1.0))
    x = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert [r.shape for r in rows] == [(2,), (2,)] and len(rows) == len(x) == 2
    assert [float(e) for e in x[0]] == [1.0, 2.0]
    sum(row.sum() * k for k, row in enumerate(x, start=1)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [2.0, 2.0]])
    a, b = mc.tensor([5, 6])
    assert (int(a), int(b)) == (5, 6)


def test_contains_format_bool_and_index_as_pytorch():
    x = mc.tensor([1.0, 2.0])
    assert 2.0 in x and 3 not in x and mc.tensor(1.0) in x
    with pytest.raises(RuntimeError, match="Tensor.__contains__ only supports Tensor or scalar"):
        "a" in x
    assert f"{mc.tensor(0.5):.2f}" == "0.50" and format(x, "") == str(x)
    with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
        f"{x:.2f}"
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    assert [10, 20, 30][mc.tensor(1)] == 20
    with pytest.raises(TypeError):
        [10, 20][mc.tensor(1.0)]


def test_requires_grad_of_a_non_leaf_as_pytorch():
    x = tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables.* "
                                           "var.detach"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad = True
    assert y.requires_grad_(True) is y and y.requires_grad
    x.requires_grad = False       # a leaf may change it
    assert not x.requires_grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_a_full_max_shares_its_gradient_among_ties_and_nans_as_pytorch(reduce, dtype):
    cases = {"ties": [3.0, 1.0, 3.0, 2.0] if reduce == "max" else [1.0, 3.0, 1.0, 2.0],
             "nans": [1.0, np.nan, 3.0, np.nan]}
    expected = {"ties": [0.5, 0.0, 0.5, 0.0], "nans": [0.0, 0.5, 0.0, 0.5]}
    for case, values in cases.items():
        x = tensor(values, dtype, requires_grad=True)
        getattr(x, reduce)().backward()
        np.testing.assert_array_equal(x.grad.numpy(), expected[case])
        if torch is not None:
            tx = torch.tensor(values, dtype=getattr(torch, np.dtype(dtype).name),
                              requires_grad=True)
            getattr(tx, reduce)().backward()
            np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    x = tensor([1.0, np.nan], dtype, requires_grad=True)
    x.amax().backward()          # amax keeps PyTorch's NaN gradient
    assert np.isnan(x.grad.numpy()).all()


# ----- concurrent backward passes --------------------------------------------------------------

def test_concurrent_backward_passes_on_one_model_add_up():
    rng = np.random.default_rng(0)
    # large enough that NumPy releases the GIL while it adds a gradient
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 4)).double()
    inputs = [tensor(rng.standard_normal((3, 256))) for _ in range(4)]
    for x in inputs:
        model(x).sum().backward()
    expected = [p.grad.numpy().copy() for p in model.parameters()]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)           # switch threads as often as possible
    try:
        for trial in range(20):
            model.zero_grad()
            barrier = threading.Barrier(len(inputs))

            def work(x):
                barrier.wait()
                for _ in range(5):
                    model(x).sum().backward()
            threads = [threading.Thread(target=work, args=(x,)) for x in inputs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for p, want in zip(model.parameters(), expected):
                np.testing.assert_allclose(p.grad.numpy(), 5 * want, rtol=1e-9, atol=1e-12,
                                           err_msg=f"trial {trial}")
    finally:
        sys.setswitchinterval(switch)


# ----- random sequences of writes, against PyTorch ----------------------------------------------

SEQUENCE_STEPS = {
    "set a row": lambda buf, h, w, i: buf.__setitem__(i, h[i % 3] * 2),
    "+= into a row": lambda buf, h, w, i: buf[i].__iadd__(w[i % 3]),
    "copy_ into a column": lambda buf, h, w, i: buf[:, i % 3].copy_(h[i % 3, i % 3] + w[0, 0]),
    "scale the buffer": lambda buf, h, w, i: buf.mul_(1.0 + 0.1 * i),
    "+= into an intermediate": lambda buf, h, w, i: h.__iadd__(buf[:3] * 0.5),
    "set an intermediate element": lambda buf, h, w, i: h.__setitem__((i % 3, i % 3),
                                                                       buf[i].sum()),
    "add_ through a flat view": lambda buf, h, w, i: buf.reshape(12)[i:i + 3].add_(h[i % 3]),
    "add_ through a transpose": lambda buf, h, w, i: buf.T[i % 3].add_(w[0, :1].sum()),
}


def run_sequence(lib, steps, w0, first):
    """Apply ``steps`` to a zeros buffer and an intermediate of w; the loss and w's gradient (or
    the error's type)."""
    if lib is mc:
        w = mc.tensor(w0, requires_grad=True)
        buf = mc.zeros(4, 3, dtype=np.float64)
        weights = mc.tensor(np.arange(12.0).reshape(4, 3))
    else:
        w = torch.tensor(w0, requires_grad=True)
        buf = torch.zeros(4, 3, dtype=torch.float64)
        weights = torch.arange(12.0, dtype=torch.float64).reshape(4, 3)
    h = w.exp() if first == "exp" else w * 1.5       # Exp reads its output; Mul does not
    try:
        for name, i in steps:
            SEQUENCE_STEPS[name](buf, h, w, i)
        loss = (buf * weights).sum() + (h ** 2).sum()
        loss.backward()
    except RuntimeError as error:
        return type(error).__name__, SAVED_VALUE_CHANGED in str(error)
    return float(loss.detach().numpy()), w.grad.numpy()


@pytest.mark.skipif(torch is None, reason="compares with PyTorch")
@pytest.mark.parametrize("first", ["mul", "exp"])
def test_random_sequences_of_writes_give_pytorch_values_gradients_and_errors(first):
    rng = np.random.default_rng(7)
    names = sorted(SEQUENCE_STEPS)
    for trial in range(60):
        steps = [(names[rng.integers(len(names))], int(rng.integers(4)))
                 for _ in range(rng.integers(1, 6))]
        w0 = rng.standard_normal((3, 3))
        ours, theirs = run_sequence(mc, steps, w0, first), run_sequence(torch, steps, w0, first)
        if isinstance(theirs[0], str):
            assert ours == theirs, (steps, ours, theirs)
        else:
            np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, err_msg=str(steps))
            np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, atol=1e-12,
                                       err_msg=str(steps))


# ----- cases an independent tester found (each fails on the first version of this work) --------

def test_a_view_taken_before_a_write_to_its_base_sees_the_new_graph():
    w = tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 1
    v = h[1:]
    h[1] = 0.0                    # through the base: v's element 0 no longer depends on w
    v.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0, 1.0])
    w = tensor([[1.0, 2.0]], requires_grad=True)
    h = w * 1
    h[:, 0], h[:, 1] = h[:, 1], h[:, 0]          # the swap idiom (PyTorch: [[2, 2]], [[0, 110]])
    (h * tensor([[10.0, 100.0]])).sum().backward()
    np.testing.assert_array_equal(h.detach().numpy(), [[2.0, 2.0]])
    np.testing.assert_array_equal(w.grad.numpy(), [[0.0, 110.0]])


def test_a_view_of_a_plain_buffer_joins_the_graph_when_the_buffer_does():
    u = tensor([0.5, 0.25, 2.0], requires_grad=True)
    z = mc.ones(3, dtype=np.float64)
    v = z[1:]
    z += u
    assert v.requires_grad and v.numpy().tolist() == [1.25, 3.0]
    v.sum().backward()
    np.testing.assert_array_equal(u.grad.numpy(), [0.0, 1.0, 1.0])


def test_an_integer_index_gives_a_view():
    t = mc.zeros(3)
    t[0].add_(5)
    s = t[1]
    t.fill_(7)
    assert t.numpy().tolist() == [7.0, 7.0, 7.0] and s.item() == 7.0
    for element in t:
        element.add_(1)
    assert t.numpy().tolist() == [8.0, 8.0, 8.0]


def test_clamp_and_masked_fill_in_place_on_a_non_leaf():
    w = tensor([0.5, -0.25, 2.0], requires_grad=True)
    h = w * 1.5
    h.clamp_(-0.5, 0.5)
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 1.5, 0.0])
    w.grad = None
    h = w * 2
    h.masked_fill_(mc.tensor([True, False, False]), 0.0)
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 2.0, 2.0])


def test_a_leaf_hook_sees_the_whole_gradient_once():
    x = tensor([0.5], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(g.item()) or g + 1)
    x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()       # dx = 2x = 1, then the hooks: (1 + 1) * 10, as PyTorch
    assert calls == [1.0] and x.grad.numpy().tolist() == [20.0]


def test_contiguous_copies_a_non_contiguous_tensor():
    x = mc.tensor(np.arange(6.0).reshape(2, 3))
    assert x.t().contiguous().view(-1).numpy().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    z = x.t().contiguous()
    x.mul_(0)
    assert z.numpy().tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert x.contiguous() is x


def test_augmented_power_floor_division_and_remainder_write_in_place():
    t = mc.tensor([3.0, 4.0, 5.0])
    alias = t
    t **= 2
    t //= 2
    t %= 5
    assert alias is t and t.numpy().tolist() == [4.0, 3.0, 2.0]
    flags = mc.tensor([True, False])
    alias = flags
    flags |= mc.tensor([False, True])
    assert alias.numpy().tolist() == [True, True]


def test_a_write_from_another_device_sends_the_gradient_back(standin_cupy):
    w = mc.tensor([1.0, 2.0], requires_grad=True, device="cuda")
    buffer = mc.zeros(2)
    buffer.copy_(w * 2)
    buffer.sum().backward()
    assert w.grad.device.type == "cuda"
    np.testing.assert_array_equal(w.grad.cpu().numpy(), [2.0, 2.0])
