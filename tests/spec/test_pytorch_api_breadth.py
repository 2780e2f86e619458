"""The wider PyTorch API (tensor_api.py, nn/functional_extra.py, the new layers, optimizers and
schedules): that every name of the issue's list exists, the clear errors on bad input, and the
behaviours a one-line comparison cannot show (lazy layers, containers, state dicts, in-place
variants). Values and gradients are in test_pytorch_conformance.py."""

import math
import warnings

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.optim import lr_scheduler


TENSOR_METHODS = ["relu", "clamp", "clamp_", "clip", "softmax", "log_softmax", "var", "std",
                  "eq", "ne", "lt", "le", "gt", "ge", "type", "int", "bool", "__floordiv__",
                  "__mod__", "topk", "sort", "argsort", "argmax", "argmin", "expand",
                  "expand_as", "repeat", "chunk", "split", "gather", "masked_fill",
                  "masked_fill_", "flip", "roll", "norm", "any", "all", "floor", "ceil", "round",
                  "square", "sign", "prod", "cumsum", "tril", "triu", "view_as"]
TOP_LEVEL = ["where", "clamp", "empty", "eye", "linspace", "allclose", "equal", "isnan",
             "isfinite", "einsum", "mm", "bmm", "outer", "unique", "bincount", "randperm",
             "rand_like", "as_tensor", "is_tensor", "concat"]
FUNCTIONAL = ["gelu", "silu", "elu", "one_hot", "pad", "normalize", "interpolate",
              "binary_cross_entropy", "binary_cross_entropy_with_logits", "l1_loss",
              "smooth_l1_loss", "kl_div", "layer_norm", "group_norm", "conv1d"]
LAYERS = ["GELU", "SiLU", "ELU", "PReLU", "LayerNorm", "GroupNorm", "Conv1d", "Upsample",
          "Embedding", "BCEWithLogitsLoss", "BCELoss", "L1Loss", "SmoothL1Loss", "KLDivLoss",
          "LazyLinear", "LazyConv2d", "LazyBatchNorm2d", "ModuleDict", "ParameterList",
          "ParameterDict"]
OPTIMIZERS = ["Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax"]
SCHEDULES = ["LambdaLR", "ExponentialLR", "MultiplicativeLR", "PolynomialLR",
             "CosineAnnealingWarmRestarts", "SequentialLR", "ChainedScheduler"]


def test_every_name_of_the_issue_exists():
    missing = [f"Tensor.{n}" for n in TENSOR_METHODS if not hasattr(mc.Tensor, n)]
    missing += [f"mc.{n}" for n in TOP_LEVEL if not hasattr(mc, n)]
    missing += [f"F.{n}" for n in FUNCTIONAL if not hasattr(F, n)]
    missing += [f"nn.{n}" for n in LAYERS if not hasattr(nn, n)]
    missing += [f"optim.{n}" for n in OPTIMIZERS if not hasattr(mc.optim, n)]
    missing += [f"lr_scheduler.{n}" for n in SCHEDULES if not hasattr(lr_scheduler, n)]
    missing += [f"nn.utils.{n}" for n in ("clip_grad_norm_", "clip_grad_value_")
                if not hasattr(nn.utils, n)]
    missing += [f"Sequential.{n}" for n in ("extend", "insert", "append")
                if not hasattr(nn.Sequential, n)]
    assert not missing


# ----- bad input: a clear exception, naming what was wrong -------------------------------------

x34 = mc.tensor(np.arange(12.0).reshape(3, 4))


