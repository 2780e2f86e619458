"""The device layer on a second array type, without a GPU: the strict CuPy stand-in of
tests/cupy_standin.py (refuses what CuPy 14 refuses; its kernels are kernels/*.cu emulated on the
CPU) under Tensor, autograd, Module.to, the optimizers, checkpoints, evaluation, the Trainer, the
CLI and ResNet-20, each compared with the same work on the CPU."""

import io

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.data import ArrayDataset, DataLoader
from minicnn.evaluate import evaluate, predict_proba
from minicnn.train import Trainer
from minicnn.utils.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("standin_cupy")


def on_gpu(array):
    import cupy
    return isinstance(array, cupy.ndarray)


def small_net(dtype=np.float64):
    # no bias in the conv before batch norm: its gradient is 0 up to rounding, which differs
    # between kernel sets and which RMSprop's lr / eps (1e6) turns into steps
    mc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3)).to(dtype)


def assert_close(ours, spec, rtol):
    """Within rtol of the array's largest magnitude (an optimizer's steps scale each element's
    rounding differently)."""
    np.testing.assert_allclose(ours, spec, rtol=0, atol=rtol * max(np.abs(spec).max(), 1e-300))


# ----- the stand-in refuses as CuPy does -------------------------------------------------------

def test_the_standin_refuses_what_cupy_refuses(standin_cupy):
    cupy = standin_cupy
    device, host = cupy.ones(3), np.ones(3)
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        device + host
    with pytest.raises(TypeError, match="Unsupported type"):
        np.add(host, device)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        device[...] = host
    with pytest.raises(TypeError, match="Argument 'b' has incorrect type"):
        cupy.may_share_memory(device, host)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(device)
    device[...] = np.float64(2.0)            # a NumPy scalar is a scalar
    assert isinstance(device.sum(), cupy.ndarray) and device.sum().shape == ()
    np.testing.assert_array_equal(cupy.asnumpy(device), [2, 2, 2])


# ----- tensors move, and gradients follow -------------------------------------------------------

@pytest.mark.parametrize("move", [lambda x: mc.tensor(x, device="cuda"),
                                  lambda x: mc.tensor(x).to("cuda"),
                                  lambda x: mc.tensor(x).cuda()])
def test_a_tensor_goes_to_the_gpu_and_back(move):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = move(x)
    assert on_gpu(t.array) and t.dtype == np.float32
    assert not on_gpu(t.to("cpu").array)
    np.testing.assert_array_equal(t.numpy(), x)
    np.testing.assert_array_equal(t.cpu().numpy(), x)
    assert t[1, 2].item() == 5.0 and isinstance(t[1, 2].item(), float)
    assert repr(t) == repr(mc.tensor(x))
    assert t.tolist() == x.tolist()


def test_a_gradient_flows_back_to_a_cpu_leaf():
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = mc.tensor(rng.standard_normal((4, 2)), device="cuda", requires_grad=True)
    upstream = rng.standard_normal((3, 2))
    y = x.to("cuda") @ w
    y.backward(mc.tensor(upstream, device="cuda"))
    assert not on_gpu(x.grad.array) and on_gpu(w.grad.array)
    np.testing.assert_allclose(x.grad.numpy(), upstream @ w.numpy().T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), x.numpy().T @ upstream, rtol=1e-12)


def test_copy_and_setitem_copy_across_devices():
    gpu = mc.zeros(2, 3).to("cuda")
    gpu.copy_(mc.tensor(np.ones((2, 3), np.float32)))
    gpu[0] = np.array([1.0, 2.0, 3.0], np.float32)
    gpu[1, 1:] = mc.tensor([7.0, 8.0])
    gpu[1, 0] = 5.0
    assert on_gpu(gpu.array)
    np.testing.assert_array_equal(gpu.numpy(), [[1, 2, 3], [5, 7, 8]])
    cpu = mc.zeros(2, 3)
    cpu.copy_(gpu)
    cpu[0] = gpu[1]
    assert not on_gpu(cpu.array)
    np.testing.assert_array_equal(cpu.numpy(), [[5, 7, 8], [5, 7, 8]])


