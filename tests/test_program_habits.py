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
