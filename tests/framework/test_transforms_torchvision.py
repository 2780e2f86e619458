"""torchvision's transforms on minicnn's images: ToTensor, Resize (against torch's
F.interpolate when torch is installed, against hand-computed values always), CenterCrop, Pad,
RandomResizedCrop, RandomErasing, Lambda, and a Tensor in giving a Tensor out."""

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import transforms as T

try:
    import torch
except ImportError:
    torch = None


def test_to_tensor_of_uint8_hwc_and_gray_images(rng):
    image = rng.integers(0, 256, size=(5, 4, 3)).astype(np.uint8)
    tensor = T.ToTensor()(image)
    assert isinstance(tensor, mc.Tensor) and tensor.shape == (3, 5, 4)
    assert tensor.dtype == np.float32
    expected = image.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(tensor.numpy(), expected)
    if torch is not None:   # torchvision: from_numpy(pic.transpose(2, 0, 1)).float().div(255)
        theirs = torch.from_numpy(image.transpose(2, 0, 1).copy()).float().div(255)
        np.testing.assert_array_equal(tensor.numpy(), theirs.numpy())
    gray = T.ToTensor()(image[:, :, 0])
    assert gray.shape == (1, 5, 4)
    deep = T.ToTensor()(image.astype(np.int16) * 100)             # a 16-bit image: not scaled
    assert deep.dtype == np.int16 and deep.shape == (3, 5, 4)
    np.testing.assert_array_equal(deep.numpy(), image.transpose(2, 0, 1).astype(np.int16) * 100)
    minicnn_image = rng.random((3, 5, 4), dtype=np.float32)     # what minicnn's datasets hand
    np.testing.assert_array_equal(T.ToTensor()(minicnn_image).numpy(), minicnn_image)
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(mc.tensor(minicnn_image))
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions"):
        T.ToTensor()(np.zeros((1, 2, 2, 3), np.uint8))