@pytest.mark.parametrize("kind", ["list", "cpu array", "cpu tensor", "gpu tensor"])
def test_losses_take_labels_from_anywhere(kind):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 5))
    labels = [0, 4, 2, 2]
    given = {"list": labels, "cpu array": np.array(labels), "cpu tensor": mc.tensor(labels),
             "gpu tensor": mc.tensor(labels, device="cuda")}[kind]
    for loss_fn in (F.cross_entropy, lambda z, t: F.nll_loss(F.log_softmax(z, 1), t)):
        expected = loss_fn(mc.tensor(logits), np.array(labels)).item()
        z = mc.tensor(logits, device="cuda", requires_grad=True)
        loss = loss_fn(z, given)
        loss.backward()
        assert on_gpu(loss.array) and on_gpu(z.grad.array)
        assert loss.item() == pytest.approx(expected, rel=1e-12)


# ----- modules, optimizers, checkpoints ------------------------------------------------------

def forward_backward(model, x, labels, device):
    model.zero_grad()
    loss = F.cross_entropy(model(mc.tensor(x, device=device)), labels)
    loss.backward()
    return loss.item(), [p.grad.numpy().copy() for p in model.parameters()]


def test_module_to_moves_parameters_and_buffers_and_computes_the_same():
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal((4, 2, 6, 6)), np.array([0, 1, 2, 1])
    model = small_net()
    cpu_loss, cpu_grads = forward_backward(model, x, labels, "cpu")
    assert model.to("cuda") is model
    assert all(on_gpu(t.array) for t in list(model.parameters()) + list(model.buffers()))
    assert all(on_gpu(p.grad.array) for p in model.parameters())   # the gradients moved too
    gpu_loss, gpu_grads = forward_backward(model, x, labels, "cuda")
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-12)
    # relative to the largest gradient of all: conv1's bias gradient is zero in exact arithmetic
    # (a batch norm follows), so each side holds rounding noise of about 1e-17 there
    scale = max(np.abs(g).max() for g in cpu_grads)
    for ours, spec in zip(gpu_grads, cpu_grads):
        np.testing.assert_allclose(ours, spec, rtol=0, atol=1e-10 * scale)
    model.cpu()
    assert not any(on_gpu(t.array) for t in model.parameters())


OPTIMIZERS = {
    "SGD": lambda p: mc.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "Adam": lambda p: mc.optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "AdamW": lambda p: mc.optim.AdamW(p, lr=1e-2),
    "RMSprop": lambda p: mc.optim.RMSprop(p, lr=1e-2, momentum=0.9, centered=True),
}


def train_steps(device, make_optimizer, steps=2):
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal((4, 2, 6, 6)), np.array([0, 1, 2, 1])
    model = small_net().to(device)
    optimizer = make_optimizer(model.parameters())
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(mc.tensor(x, device=device)), labels).backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_keeps_its_state_on_the_gpu(name):
    model, optimizer = train_steps("cuda", OPTIMIZERS[name])
    reference, _ = train_steps("cpu", OPTIMIZERS[name])
    state = [v for s in optimizer.state.values() for v in s.values() if isinstance(v, mc.Tensor)]
    assert state and all(on_gpu(v.array) for v in state)
    for ours, spec in zip(model.parameters(), reference.parameters()):
        assert on_gpu(ours.array)
        assert_close(ours.numpy(), spec.numpy(), 1e-9)


def test_a_gpu_checkpoint_loads_on_the_cpu_and_back(tmp_path):
    model, optimizer = train_steps("cuda", OPTIMIZERS["Adam"])
    path = tmp_path / "gpu.npz"
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
    state = load_checkpoint(path)
    assert not any(on_gpu(v.array) for v in state["model"].values())
    # on a CPU-only model and optimizer
    cpu_model = small_net()
    cpu_optimizer = OPTIMIZERS["Adam"](cpu_model.parameters())
    cpu_model.load_state_dict(state["model"])
    cpu_optimizer.load_state_dict(state["optimizer"])
    for ours, spec in zip(cpu_model.state_dict().values(), model.state_dict().values()):
        assert not on_gpu(ours.array)
        np.testing.assert_array_equal(ours.numpy(), spec.numpy())
    # and back onto a GPU model, from the GPU's own state dicts too
    gpu_model = small_net().to("cuda")
    gpu_optimizer = OPTIMIZERS["Adam"](gpu_model.parameters())
    gpu_model.load_state_dict(state["model"])
    gpu_optimizer.load_state_dict(state["optimizer"])
    cpu_model.load_state_dict(model.state_dict())
    for loaded in (gpu_model.state_dict().values(),
                   [v for s in gpu_optimizer.state.values() for v in s.values()
                    if isinstance(v, mc.Tensor)]):
        assert all(on_gpu(v.array) for v in loaded)
    for ours, spec in zip(gpu_model.parameters(), model.parameters()):
        np.testing.assert_array_equal(ours.numpy(), spec.numpy())


