"""PyTorch's device API: mc.device, mc.cuda.is_available() / device_count(), .to(device, dtype),
.cuda(), .cpu() on tensors and modules, and a clear error when CUDA is asked for and absent.
The GPU cases run on the strict CuPy stand-in (tests/cupy_standin.py)."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn

try:
    import torch
except ImportError:
    torch = None


@pytest.mark.parametrize("args, text, rep, kind, index", [
    (("cpu",), "cpu", "device(type='cpu')", "cpu", None),
    (("cuda",), "cuda", "device(type='cuda')", "cuda", None),
    (("cuda:1",), "cuda:1", "device(type='cuda', index=1)", "cuda", 1),
    (("cuda", 1), "cuda:1", "device(type='cuda', index=1)", "cuda", 1),
    ((2,), "cuda:2", "device(type='cuda', index=2)", "cuda", 2),
])
def test_device_is_torch_device(args, text, rep, kind, index):
    d = mc.device(*args)
    assert (str(d), repr(d), d.type, d.index) == (text, rep, kind, index)
    assert d == mc.device(text) and hash(d) == hash(mc.device(text)) and mc.device(d) == d
    assert d != text                      # as torch.device: a string is not a device
    if torch is not None and isinstance(args[0], str):   # torch.device(2) needs a GPU
        spec = torch.device(*args)
        assert (str(spec), repr(spec), spec.type, spec.index) == (text, rep, kind, index)


def test_devices_of_different_index_differ():
    assert mc.device("cuda") != mc.device("cuda", 0)
    assert mc.device("cuda:0") != mc.device("cuda:1")


@pytest.mark.parametrize("args, message", [
    (("cuda:x",), "Invalid device string: 'cuda:x'"),
    (("cuda:-1",), "Invalid device string"),
    (("tpu",), "Expected one of cpu, cuda device type at start of device string: tpu"),
    (("cuda", -1), "Device index must not be negative"),
    (("cuda:1", 1), "must not include an index"),
])
def test_bad_devices_are_refused(args, message):
    with pytest.raises(RuntimeError, match=message):
        mc.device(*args)


def test_to_with_a_dtype_keeps_the_device_and_casts():
    t = mc.tensor([1.0, 2.0], requires_grad=True)
    for args, kwargs in [((np.float64,), {}), (("float64",), {}), ((mc.float64,), {}),
                         (("cpu", np.float64), {}), ((), {"dtype": np.float64}),
                         ((mc.device("cpu"),), {"dtype": np.float64}),
                         ((mc.tensor(np.zeros(1, np.float64)),), {})]:
        out = t.to(*args, **kwargs)
        assert out.dtype == np.float64 and out.device == mc.device("cpu")
    assert t.to("cpu") is t and t.to(mc.float32) is t
    assert t.to("cpu", copy=True) is not t
    (t.to(mc.float64) * 3).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [3, 3])


def test_tensor_device_is_a_device():
    assert mc.tensor(1.0).device == mc.device("cpu")
    assert mc.tensor(1.0).cpu().device.type == "cpu"


def test_module_to_dtype_and_device():
    model = nn.Linear(2, 3)
    assert model.to("cpu", mc.float64) is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    model.to(dtype=mc.float32)
    assert all(p.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        model.to(mc.int64)


def test_to_refuses_what_is_neither_a_device_nor_a_dtype():
    with pytest.raises(TypeError, match="expects a device or a dtype"):
        mc.tensor(1.0).to(object())
    with pytest.raises(TypeError, match="at most 2 positional"):
        mc.tensor(1.0).to("cpu", mc.float32, "x")


# ----- without CUDA ------------------------------------------------------------------------

no_gpu = pytest.mark.skipif(mc.cuda.device_count() > 0, reason="a GPU is present")


@no_gpu
def test_without_a_gpu_cuda_is_not_available():
    assert mc.cuda.is_available() is False and mc.cuda.device_count() == 0
    assert mc.cuda.unavailable_reason()


@no_gpu
@pytest.mark.parametrize("ask", [lambda: mc.tensor(1.0).cuda(), lambda: mc.tensor(1.0).to("cuda:0"),
                                 lambda: mc.tensor(1.0).to(mc.device("cuda")),
                                 lambda: nn.Linear(2, 2).cuda(), lambda: mc.cuda.set_device(0),
                                 lambda: mc.cuda.current_device(), lambda: mc.cuda.synchronize()])
def test_asking_for_cuda_without_it_is_a_clear_runtime_error(ask):
    with pytest.raises(RuntimeError, match="device 'cuda': (CuPy is not installed|CuPy found no "
                                           "CUDA device)"):
        ask()


# ----- on the stand-in ---------------------------------------------------------------------

def test_with_the_standin_cuda_is_available(standin_cupy):
    assert mc.cuda.is_available() is True and mc.cuda.device_count() == 2
    assert mc.cuda.current_device() == 0
    mc.cuda.set_device(1)
    assert mc.cuda.current_device() == 1
    assert mc.tensor(1.0).cuda().device == mc.device("cuda", 1)
    mc.cuda.synchronize()


def test_to_a_device_object_and_a_dtype_at_once(standin_cupy):
    t = mc.tensor([1.0, 2.0], requires_grad=True)
    out = t.to(mc.device("cuda"), mc.float64)
    assert isinstance(out.array, standin_cupy.ndarray) and out.dtype == np.float64
    assert out.device == mc.device("cuda", 0) and str(out.device) == "cuda:0"
    assert out.to("cuda:0") is out and out.to(mc.device("cuda")) is out
    (out * out).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [2, 4])
    model = nn.Linear(2, 3).to(mc.device("cuda:1"), mc.float64)
    assert all(p.device == mc.device("cuda", 1) and p.dtype == np.float64
               for p in model.parameters())
    assert model.cpu() is model and all(p.device.type == "cpu" for p in model.parameters())
    assert model.cuda(1) is model and all(p.device.index == 1 for p in model.parameters())


def test_a_gpu_past_the_last_is_refused(standin_cupy):
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        mc.tensor(1.0).to("cuda:2")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        nn.Linear(2, 2).to("cuda:5")


# ----- the CUDA libraries: NVRTC and cuBLAS, checked once ------------------------------------

@pytest.mark.parametrize("missing, named", [({"nvrtc"}, ["NVRTC"]), ({"cublas"}, ["cuBLAS"]),
                                            ({"nvrtc", "cublas"}, ["NVRTC", "cuBLAS"])])
def test_a_missing_cuda_library_is_named_before_the_first_op(standin_cupy, missing, named):
    from minicnn.backend import cuda
    standin_cupy.MISSING.update(missing)
    cuda.reset()
    assert mc.cuda.is_available() is False
    reason = cuda.unavailable_reason()
    problems, hint = reason.split(". pip install")
    assert "minicnn[cuda]" in hint
    assert ("NVRTC" in problems) == ("nvrtc" in missing)
    assert ("cuBLAS" in problems) == ("cublas" in missing)
    assert mc.info(quiet=True)["kernel_sets"]["cuda"] == "missing: " + reason
    with pytest.raises(RuntimeError, match="device 'cuda': .*" + named[0]):
        mc.tensor(1.0).cuda()


def test_with_every_library_info_says_available_with_versions(standin_cupy, capsys):
    report = mc.info()
    line = report["kernel_sets"]["cuda"]
    assert line.startswith("available (Stand-in GPU 0, CUDA runtime 12.8, driver CUDA 12.8, "
                           "NVRTC 12.8, cuBLAS works")
    assert "cuda   available" in capsys.readouterr().out


FACTORIES = {
    "zeros": lambda device: mc.zeros(2, 3, device=device),
    "ones": lambda device: mc.ones(2, device=device, requires_grad=True),
    "full": lambda device: mc.full((2,), 7.0, device=device),
    "arange": lambda device: mc.arange(4, device=device),
    "rand": lambda device: mc.rand(2, device=device),
    "randn": lambda device: mc.randn(2, device=device),
    "randint": lambda device: mc.randint(0, 5, (3,), device=device),
    "randperm": lambda device: mc.randperm(4, device=device),
    "empty": lambda device: mc.empty(2, device=device),
    "eye": lambda device: mc.eye(2, device=device),
    "linspace": lambda device: mc.linspace(0.0, 1.0, 3, device=device),
    "zeros_like": lambda device: mc.zeros_like(mc.ones(2), device=device),
    "ones_like": lambda device: mc.ones_like(mc.ones(2), device=device),
    "full_like": lambda device: mc.full_like(mc.ones(2), 3.0, device=device),
    "empty_like": lambda device: mc.empty_like(mc.ones(2), device=device),
    "rand_like": lambda device: mc.rand_like(mc.ones(2), device=device),
    "randn_like": lambda device: mc.randn_like(mc.ones(2), device=device),
    "randint_like": lambda device: mc.randint_like(mc.ones(2), 0, 5, device=device),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_take_a_device_as_pytorch(name):
    # torch.zeros(n, device=x.device): a string, a device object or None
    for device in (None, "cpu", mc.device("cpu"), mc.zeros(1).device):
        made = FACTORIES[name](device)
        assert made.device == mc.device("cpu") and made.is_leaf
    assert FACTORIES["ones"]("cpu").requires_grad
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda device type"):
        FACTORIES[name]("tpu")


def test_factories_make_a_leaf_on_the_gpu(standin_cupy):
    for name, make in FACTORIES.items():
        made = make("cuda")
        assert made.device.type == "cuda" and made.is_leaf, name
    ones = mc.ones(2, device="cuda", requires_grad=True)
    (ones * 3).sum().backward()
    assert ones.grad.device.type == "cuda"
    np.testing.assert_array_equal(ones.grad.cpu().numpy(), [3.0, 3.0])
