"""Lines of public PyTorch programs (the CIFAR-10 tutorial, pytorch/examples' mnist, kuangliu's
pytorch-cifar, d2l.ai) that must run on minicnn with only ``import torch`` changed to
``import minicnn as torch`` (and torchvision's names to minicnn's)."""

import numpy as np
import pytest

import minicnn as torch
import minicnn as torchvision


def test_torch_utils_data_is_minicnn_data():
    from minicnn.utils.data import DataLoader, TensorDataset
    import minicnn.utils.data as data
    assert data is torch.data and torch.utils.data.DataLoader is DataLoader
    dataset = TensorDataset(torch.arange(6.0).reshape(3, 2), torch.tensor([0, 1, 2]))
    subset = torch.utils.data.Subset(dataset, range(2))
    (x, y), = list(DataLoader(subset, batch_size=2))
    np.testing.assert_array_equal(x.numpy(), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(y.numpy(), [0, 1])


def test_make_grid_lays_images_out_as_torchvision():
    images = torch.tensor(np.arange(3 * 3 * 2 * 2, dtype=np.float32).reshape(3, 3, 2, 2))
    grid = torchvision.utils.make_grid(images, nrow=2, padding=1, pad_value=-1.0)
    # torchvision.utils.make_grid: 2 columns, 2 rows of (2 + 1) plus 1 padding each way
    assert grid.shape == (3, 7, 7)
    expected = np.full((3, 7, 7), -1.0, np.float32)
    expected[:, 1:3, 1:3] = images.numpy()[0]
    expected[:, 1:3, 4:6] = images.numpy()[1]
    expected[:, 4:6, 1:3] = images.numpy()[2]
    np.testing.assert_array_equal(grid.numpy(), expected)


def test_make_grid_default_layout_grey_images_and_normalize():
    grey = torch.tensor(np.linspace(-1, 1, 4 * 4 * 4, dtype=np.float32).reshape(4, 1, 4, 4))
    grid = torchvision.utils.make_grid(grey, normalize=True)
    assert grid.shape == (3, 4 + 2 * 2, 4 * (4 + 2) + 2)   # nrow=8 > 4 images: one row
    np.testing.assert_array_equal(grid.numpy()[0], grid.numpy()[2])
    inner = grid.numpy()[0, 2:6, 2:6]
    np.testing.assert_allclose(inner, (grey.numpy()[0, 0] + 1) / 2, atol=1e-6)
    assert grid.numpy()[0, 0].max() == 0.0                  # padding is pad_value, unscaled
    one = torchvision.utils.make_grid(grey[:1])
    assert one.shape == (3, 4, 4)                           # one image: no padding


def test_make_grid_bad_input():
    with pytest.raises(TypeError, match="tensor"):
        torchvision.utils.make_grid(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="shape"):
        torchvision.utils.make_grid(torch.zeros(1, 2, 3, 4, 4))
    with pytest.raises(TypeError, match="value_range"):
        torchvision.utils.make_grid(torch.zeros(2, 3, 4, 4), normalize=True, value_range=[0, 1])


def test_accelerator_answers_as_cuda_does():
    # pytorch/examples mnist/main.py: use_accel = torch.accelerator.is_available()
    assert torch.accelerator.is_available() == torch.cuda.is_available()
    if torch.cuda.is_available():
        assert torch.accelerator.current_accelerator() == torch.device("cuda")
        assert torch.accelerator.device_count() == torch.cuda.device_count()
        assert torch.accelerator.current_device_index() == torch.cuda.current_device()
    else:
        assert torch.accelerator.current_accelerator() is None
        assert torch.accelerator.current_accelerator(check_available=True) is None
        assert torch.accelerator.device_count() == 0
        with pytest.raises(RuntimeError, match="none is available"):
            torch.accelerator.current_device_index()
        with pytest.raises(RuntimeError, match="none is available"):
            torch.accelerator.synchronize()


def test_backends_cudnn_imports_and_says_it_is_not_used():
    # kuangliu/pytorch-cifar main.py: import torch.backends.cudnn as cudnn; cudnn.benchmark = True
    import minicnn.backends.cudnn as cudnn
    assert cudnn is torch.backends.cudnn
    assert cudnn.is_available() is False and cudnn.version() is None
    assert cudnn.enabled is True and cudnn.benchmark is False and cudnn.deterministic is False


# d2l.torch's aliases (ones = torch.ones, sin = torch.sin, meshgrid = torch.meshgrid,
# normal = torch.normal, ...) need these at import time.

TRIG_EXPECTED = {   # torch.<name>(x) and its gradient for upstream w, from PyTorch 2.13
    "sin": ([-0.8414709848, 0.4794255386, 0.9974949866],
            [0.5403023059, 1.7551651238, 0.2122116050]),
    "cos": ([0.5403023059, 0.8775825619, 0.0707372017],
            [0.8414709848, -0.9588510772, -2.9924849598]),
    "sinh": ([-1.1752011936, 0.5210953055, 2.1292794551],
             [1.5430806348, 2.2552519304, 7.0572288457]),
    "cosh": ([1.5430806348, 1.1276259652, 2.3524096152],
             [-1.1752011936, 1.0421906110, 6.3878383653]),
}


@pytest.mark.parametrize("name", sorted(TRIG_EXPECTED))
def test_trigonometric_functions_values_gradients_and_methods(name):
    from minicnn.utils import gradcheck
    x = torch.tensor([-1.0, 0.5, 1.5], dtype=np.float64, requires_grad=True)
    y = getattr(torch, name)(x)
    y.backward(torch.tensor([1.0, 2.0, 3.0], dtype=np.float64))
    values, gradient = TRIG_EXPECTED[name]
    np.testing.assert_allclose(y.numpy(), values, rtol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), gradient, rtol=1e-9)
    np.testing.assert_allclose(getattr(x, name)().numpy(), values, rtol=1e-9)
    assert getattr(torch, name)(torch.tensor([1, 2])).dtype == np.float32   # ints: float32
    assert gradcheck(getattr(torch, name), [torch.randn(4, 3, dtype=np.float64,
                                                        requires_grad=True)])