# ----- evaluation, training, the CLI, summary ------------------------------------------------

def tiny_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    images = rng.integers(0, 255, size=(n, 2, 6, 6)).astype(np.uint8)
    return images, labels


def test_evaluate_and_predict_proba_with_tta_on_the_gpu():
    images, labels = tiny_data()
    loader = DataLoader(ArrayDataset(images, labels), batch_size=8)
    model = small_net(np.float32)
    expected = predict_proba(model, loader, tta="flip")
    expected_eval = evaluate(model, loader)
    model.to("cuda")
    probs, got_labels = predict_proba(model, loader, tta="flip", device="cuda")
    assert isinstance(probs, np.ndarray) and not on_gpu(probs)
    np.testing.assert_allclose(probs, expected[0], rtol=1e-5)
    np.testing.assert_array_equal(got_labels, expected[1])
    got = evaluate(model, loader, device="cuda")
    assert got["loss"] == pytest.approx(expected_eval["loss"], rel=1e-5)
    np.testing.assert_array_equal(got.pop("confusion"), expected_eval.pop("confusion"))
    assert {k: got[k] for k in expected_eval if k != "loss"} == \
        {k: v for k, v in expected_eval.items() if k != "loss"}


def test_trainer_fit_on_the_gpu_matches_the_cpu(tmp_path):
    images, labels = tiny_data()
    weights = {}
    for device in ("cpu", "cuda"):
        model = small_net(np.float32).to(device)
        loader = DataLoader(ArrayDataset(images, labels), batch_size=8, shuffle=True, seed=1)
        optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        trainer = Trainer(model, loader, loader, optimizer, out_dir=tmp_path / device,
                          device=device, plots=False, stream=io.StringIO(), out=io.StringIO())
        trainer.fit(2)
        assert all(on_gpu(p.array) == (device == "cuda") for p in model.parameters())
        weights[device] = [p.numpy().copy() for p in model.parameters()]
    for ours, spec in zip(weights["cuda"], weights["cpu"]):
        assert_close(ours, spec, 1e-4)