@pytest.mark.parametrize("call, error, words", [
    (lambda: x34.clamp(), RuntimeError, "min"),
    (lambda: x34.gather(1, mc.tensor([[0, 4]] * 3)), RuntimeError, "out of bounds"),
    (lambda: x34.gather(1, mc.tensor([[0.0, 1.0]] * 3)), RuntimeError, "int64"),
    (lambda: x34.expand(3, 5), RuntimeError, "expanded size"),
    (lambda: x34.split([1, 1], dim=0), RuntimeError, "sum exactly to 3"),
    (lambda: x34.chunk(0), RuntimeError, "chunks"),
    (lambda: x34.repeat(2), RuntimeError, "repeat dims"),
    (lambda: x34.topk(5), RuntimeError, "k out of range"),
    (lambda: x34.masked_fill(mc.tensor([1, 0, 1, 0]), 0.0), RuntimeError, "boolean"),
    (lambda: x34.roll((1, 2), (0,)), RuntimeError, "align"),
    (lambda: mc.mm(x34, mc.tensor(np.ones(4))), RuntimeError, "2-D"),
    (lambda: mc.bmm(mc.zeros(2, 3, 4), mc.zeros(3, 4, 2)), RuntimeError, "batch"),
    (lambda: mc.bincount(mc.tensor([1, -1])), RuntimeError, "non-negative"),
    (lambda: mc.einsum("ij,jk->ik", x34), RuntimeError, "operands"),
    (lambda: mc.einsum("ijk->i", x34), RuntimeError, "subscript"),
    (lambda: mc.where(mc.tensor([1, 0]), x34[0, :2], 0.0), RuntimeError, "boolean"),
    (lambda: mc.tril(mc.zeros(3)), RuntimeError, "2 dimensions"),
    (lambda: x34.var(1, unbiased=True, correction=0), RuntimeError, "correction"),
    (lambda: x34.long().norm(), RuntimeError, "floating point"),
    (lambda: F.gelu(x34, approximate="fast"), RuntimeError, "approximate"),
    (lambda: F.gelu(x34, "tanh"), TypeError, "positional"),   # approximate is keyword-only
    (lambda: nn.init.whitening_(nn.Parameter(mc.zeros(12, 3, 2, 2)),
                                np.full((2, 3, 4, 4), np.nan)), ValueError, "NaN"),
    (lambda: F.one_hot(mc.tensor([0, 5]), 5), RuntimeError, "num_classes"),
    (lambda: F.one_hot(mc.tensor([0.0])), RuntimeError, "LongTensor"),
    (lambda: F.pad(x34, (1,)), ValueError, "divisible by 2"),
    (lambda: F.pad(x34, (1, 1), mode="mirror"), NotImplementedError, "mirror"),
    (lambda: F.pad(x34[None], (4, 0), mode="reflect"), RuntimeError, "less than"),
    (lambda: F.pad(x34[None], (5, 0), mode="circular"), RuntimeError, "more than once"),
    (lambda: F.pad(x34[None], (1, 1), mode="replicate", value=2.0), ValueError, "value"),
    (lambda: F.pad(x34[None, None, None], (1, 1), mode="reflect"), NotImplementedError, "padding"),
    (lambda: F.interpolate(x34[None], size=5, mode="bilinear"), ValueError, "bilinear"),
    (lambda: F.interpolate(x34[None], size=5, scale_factor=2), ValueError, "size or scale"),
    (lambda: F.interpolate(x34[None], size=5, align_corners=True), ValueError, "align_corners"),
    (lambda: F.binary_cross_entropy(x34, x34), RuntimeError, "between 0 and 1"),
    (lambda: F.binary_cross_entropy(x34 / 20, x34[0] / 20), ValueError, "target size"),
    (lambda: F.smooth_l1_loss(x34, x34, beta=-1.0), RuntimeError, "beta"),
    (lambda: F.kl_div(x34, x34, reduction="average"), ValueError, "reduction"),
    (lambda: F.l1_loss(x34, x34, reduction="all"), ValueError, "reduction"),
    (lambda: F.layer_norm(x34, (3,)), RuntimeError, "[*, 3]"),
    (lambda: F.group_norm(mc.zeros(2, 3, 4), 2), RuntimeError, "divisible"),
    (lambda: F.conv1d(mc.zeros(2, 3, 4, 5), mc.zeros(2, 3, 1)), ValueError, "dimensions"),
    (lambda: F.embedding(mc.tensor([3]), mc.zeros(3, 2)), IndexError, "num_embeddings=3"),
    (lambda: F.embedding(mc.tensor([0.0]), mc.zeros(3, 2)), RuntimeError, "integer"),
    (lambda: nn.Conv2d(1, 1, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda: nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect"), ValueError, "zeros"),
    (lambda: nn.GroupNorm(3, 4), ValueError, "divisible"),
    (lambda: nn.Sequential(nn.ReLU()).insert(3, nn.Tanh()), IndexError, "out of range"),
    (lambda: mc.optim.Adadelta([nn.Parameter(mc.zeros(1))], rho=-0.5), ValueError, "rho"),
    (lambda: mc.optim.NAdam([nn.Parameter(mc.zeros(1))], lr=-1.0), ValueError, "lr"),
    (lambda: mc.optim.RAdam([nn.Parameter(mc.zeros(1))], betas=(1.0, 0.9)), ValueError, "betas"),
    (lambda: mc.optim.Adagrad([nn.Parameter(mc.zeros(1))], lr_decay=-1), ValueError, "lr_decay"),
    (lambda: mc.optim.Adamax([nn.Parameter(mc.zeros(1))], eps="1e-8"), TypeError, "eps"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error, match=None) as raised:
        call()
    assert words.lower() in str(raised.value).lower()


def test_schedule_arguments_are_checked():
    opt = mc.optim.SGD([nn.Parameter(mc.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="T_0"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="milestone"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ExponentialLR(opt, 0.9)], [2])
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0] * 2)
    other = mc.optim.SGD([nn.Parameter(mc.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="same optimizer"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ExponentialLR(opt, 0.9),
                                       lr_scheduler.ExponentialLR(other, 0.9)])


def test_clip_grad_norm_refuses_a_non_finite_norm_when_asked():
    p = nn.Parameter(mc.zeros(3))
    p.grad = mc.tensor(np.array([1.0, np.inf, 0.0], dtype=np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isinf(float(nn.utils.clip_grad_norm_([p], 1.0)))


# ----- behaviours ------------------------------------------------------------------------------

def test_in_place_variants_follow_copy_():
    x = mc.tensor(np.array([-2.0, 0.5, 3.0]))
    assert x.clamp_(-1, 1) is x
    np.testing.assert_array_equal(x.numpy(), [-1.0, 0.5, 1.0])
    x.masked_fill_(x > 0, 7.0)
    np.testing.assert_array_equal(x.numpy(), [-1.0, 7.0, 7.0])
    leaf = mc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.clamp_(0, 0.5)      # an in-place change of a leaf that requires grad, as copy_
    with mc.no_grad():
        leaf.clamp_(0, 0.5)
    np.testing.assert_array_equal(leaf.numpy(), [0.5, 0.5, 0.5])


def test_lazy_layers_materialize_in_place_and_become_the_plain_layer():
    mc.manual_seed(0)
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                          nn.LazyLinear(2))
    params = list(model.parameters())
    assert all(isinstance(p, nn.UninitializedParameter) for p in params)
    opt = mc.optim.SGD(params, lr=0.1)      # built before the sizes are known, as in PyTorch
    out = model(mc.randn(2, 3, 6, 6))
    assert out.shape == (2, 2)
    assert [type(m).__name__ for m in model] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten",
                                                 "Linear"]
    assert [p.shape for p in model.parameters()] == [(4, 3, 3, 3), (4,), (4,), (4,), (2, 64),
                                                     (2,)]
    assert all(a is b and type(a) is nn.Parameter for a, b in zip(params, model.parameters()))
    assert model[1].running_mean.shape == (4,) and model[4].in_features == 64
    before = model[4].weight.numpy().copy()
    out.sum().backward()
    opt.step()
    assert not np.array_equal(before, model[4].weight.numpy())


def test_containers_register_their_members():
    block = nn.Module()
    block.layers = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "act": nn.ReLU()})
    block.scales = nn.ParameterList([mc.ones(2), nn.Parameter(mc.zeros(3))])
    block.shifts = nn.ParameterDict({"a": nn.Parameter(mc.zeros(1))})
    assert list(block.state_dict()) == ["layers.conv.weight", "layers.conv.bias", "scales.0",
                                        "scales.1", "shifts.a"]
    assert all(isinstance(p, nn.Parameter) for p in block.scales)
    assert "conv" in block.layers and len(block.layers) == 2
    block.layers["fc"] = nn.Linear(2, 2)
    del block.layers["act"]
    assert list(block.layers.keys()) == ["conv", "fc"]
    assert len(list(block.parameters())) == 7


def test_sequential_insert_renumbers():
    seq = nn.Sequential(nn.ReLU(), nn.Linear(2, 2))
    seq.insert(-1, nn.Tanh()).extend([nn.Sigmoid()])
    assert [type(m).__name__ for m in seq] == ["ReLU", "Tanh", "Linear", "Sigmoid"]
    assert list(seq.state_dict()) == ["2.weight", "2.bias"]


@pytest.mark.parametrize("name, options", [("Adagrad", {"lr_decay": 0.1}), ("Adadelta", {}),
                                           ("Adamax", {}), ("NAdam", {}), ("RAdam", {})])
def test_optimizer_state_dict_resumes_the_same_trajectory(name, options):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(8)]

    def run(steps, state=None):
        p = nn.Parameter(mc.tensor(start.copy()))
        opt = getattr(mc.optim, name)([p], **options)
        if state is not None:
            p.data = state[0]
            opt.load_state_dict(state[1])
        for g in steps:
            p.grad = mc.tensor(g)
            opt.step()
        return p, opt

    straight, _ = run(grads)
    half, opt = run(grads[:4])
    resumed, _ = run(grads[4:], (half.numpy().copy(), opt.state_dict()))
    np.testing.assert_array_equal(straight.numpy(), resumed.numpy())


def test_scheduler_step_with_an_epoch_warns_and_uses_the_closed_form():
    opt = mc.optim.SGD([nn.Parameter(mc.zeros(1))], lr=1.0)
    sched = lr_scheduler.ExponentialLR(opt, 0.5)
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
        sched.step(3)
    assert opt.param_groups[0]["lr"] == 0.125 and sched.last_epoch == 3


def test_reduce_on_plateau_takes_the_deprecated_epoch_too():
    opt = mc.optim.SGD([nn.Parameter(mc.zeros(1))], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(1.0)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(2.0, epoch=7)
    assert sched.last_epoch == 7 and opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_lambda_schedules_keep_functions_out_of_their_state_dict():
    class Warmup:
        def __init__(self):
            self.length = 3

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.length)

    opt = mc.optim.SGD([nn.Parameter(mc.zeros(1))], lr=1.0)
    warmup = Warmup()
    sched = lr_scheduler.LambdaLR(opt, [warmup])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"length": 3}]
    warmup.length = 10
    sched.load_state_dict(state)
    assert warmup.length == 3
    plain = lr_scheduler.MultiplicativeLR(opt, lambda epoch: 0.9)
    assert plain.state_dict()["lr_lambdas"] == [None]


