"""Batch transforms: shapes, exact results against NumPy (np.pad, flips, the normalisation
formula), one independent decision per image, and seeded repeatability."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from minicnn.data import transforms as T


def batch(rng, n=6, c=3, h=8, w=7):
    return rng.random((n, c, h, w), dtype=np.float32)


def window_offsets(padded, crop):
    """Every (top, left) at which ``crop`` (C, h, w) is a window of ``padded`` (C, H, W)."""
    h, w = crop.shape[1:]
    return [(top, left) for top in range(padded.shape[1] - h + 1)
            for left in range(padded.shape[2] - w + 1)
            if np.array_equal(padded[:, top:top + h, left:left + w], crop)]


# ----------------------------------------------------------------------------- RandomCrop

@pytest.mark.parametrize("padding_mode", ["constant", "edge", "reflect", "symmetric"])
def test_crop_of_the_padded_size_equals_np_pad(rng, padding_mode):
    images = batch(rng)
    crop = T.RandomCrop((8 + 2 * 3, 7 + 2 * 3), padding=3, padding_mode=padding_mode,
                        fill=0.25, generator=0)
    kwargs = {"constant_values": 0.25} if padding_mode == "constant" else {}
    expected = np.pad(images, [(0, 0), (0, 0), (3, 3), (3, 3)], mode=padding_mode, **kwargs)
    np.testing.assert_array_equal(crop(images), expected)


@pytest.mark.parametrize("padding, widths", [
    ((1, 2), [(2, 2), (1, 1)]),               # (left/right, top/bottom)
    ((1, 2, 3, 0), [(2, 0), (1, 3)]),         # (left, top, right, bottom)
])
def test_padding_forms_follow_torchvision(rng, padding, widths):
    images = batch(rng, n=2)
    size = (8 + sum(widths[0]), 7 + sum(widths[1]))
    out = T.RandomCrop(size, padding=padding, padding_mode="reflect", generator=0)(images)
    np.testing.assert_array_equal(out, np.pad(images, [(0, 0), (0, 0)] + widths, mode="reflect"))


@given(n=st.integers(1, 5), size=st.integers(1, 8), padding=st.integers(0, 3),
       mode=st.sampled_from(["constant", "reflect"]), seed=st.integers(0, 2**16))
def test_each_crop_is_a_window_of_its_own_padded_image(n, size, padding, mode, seed):
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 2, 8, 8)).astype(np.uint8)
    out = T.RandomCrop(size, padding=padding, padding_mode=mode, generator=seed)(images)
    assert out.shape == (n, 2, size, size) and out.dtype == np.uint8
    padded = np.pad(images, [(0, 0), (0, 0), (padding, padding), (padding, padding)], mode=mode)
    for image, crop in zip(padded, out):
        assert window_offsets(image, crop)


def test_crops_are_drawn_per_image_and_cover_all_offsets(rng):
    image = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = T.RandomCrop(4, padding=1, generator=1)(np.repeat(image, 400, axis=0))
    padded = np.pad(image[0], [(0, 0), (1, 1), (1, 1)])
    offsets = {window_offsets(padded, crop)[0] for crop in out}
    assert offsets == {(top, left) for top in range(3) for left in range(3)}


def test_crop_errors_and_pad_if_needed(rng):
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(9)(batch(rng))
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(4, padding=1, padding_mode="wrap")
    out = T.RandomCrop(10, pad_if_needed=True, generator=0)(batch(rng))
    assert out.shape == (6, 3, 10, 10)


# ----------------------------------------------------------------------------- flips

def test_flip_is_exact(rng):
    images = batch(rng)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(images), images[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(images), images)
    out = T.RandomHorizontalFlip(generator=3)(np.repeat(images[:1], 1000, axis=0))
    flipped = np.array([np.array_equal(o, images[0, ..., ::-1]) for o in out])
    unchanged = np.array([np.array_equal(o, images[0]) for o in out])
    assert np.all(flipped ^ unchanged)
    assert 400 < flipped.sum() < 600


def test_single_image_and_bad_shapes(rng):
    image = batch(rng)[0]
    assert T.RandomHorizontalFlip(p=1.0)(image).shape == image.shape
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[..., ::-1])
    assert T.RandomCrop(5, padding=2, generator=0)(image).shape == (3, 5, 5)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or a batch \(N, C, H, W\)"):
        T.RandomHorizontalFlip()(np.zeros((4, 4)))


# ----------------------------------------------------------------------------- Normalize

def test_normalize_values(rng):
    images = batch(rng)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    out = T.Normalize(mean, std)(images)
    expected = (images - np.array(mean, np.float32)[:, None, None]) / \
        np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(T.Normalize([0.5], [0.5])(images), (images - 0.5) / 0.5, rtol=1e-6)
    same = images.copy()
    assert T.Normalize(mean, std, inplace=True)(same) is not None
    np.testing.assert_allclose(same, expected, rtol=1e-6)


def test_normalize_matches_torch(rng):
    torch = pytest.importorskip("torch")
    images = batch(rng)
    mean, std = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
    reference = (torch.from_numpy(images) - torch.tensor(mean).view(1, 3, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1)
    np.testing.assert_allclose(T.Normalize(mean, std)(images), reference.numpy(), rtol=1e-6)


def test_normalize_errors(rng):
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="mean has 2 values for images with 3 channels"):
        T.Normalize([0.0, 0.0], [1.0])(batch(rng))
    with pytest.raises(TypeError, match="ToFloat"):
        T.Normalize([0.0], [1.0])(np.zeros((1, 1, 2, 2), np.uint8))


# ----------------------------------------------------------------------------- Cutout, ToFloat

def test_cutout_zeroes_one_clipped_square_per_image(rng):
    images = batch(rng, n=200, c=2, h=10, w=10) + 1.0  # no pixel is 0 before the cutout
    out = T.Cutout(4, generator=5)(images)
    interior = 0
    for before, after in zip(images, out):
        hole = after == 0
        assert np.array_equal(hole[0], hole[1])  # the same square in every channel
        np.testing.assert_array_equal(after[~hole], before[~hole])
        rows, cols = np.flatnonzero(hole[0].any(1)), np.flatnonzero(hole[0].any(0))
        assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        assert hole[0].sum() == len(rows) * len(cols)  # a rectangle
        assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
        interior += hole[0].sum() == 16
    assert interior > 50  # squares away from the border are whole


def test_to_float():
    images = np.array([0, 51, 255], np.uint8).reshape(1, 1, 1, 3)
    out = T.ToFloat()(images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0.0, 0.2, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(T.ToFloat()(out), out)  # floats pass through


def test_to_float_matches_torchvision_to_tensor():
    torch = pytest.importorskip("torch")
    images = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    expected = torch.from_numpy(images).to(torch.float32).div(255).numpy()
    np.testing.assert_array_equal(T.ToFloat()(images), expected)


# ----------------------------------------------------------------------------- seeding

def augment(generator=None):
    return T.Compose([T.RandomCrop(8, padding=2, padding_mode="reflect", generator=generator),
                      T.RandomHorizontalFlip(generator=generator),
                      T.Cutout(3, generator=generator)])


def test_seeded_transforms_repeat(rng):
    images = batch(rng, h=8, w=8)
    first = augment(generator=7)(images)
    np.testing.assert_array_equal(augment(generator=7)(images), first)
    assert not np.array_equal(augment(generator=8)(images), first)
    pipeline = augment(generator=7)
    pipeline(images)
    for transform in pipeline.transforms:
        transform.manual_seed(7)
    np.testing.assert_array_equal(pipeline(images), first)


def test_call_generator_takes_precedence_and_default_follows_manual_seed(rng):
    images = batch(rng, h=8, w=8)
    pipeline = augment(generator=1)
    a = pipeline(images, generator=np.random.default_rng(42))
    b = augment(generator=2)(images, generator=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    mc.manual_seed(3)
    c = augment()(images)
    mc.manual_seed(3)
    np.testing.assert_array_equal(augment()(images), c)


def test_compose_passes_the_generator_and_accepts_plain_callables(rng):
    images = batch(rng)
    pipeline = T.Compose([T.RandomHorizontalFlip(), lambda x: x * 2])
    out = pipeline(images, generator=np.random.default_rng(0))
    flip = np.random.default_rng(0).random(len(images)) < 0.5
    expected = np.where(flip[:, None, None, None], images[..., ::-1], images) * 2
    np.testing.assert_array_equal(out, expected)
    assert "RandomHorizontalFlip(p=0.5)" in repr(pipeline)