def test_to_tensor_then_normalize_as_the_tutorial(rng):
    image = rng.integers(0, 256, size=(6, 6, 3)).astype(np.uint8)
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    out = pipeline(image)
    assert isinstance(out, mc.Tensor) and out.shape == (3, 6, 6)
    expected = (image.transpose(2, 0, 1).astype(np.float32) / 255 - 0.5) / 0.5
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_resize_by_hand():
    square = np.array([[[[0.0, 1.0], [2.0, 3.0]]]], np.float32)
    # up: output pixel i samples s (i + 1/2) - 1/2 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]
    fraction = np.array([0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(T.Resize((4, 4))(square)[0, 0],
                               2 * fraction[:, None] + fraction[None, :], rtol=1e-6)
    # down by 2 with antialiasing: the triangle of width 2 weighs pixels (3, 3, 1) / 7
    row = np.array([[[[0.0, 1.0, 2.0, 3.0]]]], np.float32)
    np.testing.assert_allclose(T.Resize((1, 2))(row)[0, 0, 0], [1.25 / 1.75, 4 / 1.75],
                               rtol=1e-6)
    # without antialiasing: plain bilinear at 0.5 and 2.5
    np.testing.assert_allclose(T.Resize((1, 2), antialias=False)(row)[0, 0, 0], [0.5, 2.5],
                               rtol=1e-6)
    np.testing.assert_array_equal(T.Resize((1, 2), interpolation="nearest")(row)[0, 0, 0],
                                  [0, 2])


@pytest.mark.skipif(torch is None, reason="compares with torch's F.interpolate")
@pytest.mark.parametrize("size", [(7, 9), (30, 40), (17, 5), 10, [12]])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_matches_torch(rng, size, antialias):
    images = rng.random((2, 3, 17, 23), dtype=np.float32)
    ours = T.Resize(size, antialias=antialias)(images)
    theirs = torch.nn.functional.interpolate(torch.from_numpy(images), size=ours.shape[2:],
                                             mode="bilinear", align_corners=False,
                                             antialias=antialias).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-6)
    nearest = T.Resize(size, interpolation=T.InterpolationMode.NEAREST)(images)
    np.testing.assert_array_equal(nearest, torch.nn.functional.interpolate(
        torch.from_numpy(images), size=ours.shape[2:], mode="nearest").numpy())


def test_resize_sizes_and_uint8(rng):
    images = rng.random((1, 1, 17, 23), dtype=np.float32)
    assert T.Resize(10)(images).shape == (1, 1, 10, 13)        # int(10 * 23 / 17) = 13
    assert T.Resize(10, max_size=12)(images).shape == (1, 1, 9, 12)
    assert T.Resize(10)(images.transpose(0, 1, 3, 2)).shape == (1, 1, 13, 10)
    with pytest.raises(ValueError, match="max_size = 10 must be strictly greater"):
        T.Resize(10, max_size=10)(images)
    with pytest.raises(ValueError, match="interpolation must be 'bilinear' or 'nearest'"):
        T.Resize(4, interpolation="bicubic")
    pixels = np.array([[[[0, 255, 10, 11]]]], np.uint8)
    out = T.Resize((1, 2))(pixels)
    # weights (3, 3, 1) / 7 and (1, 3, 3) / 7: 775 / 7 = 110.7 and 318 / 7 = 45.4, rounded
    assert out.dtype == np.uint8 and out.tolist() == [[[[111, 45]]]]


def test_center_crop_rounds_and_pads():
    image = np.arange(30, dtype=np.float32).reshape(1, 5, 6)
    # top = round(1.5) = 2, left = round(1.5) = 2 (round half to even)
    np.testing.assert_array_equal(T.CenterCrop((2, 3))(image), image[:, 2:4, 2:5])
    np.testing.assert_array_equal(T.CenterCrop(3)(image), image[:, 1:4, 2:5])
    small = np.ones((1, 2, 3), np.float32)
    padded = T.CenterCrop(4)(small)
    expected = np.zeros((1, 4, 4), np.float32)
    expected[:, 1:3, 0:3] = 1          # torchvision: pad (left 0, top 1, right 1, bottom 1)
    np.testing.assert_array_equal(padded, expected)


def test_pad_modes(rng):
    images = rng.random((2, 3, 4, 5), dtype=np.float32)
    np.testing.assert_array_equal(T.Pad((1, 2, 3, 0), fill=0.5)(images),
                                  np.pad(images, [(0, 0), (0, 0), (2, 0), (1, 3)],
                                         constant_values=0.5))
    np.testing.assert_array_equal(T.Pad(2, padding_mode="reflect")(images),
                                  np.pad(images, [(0, 0), (0, 0), (2, 2), (2, 2)],
                                         mode="reflect"))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        T.Pad(1, padding_mode="wrap")


def test_random_resized_crop(rng):
    images = rng.random((3, 2, 12, 12), dtype=np.float32)
    whole = T.RandomResizedCrop(6, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=0)(images)
    np.testing.assert_allclose(whole, T.Resize((6, 6))(images), rtol=1e-6)
    crop = T.RandomResizedCrop((5, 7), generator=1)
    out = crop(images)
    assert out.shape == (3, 2, 5, 7)
    np.testing.assert_array_equal(out, T.RandomResizedCrop((5, 7), generator=1)(images))
    # windows drawn per image within the allowed area and aspect ratio
    draws = [crop.get_params(40, 50, np.random.default_rng(s)) for s in range(50)]
    for top, left, h, w in draws:
        assert 0 <= top <= 40 - h and 0 <= left <= 50 - w
    assert len({d for d in draws}) > 40
    # a ratio no window can have: the central crop of the nearest allowed ratio
    narrow = T.RandomResizedCrop(4, ratio=(10.0, 10.0))
    assert narrow.get_params(20, 20, np.random.default_rng(0)) == (9, 0, 2, 20)
    with pytest.raises(ValueError, match="scale should be of kind \\(min, max\\)"):
        T.RandomResizedCrop(4, scale=(1.0, 0.5))


def test_random_erasing(rng):
    images = rng.random((20, 3, 10, 10), dtype=np.float32) + 1     # never 0 before erasing
    erased = T.RandomErasing(p=1.0, value=0, generator=0)(images)
    assert not np.shares_memory(erased, images)
    for image in erased:
        rows, cols = np.nonzero(image[0] == 0)
        assert len(rows) > 0                                        # one rectangle each
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(rows) == h * w and h < 10 and w < 10
        assert np.all(image[:, rows, cols] == 0)
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(images), images)
    per_channel = T.RandomErasing(p=1.0, value=(7, 8, 9), generator=0)(images)
    assert {7.0, 8.0, 9.0} <= set(np.unique(per_channel).tolist())
    noise = T.RandomErasing(p=1.0, value="random", generator=0)(images)
    assert np.any(noise < 0)
    in_place = images.copy()
    T.RandomErasing(p=1.0, inplace=True, generator=0)(in_place)
    np.testing.assert_array_equal(in_place, erased)
    with pytest.raises(ValueError, match="If value is str, it should be 'random'"):
        T.RandomErasing(value="zeros")
    with pytest.raises(ValueError, match="probability should be between 0 and 1"):
        T.RandomErasing(p=2)


def test_lambda_and_tensors_in_tensors_out(rng):
    double = T.Lambda(lambda images: images * 2)
    np.testing.assert_array_equal(double(np.ones(2)), [2, 2])
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)
    image = mc.tensor(rng.random((3, 8, 8), dtype=np.float32))
    out = T.Compose([T.CenterCrop(4), T.Resize(2)])(image)
    assert isinstance(out, mc.Tensor) and out.shape == (3, 2, 2)