def test_meshgrid_ij_and_xy_as_pytorch_with_gradients():
    from minicnn.utils import gradcheck
    x = torch.tensor([1.0, 2.0, 3.0], dtype=np.float64, requires_grad=True)
    y = torch.tensor([10.0, 20.0], dtype=np.float64, requires_grad=True)
    gx, gy = torch.meshgrid(x, y, indexing="ij")
    np.testing.assert_array_equal(gx.numpy(), [[1, 1], [2, 2], [3, 3]])
    np.testing.assert_array_equal(gy.numpy(), [[10, 20], [10, 20], [10, 20]])
    gx, gy = torch.meshgrid([x, y], indexing="xy")
    np.testing.assert_array_equal(gx.numpy(), [[1, 2, 3], [1, 2, 3]])
    np.testing.assert_array_equal(gy.numpy(), [[10, 10, 10], [20, 20, 20]])
    (gx * gy).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [30, 30, 30])     # sum over y
    np.testing.assert_array_equal(y.grad.numpy(), [6, 6])
    assert torch.meshgrid(x, y, torch.zeros(4))[2].shape == (3, 2, 4)
    assert gradcheck(lambda a, b: torch.meshgrid(a, b, indexing="xy")[0] * 2
                     + torch.meshgrid(a, b, indexing="xy")[1], [x.detach().requires_grad_(),
                                                               y.detach().requires_grad_()])
    with pytest.raises(ValueError, match="indexing"):
        torch.meshgrid(x, y, indexing="yx")
    with pytest.raises(RuntimeError, match="0D or 1D"):
        torch.meshgrid(torch.zeros(2, 2), y)


def test_normal_shapes_dtypes_statistics_and_errors():
    torch.manual_seed(0)
    sample = torch.normal(2.0, 3.0, size=(200, 100))
    assert sample.shape == (200, 100) and sample.dtype == np.float32
    assert abs(sample.mean().item() - 2.0) < 0.1 and abs(sample.std().item() - 3.0) < 0.1
    mean = torch.zeros(3, 1, dtype=np.float64)
    broadcast = torch.normal(mean, torch.tensor([1.0, 0.0]))
    assert broadcast.shape == (3, 2) and broadcast.dtype == np.float64
    np.testing.assert_array_equal(broadcast.numpy()[:, 1], 0.0)            # std 0: the mean
    assert torch.normal(torch.ones(4)).shape == (4,)
    with pytest.raises(TypeError, match="size"):
        torch.normal(0.0, 1.0)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        torch.normal(torch.zeros(2), -1.0)


def test_data_parallel_runs_the_module_and_prefixes_its_state_dict():
    # kuangliu/pytorch-cifar main.py: if device == 'cuda': net = torch.nn.DataParallel(net)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    wrapped = torch.nn.DataParallel(net)
    assert torch.nn.parallel.DataParallel is torch.nn.DataParallel
    assert list(wrapped.state_dict()) == ["module." + key for key in net.state_dict()]
    x = torch.randn(5, 3)
    np.testing.assert_array_equal(wrapped(x).numpy(), net(x).numpy())
    assert [p is q for p, q in zip(wrapped.parameters(), net.parameters())] == [True, True, True,
                                                                                True]
    if torch.cuda.is_available():
        assert wrapped.device_ids == [0]
        with pytest.raises(RuntimeError, match="device_ids"):
            wrapped(x)                                      # parameters still on the CPU
        wrapped.to("cuda")
        assert wrapped(x).device == torch.device("cuda", 0)
        with pytest.raises(ValueError, match="DistributedDataParallel"):
            torch.nn.DataParallel(net, device_ids=[0, 1])
    else:
        assert wrapped.device_ids == [] and wrapped.output_device is None
