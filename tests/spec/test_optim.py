"""Optimizers: updates checked against the formulas written out by hand, the Optimizer API
(groups, zero_grad, skipped parameters, state dicts, errors) and, where PyTorch is installed,
several steps of every optimizer against torch.optim on the same numbers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn as nn
from minicnn.backend import ckernels
from minicnn.optim import SGD, Adam, AdamW, RMSprop

SHAPE = (3, 4)
KERNEL_SETS = ["numpy"] + (["c"] if ckernels.available() else [])


@pytest.fixture(autouse=True, params=KERNEL_SETS)
def kernel_set(request):
    """Every test runs with each kernel set that is built (the updates are kernels)."""
    with mc.backend(request.param):
        yield request.param


def make_param(rng, dtype=np.float64):
    return nn.Parameter(mc.tensor(rng.standard_normal(SHAPE).astype(dtype)))


def make_grads(rng, count=2, dtype=np.float64):
    return [rng.standard_normal(SHAPE).astype(dtype) for _ in range(count)]


def run(optimizer_class, param, grads, **options):
    """Apply one optimizer step per gradient; return the parameter after each step."""
    optimizer = optimizer_class([param], **options)
    values = []
    for grad in grads:
        param.grad = mc.tensor(grad)
        optimizer.step()
        values.append(param.numpy().copy())
    return values


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-14)


# ----- updates written out by hand (float64) -----------------------------------------------

@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("maximize", [False, True])
def test_sgd_plain(rng, weight_decay, maximize):
    param = make_param(rng)
    p0 = param.numpy().copy()
    g0, g1 = make_grads(rng)
    lr, sign = 0.1, (-1 if maximize else 1)
    p1, p2 = run(SGD, param, [g0, g1], lr=lr, weight_decay=weight_decay, maximize=maximize)
    close(p1, p0 - lr * (sign * g0 + weight_decay * p0))
    close(p2, p1 - lr * (sign * g1 + weight_decay * p1))


@pytest.mark.parametrize("dampening", [0.0, 0.3])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_sgd_momentum(rng, dampening, weight_decay):
    param = make_param(rng)
    p0 = param.numpy().copy()
    g0, g1, g2 = make_grads(rng, 3)
    lr, m = 0.1, 0.9
    p1, p2, p3 = run(SGD, param, [g0, g1, g2], lr=lr, momentum=m, dampening=dampening,
                     weight_decay=weight_decay)
    buf1 = g0 + weight_decay * p0                       # the first step copies the gradient
    close(p1, p0 - lr * buf1)
    buf2 = m * buf1 + (1 - dampening) * (g1 + weight_decay * p1)
    close(p2, p1 - lr * buf2)
    buf3 = m * buf2 + (1 - dampening) * (g2 + weight_decay * p2)
    close(p3, p2 - lr * buf3)


def test_sgd_nesterov(rng):
    param = make_param(rng)
    p0 = param.numpy().copy()
    g0, g1 = make_grads(rng)
    lr, m, wd = 0.05, 0.8, 0.01
    p1, p2 = run(SGD, param, [g0, g1], lr=lr, momentum=m, nesterov=True, weight_decay=wd)
    d0 = g0 + wd * p0
    buf1 = d0
    close(p1, p0 - lr * (d0 + m * buf1))
    d1 = g1 + wd * p1
    buf2 = m * buf1 + d1
    close(p2, p1 - lr * (d1 + m * buf2))


def adam_by_hand(p0, grads, lr, b1, b2, eps, wd=0.0, decoupled=False, amsgrad=False):
    p, m, v, v_max = p0.copy(), 0.0, 0.0, 0.0
    values = []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v_hat) + eps)
        values.append(p)
    return values


@pytest.mark.parametrize("options", [
    dict(),
    dict(weight_decay=0.1),
    dict(amsgrad=True),
    dict(betas=(0.5, 0.6), eps=1e-3, weight_decay=0.2, amsgrad=True),
])
def test_adam(rng, options):
    param = make_param(rng)
    p0 = param.numpy().copy()
    # the second gradient is small, so that v falls and amsgrad's maximum matters
    grads = [rng.standard_normal(SHAPE), 0.1 * rng.standard_normal(SHAPE),
             rng.standard_normal(SHAPE)]
    lr = 0.01
    ours = run(Adam, param, grads, lr=lr, **options)
    b1, b2 = options.get("betas", (0.9, 0.999))
    expected = adam_by_hand(p0, grads, lr, b1, b2, options.get("eps", 1e-8),
                            options.get("weight_decay", 0.0), amsgrad=options.get("amsgrad", False))
    for actual, wanted in zip(ours, expected):
        close(actual, wanted)


def test_adam_first_step_by_hand(rng):
    # m / (1 - beta1) = g and v / (1 - beta2) = g^2 after one step: p1 = p0 - lr * g / (|g| + eps)
    param = make_param(rng)
    p0 = param.numpy().copy()
    g = make_grads(rng, 1)[0]
    p1, = run(Adam, param, [g], lr=0.01, eps=1e-3)
    close(p1, p0 - 0.01 * g / (np.abs(g) + 1e-3))


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw(rng, amsgrad):
    param = make_param(rng)
    p0 = param.numpy().copy()
    grads = [rng.standard_normal(SHAPE), 0.1 * rng.standard_normal(SHAPE)]
    ours = run(AdamW, param, grads, lr=0.01, weight_decay=0.5, amsgrad=amsgrad)
    expected = adam_by_hand(p0, grads, 0.01, 0.9, 0.999, 1e-8, 0.5, decoupled=True,
                            amsgrad=amsgrad)
    for actual, wanted in zip(ours, expected):
        close(actual, wanted)


def test_adamw_default_weight_decay_and_adam_decoupled_option(rng):
    assert AdamW([make_param(rng)]).defaults["weight_decay"] == 1e-2
    grads = make_grads(rng)
    a = make_param(rng)
    b = nn.Parameter(mc.tensor(a.numpy().copy()))
    ours = run(AdamW, a, grads, lr=0.1, weight_decay=0.3)
    theirs = run(Adam, b, grads, lr=0.1, weight_decay=0.3, decoupled_weight_decay=True)
    assert all(np.array_equal(x, y) for x, y in zip(ours, theirs))


@pytest.mark.parametrize("options", [
    dict(),
    dict(weight_decay=0.1),
    dict(momentum=0.9),
    dict(centered=True),
    dict(centered=True, momentum=0.5, weight_decay=0.05, alpha=0.9),
])
def test_rmsprop(rng, options):
    param = make_param(rng)
    p0 = param.numpy().copy()
    grads = make_grads(rng, 3)
    lr, alpha, eps = 0.01, options.get("alpha", 0.99), 1e-8
    wd, momentum = options.get("weight_decay", 0.0), options.get("momentum", 0.0)
    ours = run(RMSprop, param, grads, lr=lr, **options)
    p, s, a, buf = p0.copy(), 0.0, 0.0, 0.0
    for g, actual in zip(grads, ours):
        g = g + wd * p
        s = alpha * s + (1 - alpha) * g * g
        if options.get("centered"):
            a = alpha * a + (1 - alpha) * g
            denom = np.sqrt(s - a * a) + eps
        else:
            denom = np.sqrt(s) + eps
        if momentum:
            buf = momentum * buf + g / denom
            p = p - lr * buf
        else:
            p = p - lr * g / denom
        close(actual, p)


def test_rmsprop_first_step_by_hand(rng):
    # s = (1 - alpha) g^2, so the first step is lr * g / (sqrt(1 - alpha) |g| + eps)
    param = make_param(rng)
    p0 = param.numpy().copy()
    g = make_grads(rng, 1)[0]
    p1, = run(RMSprop, param, [g], lr=0.01, alpha=0.75, eps=0.0)
    close(p1, p0 - 0.01 * np.sign(g) / 0.5)


@given(lr=st.floats(0.0, 1.0), momentum=st.floats(0.0, 0.99), dampening=st.floats(0.0, 1.0),
       weight_decay=st.floats(0.0, 0.1), nesterov=st.booleans(), maximize=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_sgd_any_hyperparameters(lr, momentum, dampening, weight_decay, nesterov, maximize, seed):
    if nesterov:
        momentum, dampening = max(momentum, 0.1), 0.0
    rng = np.random.default_rng(seed)
    param = make_param(rng)
    p, buf = param.numpy().copy(), None
    grads = make_grads(rng, 3)
    ours = run(SGD, param, grads, lr=lr, momentum=momentum, dampening=dampening,
               weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
    for g, actual in zip(grads, ours):
        d = (-g if maximize else g) + weight_decay * p
        if momentum:
            buf = d if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
        close(actual, p)


@given(lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.999),
       eps=st.floats(1e-8, 1e-2), weight_decay=st.floats(0.0, 0.1), decoupled=st.booleans(),
       amsgrad=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_adam_any_hyperparameters(lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, seed):
    rng = np.random.default_rng(seed)
    param = make_param(rng)
    p0 = param.numpy().copy()
    grads = [scale * rng.standard_normal(SHAPE) for scale in (1.0, 0.1, 1.0)]
    optimizer_class = AdamW if decoupled else Adam
    ours = run(optimizer_class, param, grads, lr=lr, betas=(beta1, beta2), eps=eps,
               weight_decay=weight_decay, amsgrad=amsgrad)
    expected = adam_by_hand(p0, grads, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad)
    for actual, wanted in zip(ours, expected):
        np.testing.assert_allclose(actual, wanted, rtol=1e-10, atol=1e-13)


# ----- float32 and the kernels ---------------------------------------------------------------

@pytest.mark.parametrize("optimizer_class, options", [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (AdamW, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
])
def test_float32_matches_float64_and_updates_in_place(rng, optimizer_class, options):
    p64 = make_param(rng)
    p32 = nn.Parameter(mc.tensor(p64.numpy().astype(np.float32)))
    array_before = p32.array
    grads = make_grads(rng, 4)
    ours64 = run(optimizer_class, p64, grads, **options)
    ours32 = run(optimizer_class, p32, [g.astype(np.float32) for g in grads], **options)
    assert p32.array is array_before and p32.dtype == np.float32
    np.testing.assert_allclose(ours32[-1], ours64[-1], rtol=1e-5, atol=1e-6)


def test_fused_multiply_add_rounds_once_in_float32():
    from minicnn.backend.arrays import fma
    a = np.float32(1 + 2 ** -12)
    # a * a = 1 + 2^-11 + 2^-24 exactly; rounding it first to float32 loses the 2^-24
    c = np.array([-(1 + 2 ** -11)], dtype=np.float32)
    assert fma(a, np.array([a]), c)[0] == np.float32(2 ** -24)
    assert (a * a + c)[0] == 0


# ----- the Optimizer API -----------------------------------------------------------------------

def test_step_skips_parameters_without_grad(rng):
    a, b = make_param(rng), make_param(rng)
    b_before = b.numpy().copy()
    optimizer = Adam([a, b], lr=0.1)
    a.grad = mc.tensor(make_grads(rng, 1)[0])
    optimizer.step()
    assert np.array_equal(b.numpy(), b_before)
    assert b not in optimizer.state and set(optimizer.state[a]) == {"step", "exp_avg",
                                                                      "exp_avg_sq"}


def test_sgd_without_momentum_keeps_no_state(rng):
    param = make_param(rng)
    run(SGD, param, make_grads(rng), lr=0.1)
    optimizer = SGD([param], lr=0.1)
    param.grad = mc.tensor(make_grads(rng, 1)[0])
    optimizer.step()
    assert len(optimizer.state) == 0


def test_zero_grad(rng):
    param = make_param(rng)
    optimizer = SGD([param], lr=0.1)
    param.grad = mc.tensor(np.ones(SHAPE))
    grad = param.grad
    optimizer.zero_grad(set_to_none=False)
    assert param.grad is grad and not param.grad.numpy().any()
    optimizer.zero_grad()
    assert param.grad is None


def test_closure_is_evaluated_and_its_loss_returned(rng):
    param = make_param(rng)
    optimizer = SGD([param], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (param * param).sum()
        loss.backward()
        return loss

    p0 = param.numpy().copy()
    loss = optimizer.step(closure)
    assert loss.item() == pytest.approx((p0 ** 2).sum())
    close(param.numpy(), p0 - 0.1 * 2 * p0)


def test_param_groups_take_their_own_hyperparameters(rng):
    a, b = make_param(rng), make_param(rng)
    optimizer = SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.5]
    assert len(optimizer.param_groups[1]["params"]) == 1
    assert optimizer.param_groups[1]["params"][0] is b
    assert all(group["momentum"] == 0.9 for group in optimizer.param_groups)
    a0, b0 = a.numpy().copy(), b.numpy().copy()
    g = np.ones(SHAPE)
    a.grad, b.grad = mc.tensor(g), mc.tensor(g)
    optimizer.step()
    close(a.numpy(), a0 - 0.1)
    close(b.numpy(), b0 - 0.5)
    c = make_param(rng)
    optimizer.add_param_group({"params": [c], "lr": 0.01})
    assert optimizer.param_groups[2]["momentum"] == 0.9
    assert set(optimizer.param_groups[2]) == set(optimizer.param_groups[0])


def test_model_parameters_generator_and_training_loop():
    mc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    assert len(optimizer.param_groups[0]["params"]) == 4
    weights = [p.array for p in model.parameters()]
    x = mc.tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))
    loss = (model(x) ** 2).mean()
    loss.backward()
    optimizer.step()
    # parameters keep their identity and arrays; the update lands in place
    assert all(p.array is w for p, w in zip(model.parameters(), weights))


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=-0.1), "lr"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.5), "momentum"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening"),
    (lambda p: Adam(p, lr=-1e-3), "lr"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), "betas[0]"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), "betas[1]"),
    (lambda p: Adam(p, eps=-1e-8), "eps"),
    (lambda p: AdamW(p, weight_decay=-0.1), "weight_decay"),
    (lambda p: RMSprop(p, alpha=-0.5), "alpha"),
    (lambda p: RMSprop(p, momentum=-0.1), "momentum"),
    (lambda p: RMSprop(p, eps=-1.0), "eps"),
])
def test_bad_hyperparameters_are_named(rng, make, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make([make_param(rng)])


def test_bad_params_are_refused(rng):
    param = make_param(rng)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        SGD(param, lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        SGD({param}, lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        SGD([{"params": {param}}], lr=0.1)
    with pytest.raises(TypeError, match="Tensors"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [param]}, {"params": [param]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([param * 2], lr=0.1)


# ----- state dicts ---------------------------------------------------------------------------

OPTIMIZERS = [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adam, dict(lr=0.01, amsgrad=True)),
    (AdamW, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("optimizer_class, options", OPTIMIZERS)
def test_state_dict_round_trip_resumes_identically(rng, optimizer_class, options):
    grads = [make_grads(rng, 2) for _ in range(6)]
    a = [make_param(rng, np.float32), make_param(rng, np.float32)]
    b = [nn.Parameter(mc.tensor(p.numpy().copy())) for p in a]
    first = optimizer_class([{"params": [a[0]]}, {"params": [a[1]], "lr": 0.003}], **options)
    for step in range(3):
        for param, grad in zip(a, grads[step]):
            param.grad = mc.tensor(grad.astype(np.float32))
        first.step()
    saved = first.state_dict()
    for param, source in zip(b, a):
        param.array[...] = source.array
    second = optimizer_class([{"params": [b[0]]}, {"params": [b[1]]}], **options)
    second.load_state_dict(saved)
    assert second.param_groups[1]["lr"] == 0.003
    for step in range(3, 6):
        for params, optimizer in ((a, first), (b, second)):
            for param, grad in zip(params, grads[step]):
                param.grad = mc.tensor(grad.astype(np.float32))
            optimizer.step()
    for x, y in zip(a, b):
        assert np.array_equal(x.numpy(), y.numpy())


def test_state_dict_layout_is_pytorchs_and_a_snapshot(rng):
    a, b = make_param(rng), make_param(rng)
    optimizer = Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = mc.tensor(np.ones(SHAPE))
    optimizer.step()
    state = optimizer.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert list(state["state"]) == [0]
    assert state["state"][0]["step"] == 1
    assert [group["params"] for group in state["param_groups"]] == [[0], [1]]
    assert state["param_groups"][1]["lr"] == 0.5 and state["param_groups"][0]["betas"] == (0.9, 0.999)
    saved_avg = state["state"][0]["exp_avg"].numpy().copy()
    optimizer.step()
    assert np.array_equal(state["state"][0]["exp_avg"].numpy(), saved_avg)


def test_load_state_dict_casts_to_the_parameter_dtype_and_checks_shapes(rng):
    a = make_param(rng)
    first = SGD([a], lr=0.1, momentum=0.9)
    a.grad = mc.tensor(np.ones(SHAPE))
    first.step()
    saved = first.state_dict()
    b = make_param(rng, np.float32)
    second = SGD([b], lr=0.1, momentum=0.9)
    second.load_state_dict(saved)
    assert second.state[b]["momentum_buffer"].dtype == np.float32
    wrong = SGD([nn.Parameter(mc.zeros(2, 2))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        wrong.load_state_dict(saved)
    with pytest.raises(ValueError, match="parameter groups"):
        SGD([{"params": [make_param(rng)]}, {"params": [make_param(rng)]}],
            lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="size"):
        SGD([make_param(rng), make_param(rng)], lr=0.1).load_state_dict(saved)


def test_checkpoint_file_round_trip(rng, tmp_path):
    from minicnn.optim.lr_scheduler import MultiStepLR
    from minicnn.utils.checkpoint import load_checkpoint, save_checkpoint
    grads = make_grads(rng, 6)
    a = make_param(rng)
    b = nn.Parameter(mc.tensor(a.numpy().copy()))
    first = Adam([a], lr=0.1)
    first_schedule = MultiStepLR(first, milestones=[2, 4], gamma=0.5)
    for grad in grads[:3]:
        a.grad = mc.tensor(grad)
        first.step()
        first_schedule.step()
    save_checkpoint(tmp_path / "run.npz", {"optimizer": first.state_dict(),
                                           "scheduler": first_schedule.state_dict()})
    b.array[...] = a.array
    state = load_checkpoint(tmp_path / "run.npz")
    second = Adam([b], lr=0.1)
    second_schedule = MultiStepLR(second, milestones=[2, 4], gamma=0.5)
    second.load_state_dict(state["optimizer"])
    second_schedule.load_state_dict(state["scheduler"])
    for grad in grads[3:]:
        for param, optimizer, schedule in ((a, first, first_schedule),
                                           (b, second, second_schedule)):
            param.grad = mc.tensor(grad)
            optimizer.step()
            schedule.step()
        assert second_schedule.get_last_lr() == first_schedule.get_last_lr()
    assert np.array_equal(a.numpy(), b.numpy())


# ----- against PyTorch ---------------------------------------------------------------------------

TORCH_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=5e-4, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.5))),          # lerp weight >= 0.5
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.001, alpha=0.9, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.001, centered=True)),
    ("RMSprop", dict(lr=0.001, alpha=0.3, centered=True, momentum=0.5, maximize=True)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", TORCH_CASES)
def test_matches_torch(name, options, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    shapes = [(5, 7), (33,), (2, 3, 3, 3)]
    initial = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    ours = [nn.Parameter(mc.tensor(value)) for value in initial]
    theirs = [torch.tensor(value, requires_grad=True) for value in initial]
    # two groups, the second with its own learning rate
    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:], "lr": 0.02}]
    our_optimizer = getattr(mc.optim, name)(groups(ours), **options)
    their_optimizer = getattr(torch.optim, name)(groups(theirs), **options)
    for step in range(8):
        for index, (a, b) in enumerate(zip(ours, theirs)):
            if step == 2 and index == 1:       # a parameter without a gradient this step
                a.grad, b.grad = None, None
                continue
            grad = rng.standard_normal(a.shape).astype(dtype)
            a.grad, b.grad = mc.tensor(grad), torch.tensor(grad)
        our_optimizer.step()
        their_optimizer.step()
    rtol, atol = (2e-6, 1e-7) if dtype == np.float32 else (1e-12, 1e-14)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol)
    their_state = their_optimizer.state_dict()
    our_state = our_optimizer.state_dict()
    assert our_state["param_groups"][1]["params"] == their_state["param_groups"][1]["params"]
    for index, state in their_state["state"].items():
        for key, value in state.items():
            if key == "step":
                assert our_state["state"][index][key] == int(value)
            else:
                np.testing.assert_allclose(our_state["state"][index][key].numpy(),
                                           value.numpy(), rtol=rtol * 10, atol=atol)


def test_sgd_float32_is_bit_for_bit_torch():
    """SGD uses no square root, so with the fused multiply-adds of PyTorch's CPU kernels
    reproduced it matches PyTorch exactly in float32 (Adam and RMSprop differ in the last bit
    where PyTorch's vectorised sqrt is not correctly rounded)."""
    torch = pytest.importorskip("torch")
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("PyTorch runs its scalar kernels here, without fused multiply-add")
    rng = np.random.default_rng(3)
    initial = rng.standard_normal(1000).astype(np.float32)
    ours = nn.Parameter(mc.tensor(initial))
    theirs = torch.tensor(initial, requires_grad=True)
    options = dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3)
    our_optimizer, their_optimizer = SGD([ours], **options), torch.optim.SGD([theirs], **options)
    for _ in range(10):
        grad = rng.standard_normal(1000).astype(np.float32)
        ours.grad, theirs.grad = mc.tensor(grad), torch.tensor(grad)
        our_optimizer.step()
        their_optimizer.step()
    assert np.array_equal(ours.numpy(), theirs.detach().numpy())