def test_sequential_lr_resumes_from_its_state_dict():
    def build():
        opt = mc.optim.SGD([nn.Parameter(mc.zeros(1))], lr=1.0)
        return opt, lr_scheduler.SequentialLR(
            opt, [lr_scheduler.ConstantLR(opt, 0.5, 2), lr_scheduler.ExponentialLR(opt, 0.9)], [2])

    opt, sched = build()
    for _ in range(3):
        sched.step()
    state, opt_state = sched.state_dict(), opt.state_dict()
    rates = []
    for _ in range(3):
        sched.step()
        rates.append(opt.param_groups[0]["lr"])
    opt2, sched2 = build()
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(state)
    resumed = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            sched2.step()
            resumed.append(opt2.param_groups[0]["lr"])
    assert resumed == rates


def test_clamp_of_integers_keeps_the_integer_dtype_and_floats_promote():
    i = mc.tensor([0, 3, 7])
    assert i.clamp(1, 5).dtype == np.int64
    assert i.clamp(0.5).dtype == np.float32
    assert (i // 2).dtype == np.int64 and (i % 2.0).dtype == np.float32


def test_expand_is_a_view_and_its_gradient_sums_the_copies():
    x = mc.tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    y = x.expand(2, 3)
    assert np.shares_memory(y.numpy(), x.numpy())
    (y * mc.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0], [12.0]])


