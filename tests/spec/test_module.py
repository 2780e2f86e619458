"""nn.Module, Parameter and the containers: registration order, state dicts, modes, dtype
conversion and repr, compared with PyTorch where it is installed."""

from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F


class Block(nn.Module):
    """Parameters, a buffer and children, assigned in a mixed order."""

    def __init__(self):
        super().__init__()
        self.conv_like = nn.Linear(3, 4)
        self.scale = nn.Parameter(mc.ones(4))
        self.register_buffer("running", mc.zeros(4))
        self.register_buffer("scratch", mc.zeros(2), persistent=False)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, bias=False))
        self.shift = nn.Parameter(mc.zeros(4))

    def forward(self, x):
        return self.head(self.conv_like(x) * self.scale + self.shift + self.running)


def make_torch_block(torch):
    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_like = torch.nn.Linear(3, 4)
            self.scale = torch.nn.Parameter(torch.ones(4))
            self.register_buffer("running", torch.zeros(4))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)
            self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 2, bias=False))
            self.shift = torch.nn.Parameter(torch.zeros(4))
    return TorchBlock()


EXPECTED_STATE_KEYS = ["scale", "shift", "running", "conv_like.weight", "conv_like.bias",
                       "head.1.weight"]


def test_registration_order_and_traversal():
    block = Block()
    assert [n for n, _ in block.named_parameters()] == [
        "scale", "shift", "conv_like.weight", "conv_like.bias", "head.1.weight"]
    assert [n for n, _ in block.named_buffers()] == ["running", "scratch"]
    assert [n for n, _ in block.named_children()] == ["conv_like", "head"]
    assert [n for n, _ in block.named_modules()] == ["", "conv_like", "head", "head.0", "head.1"]
    assert list(block.state_dict()) == EXPECTED_STATE_KEYS
    assert [p.shape for p in block.parameters()] == [(4,), (4,), (4, 3), (4,), (2, 4)]
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale", "shift"]


def test_order_matches_torch():
    torch = pytest.importorskip("torch")
    block, torch_block = Block(), make_torch_block(torch)
    assert list(block.state_dict()) == list(torch_block.state_dict())
    assert [n for n, _ in block.named_parameters()] == [n for n, _ in torch_block.named_parameters()]
    assert [n for n, _ in block.named_buffers()] == [n for n, _ in torch_block.named_buffers()]
    assert [n for n, _ in block.named_modules()] == [n for n, _ in torch_block.named_modules()]


def test_reassigning_keeps_position_as_torch():
    block = Block()
    block.conv_like = nn.Linear(3, 4)
    block.scale = nn.Parameter(mc.ones(4))
    block.running = mc.ones(4)
    assert list(block.state_dict()) == EXPECTED_STATE_KEYS
    modules = nn.ModuleList([nn.ReLU(), nn.Tanh(), nn.Sigmoid()])
    modules[0] = nn.Identity()
    assert [type(m).__name__ for m in modules] == ["Identity", "Tanh", "Sigmoid"]
    with pytest.raises(IndexError):
        modules[3] = nn.ReLU()


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_state_dict_shares_arrays_and_round_trips():
    source, target = Block(), Block()
    state = source.state_dict()
    assert np.shares_memory(state["scale"].numpy(), source.scale.numpy())
    assert not state["scale"].requires_grad
    result = target.load_state_dict({k: v.numpy().copy() for k, v in state.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = mc.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())
    weight_before = target.conv_like.weight
    target.load_state_dict(state)
    assert target.conv_like.weight is weight_before   # loaded in place


def test_load_state_dict_errors_name_the_keys():
    model = Block()
    state = model.state_dict()
    state.pop("shift")
    state["extra.weight"] = mc.zeros(1)
    state["conv_like.bias"] = mc.zeros(5)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert '"shift"' in message and '"extra.weight"' in message
    assert "size mismatch for conv_like.bias" in message and "(5,)" in message and "(4,)" in message
    assert message.index("Missing") < message.index("Unexpected") < message.index("size mismatch")


def test_load_state_dict_strict_false_reports_and_still_refuses_shapes():
    model = Block()
    state = model.state_dict()
    state.pop("shift")
    state["extra.weight"] = mc.zeros(1)
    state["scale"] = mc.full((4,), 3.0)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["shift"] and result.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(model.scale.numpy(), [3, 3, 3, 3])
    state["scale"] = mc.zeros(3)
    with pytest.raises(RuntimeError, match="size mismatch for scale"):
        model.load_state_dict(state, strict=False)
    with pytest.raises(TypeError):
        model.load_state_dict([("scale", mc.zeros(4))])


def test_load_state_dict_error_types_match_torch():
    torch = pytest.importorskip("torch")
    model, torch_model = nn.Sequential(nn.Linear(2, 3)), torch.nn.Sequential(torch.nn.Linear(2, 3))
    for bad in ({"0.weight": np.zeros((3, 2))}, {"0.weight": np.zeros((4, 2)), "0.bias": np.zeros(3)}):
        with pytest.raises(RuntimeError) as torch_error:
            torch_model.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
        with pytest.raises(RuntimeError) as error:
            model.load_state_dict(bad)
        assert str(error.value).splitlines()[0] == str(torch_error.value).splitlines()[0]
        assert str(error.value).splitlines()[1].split(":")[0] == str(torch_error.value).splitlines()[1].split(":")[0]


def test_load_state_dict_casts_to_the_parameter_dtype():
    model = nn.Linear(2, 2)
    model.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.numpy(), np.ones((2, 2)))