def test_minicnn_train_device_cuda(tmp_path, capsys):
    from minicnn.cli import main
    status = main(["train", "--model", "lenet5", "--epochs", "1", "--device", "cuda",
                   "--schedule", "none",
                   "--train-subset", "64", "--test-subset", "32", "--batch-size", "32",
                   "--no-plots", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    state = load_checkpoint(tmp_path / "run" / "last.npz")
    assert state["model"] and all(np.isfinite(v.numpy()).all() for v in state["model"].values())
    status = main(["train", "--resume", str(tmp_path / "run" / "last.npz"), "--epochs", "2",
                   "--device", "cuda", "--no-plots"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "resumed from" in captured.err + captured.out


def test_summary_of_a_gpu_model():
    from minicnn.utils.summary import summary
    expected = str(summary(small_net(), (2, 2, 6, 6)))
    assert str(summary(small_net().to("cuda"), (2, 2, 6, 6))) == expected


# ----- the device index ------------------------------------------------------------------------

@pytest.mark.parametrize("move", [lambda x: mc.tensor(x, device="cuda:1"),
                                  lambda x: mc.tensor(x).to("cuda:1"),
                                  lambda x: mc.tensor(x).cuda(1)])
def test_the_device_index_is_honoured(standin_cupy, move):
    t = move(np.ones((2, 2), np.float32))
    assert t.array.device.id == 1
    assert (t * 2).sum().item() == 8.0       # its ops run on GPU 1 (now the current one)


def test_minicnn_train_takes_a_gpu_index(tmp_path, capsys):
    from minicnn.cli import main
    argv = ["train", "--model", "lenet5", "--epochs", "1", "--train-subset", "32",
            "--test-subset", "32", "--batch-size", "32", "--no-plots"]
    assert main(argv + ["--device", "cuda:1", "--out", str(tmp_path / "a")]) == 0
    assert main(argv + ["--device", "cuda:2", "--out", str(tmp_path / "b")]) == 2
    assert "--device cuda:2: this machine has 2 GPU(s)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(argv + ["--device", "gpu"])
    assert "invalid device 'gpu'" in capsys.readouterr().err


def test_module_to_cuda_1_trains_on_gpu_1():
    rng = np.random.default_rng(4)
    x, labels = rng.standard_normal((4, 2, 6, 6)), np.array([0, 1, 2, 1])
    model = small_net()
    cpu_loss, _ = forward_backward(model, x, labels, "cpu")
    model.to("cuda:1")
    assert all(t.array.device.id == 1 for t in model.parameters())
    gpu_loss, _ = forward_backward(model, x, labels, "cuda:1")
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-12)


# ----- ResNet-20 ---------------------------------------------------------------------------------

def test_resnet20_two_sgd_steps_on_the_gpu_equal_the_cpu_reference():
    """float64, the CUDA kernel set (emulated) against the NumPy reference on the CPU."""
    rng = np.random.default_rng(5)
    x, labels = rng.standard_normal((2, 3, 8, 8)), np.array([3, 7])
    results = {}
    for device, kernels in (("cpu", "numpy"), ("cuda", "auto")):
        mc.manual_seed(0)
        model = mc.models.create("resnet20").double().to(device)
        optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        with mc.backend(kernels):
            for _ in range(2):
                optimizer.zero_grad()
                F.cross_entropy(model(mc.tensor(x, device=device)), labels).backward()
                optimizer.step()
        results[device] = [p.numpy().copy() for p in model.parameters()]
    for ours, spec in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(ours, spec, rtol=0, atol=1e-12 * max(1.0, np.abs(spec).max()))


@pytest.mark.parametrize("local_rank, local_size, expected", [(0, 1, "cuda"), (0, 3, "cuda:0"),
                                                              (1, 3, "cuda:1"), (2, 3, "cuda:0")])
def test_under_mpi_each_rank_on_a_machine_takes_gpu_local_rank_mod_count(
        monkeypatch, local_rank, local_size, expected):
    from minicnn import distributed
    from minicnn.device import for_this_rank
    monkeypatch.setattr(distributed, "local_rank", lambda: local_rank)
    monkeypatch.setattr(distributed, "local_world_size", lambda: local_size)
    assert str(for_this_rank("cuda")) == expected          # the stand-in has 2 GPUs
    assert str(for_this_rank("cuda:1")) == "cuda:1" and str(for_this_rank("cpu")) == "cpu"


def test_a_world_of_one_is_local_rank_0():
    from minicnn import distributed
    assert distributed.local_rank() == 0 and distributed.local_world_size() == 1


def test_a_gpu_convolution_runs_the_batch_in_one_product_per_group(monkeypatch):
    """On a GPU the tiles are as large as the workspace limit allows (GPU_TILE_ELEMENTS), not
    the CPU's 2^20 column entries: a cuBLAS call per 8 images would leave most SMs idle."""
    from minicnn.backend import tiling
    tilings, tiles = [], tiling.tiles
    monkeypatch.setattr(tiling, "tiles", lambda *args: tilings.append(list(tiles(*args)))
                        or tilings[-1])
    x = mc.tensor(np.ones((64, 16, 32, 32), np.float32), device="cuda", requires_grad=True)
    w = mc.tensor(np.ones((16, 16, 3, 3), np.float32), device="cuda", requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert tilings == [[(0, 64)]] * 3
    tilings.clear()
    with mc.backend("numpy"):                                          # the CPU's tiles
        F.conv2d(mc.tensor(x.numpy()), mc.tensor(w.numpy()), padding=1)
    assert len(tilings) == 1 and len(tilings[0]) == 10