def test_top_level_dtype_names():
    assert mc.float is mc.float32 and mc.double is mc.float64 and mc.long is mc.int64
    assert mc.tensor([1.5]).to(mc.int32).dtype == np.int32
    assert mc.tensor([1, 0]).to(mc.bool).dtype == np.bool_


def test_lazy_layers_take_their_sizes_from_a_checkpoint_before_any_call():
    mc.manual_seed(0)
    trained = nn.Sequential(nn.LazyConv2d(4, 3, groups=1), nn.LazyBatchNorm2d(), nn.Flatten(),
                            nn.LazyLinear(2))
    x = mc.randn(2, 3, 5, 5)
    expected = trained.eval()(x).numpy()
    fresh = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.Flatten(),
                          nn.LazyLinear(2))
    fresh.load_state_dict(trained.state_dict())
    assert [type(m).__name__ for m in fresh] == ["Conv2d", "BatchNorm2d", "Flatten", "Linear"]
    np.testing.assert_array_equal(fresh.eval()(x).numpy(), expected)


def test_the_package_functions_work_beside_the_dtype_names():
    # mc.float / mc.int / mc.bool must not shadow the builtins inside minicnn/__init__.py
    import minicnn
    assert "float" not in vars(minicnn) and "int" not in vars(minicnn)
    assert mc.full((2,), 1.5).dtype == np.float32 and mc.full((2,), True).dtype == np.bool_
    assert mc.arange(3).dtype == np.int64 and mc.randint(0, 5, (3,)).dtype == np.int64
    assert mc.tensor([1.0, 2.0], dtype=mc.double).dtype == np.float64