class TrainAware(nn.Module):
    """Overrides train(), as modules that freeze part of themselves do."""

    def __init__(self):
        super().__init__()
        self.inner = nn.ReLU()
        self.calls = []

    def train(self, mode=True):
        self.calls.append(mode)
        return super().train(mode)


def test_train_eval_propagate_through_children_own_train():
    aware = TrainAware()
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(aware))
    model.eval()
    assert not any(m.training for m in model.modules())
    assert aware.calls == [False]
    model.train()
    assert all(m.training for m in model.modules())
    assert aware.calls == [False, True]
    with pytest.raises(ValueError):
        model.train("yes")


def test_zero_grad_sets_to_none_or_zeros():
    model = nn.Linear(3, 2)
    F.mse_loss(model(mc.ones(4, 3)), mc.zeros(4, 2)).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_double_and_float_keep_parameter_identity():
    model = Block()
    params, buffers = list(model.parameters()), list(model.buffers())
    F.mse_loss(model(mc.ones(1, 3)), mc.zeros(1, 2)).backward()
    assert model.double() is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert [id(b) for b in model.buffers()] == [id(b) for b in buffers]
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert all(b.dtype == np.float64 for b in model.buffers())
    assert model(mc.tensor(np.ones((1, 3)))).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in params)
    assert all(p.requires_grad and p.is_leaf for p in params)


def test_integer_buffers_keep_their_dtype():
    model = nn.Module()
    model.register_buffer("count", mc.tensor(3))
    model.double()
    assert model.count.dtype == np.int64


def test_assignments_and_registration_errors():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError):
        model.weight = mc.zeros(2, 2)      # a parameter slot takes a Parameter or None
    model.bias = None
    assert list(model.state_dict()) == ["weight"]
    with pytest.raises(KeyError):
        model.register_buffer("a.b", mc.zeros(1))
    with pytest.raises(KeyError):
        model.register_parameter("", None)
    with pytest.raises(TypeError):
        model.register_parameter("p", mc.zeros(1))
    with pytest.raises(AttributeError):
        model.missing_attribute
    del model.weight
    assert list(model.state_dict()) == []


def test_parameter_wraps_tensors_and_arrays():
    p = nn.Parameter(mc.tensor(np.ones(3)))
    assert p.requires_grad and p.is_leaf and p.dtype == np.float64
    assert nn.Parameter(mc.zeros(2), requires_grad=False).requires_grad is False
    assert repr(nn.Parameter(mc.zeros(2))).startswith("Parameter containing:\ntensor(")


def test_forward_hook_runs_and_is_removable():
    seen = []
    layer = nn.ReLU()
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    layer(mc.zeros(2, 3))
    handle.remove()
    layer(mc.zeros(1))
    assert seen == [(2, 3)]


def test_sequential_indexing_and_iteration():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(model) == 3 and isinstance(model[-1], nn.Linear)
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head.state_dict()) == ["2.weight", "2.bias"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    with pytest.raises(IndexError):
        model[3]
    x = mc.ones(4, 2)
    np.testing.assert_array_equal(model(x).numpy(), model[2](model[1](model[0](x))).numpy())


def _torch_and_minicnn_models(torch):
    torch_model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.LeakyReLU(0.2),
                            torch.nn.Identity()),
        torch.nn.ModuleList([torch.nn.Tanh(), torch.nn.Sigmoid()]),
        torch.nn.Linear(8, 3), torch.nn.ReLU(inplace=True), torch.nn.Softmax(dim=1),
        torch.nn.LogSoftmax(dim=-1), torch.nn.CrossEntropyLoss())
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 8), nn.ReLU(),
        nn.Sequential(nn.Linear(8, 8, bias=False), nn.LeakyReLU(0.2), nn.Identity()),
        nn.ModuleList([nn.Tanh(), nn.Sigmoid()]),
        nn.Linear(8, 3), nn.ReLU(inplace=True), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1),
        nn.CrossEntropyLoss())
    return torch_model, model


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    torch_model, model = _torch_and_minicnn_models(torch)
    assert repr(model) == repr(torch_model)
    assert repr(nn.Module()) == repr(torch.nn.Module())


def test_repr_without_torch():
    model = nn.Sequential(nn.Linear(4, 2), nn.ReLU())
    assert repr(model) == ("Sequential(\n"
                           "  (0): Linear(in_features=4, out_features=2, bias=True)\n"
                           "  (1): ReLU()\n"
                           ")")


def test_linear_initialisation_bounds_like_torch():
    mc.manual_seed(0)
    layer = nn.Linear(50, 40)
    bound = 1 / np.sqrt(50)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.numpy()).max() <= bound
        assert np.abs(p.numpy()).max() > 0.9 * bound
    assert layer.weight.numpy().std() == pytest.approx(bound / np.sqrt(3), rel=0.1)


def test_module_forward_matches_torch_with_copied_weights():
    torch = pytest.importorskip("torch")
    torch_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 5), torch.nn.ReLU(),
                                      torch.nn.Linear(5, 3)).double()
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    target = np.array([0, 2, 1, 1])
    loss = F.cross_entropy(model(mc.tensor(x)), target)
    torch_loss = torch.nn.functional.cross_entropy(torch_model(torch.tensor(x)), torch.tensor(target))
    loss.backward()
    torch_loss.backward()
    assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-12)
    for (name, p), (_, q) in zip(model.named_parameters(), torch_model.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, err_msg=name)


def test_state_dict_keep_vars_returns_the_parameters_themselves():
    model = nn.Sequential(nn.Linear(2, 2))
    state = model.state_dict(keep_vars=True)
    assert state["0.weight"] is model[0].weight and state["0.weight"].requires_grad
    assert list(model.state_dict(prefix="net.")) == ["net.0.weight", "net.0.bias"]


@pytest.mark.parametrize("build", [
    lambda nn: nn.Dropout(1.5), lambda nn: nn.Dropout(-0.1), lambda nn: nn.Dropout2d(2),
    lambda nn: nn.Conv2d(3, 4, 3, padding="full"),
    lambda nn: nn.Conv2d(3, 4, 3, padding="same", stride=2),
])
def test_layers_refuse_impossible_settings_when_built_as_torch(build):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError) as expected:
        build(torch.nn)
    with pytest.raises(ValueError) as error:
        build(nn)
    if "dropout" in str(expected.value):    # the message is PyTorch's word for word
        assert str(error.value) == str(expected.value)
