"""The parts the recipes need (issue 23): airbench94's net, nn.init.dirac_ and whitening_,
optim.swa_utils (AveragedModel, update_bn), Lookahead, AlternatingFlip, SubtractMean, the
flip-translate test-time augmentation and the float32 GELU. PyTorch comparisons run where
PyTorch is installed; stored values and exact properties otherwise."""

import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.evaluate import evaluate, predict_proba, tta_views
from minicnn.backend.reference import _erf as erf

try:
    import torch
except ImportError:     # the comparisons skip; the stored values and properties still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


# ----------------------------------------------------------------------------- the network
def torch_airbench94():
    """airbench94's network as its repository builds it (float32, CPU)."""
    tnn = torch.nn

    def batch_norm(width):
        norm = tnn.BatchNorm2d(width, eps=1e-12, momentum=0.4)
        norm.weight.requires_grad = False
        return norm

    def group(cin, cout):
        return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1, bias=False), tnn.MaxPool2d(2),
                              batch_norm(cout), tnn.GELU(),
                              tnn.Conv2d(cout, cout, 3, padding=1, bias=False),
                              batch_norm(cout), tnn.GELU())

    return tnn.Sequential(tnn.Conv2d(3, 24, 2, padding=0, bias=True), tnn.GELU(),
                          group(24, 64), group(64, 256), group(256, 256), tnn.MaxPool2d(3),
                          tnn.Flatten(), tnn.Linear(256, 10, bias=False))


def test_airbench94_has_airbench_s_parameters_and_frozen_layers():
    model = mc.models.create("airbench94")
    assert sum(p.numpy().size for p in model.parameters()) == 1_972_792
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen[0] == "whiten.weight" and len(frozen) == 7      # and the six BN scales
    conv = model.block2.conv1.weight.numpy()                      # dirac on the first 64 filters
    assert np.array_equal(conv[:64, :, 1, 1], np.eye(64, dtype=np.float32))
    assert np.count_nonzero(conv[:64]) == 64 and np.count_nonzero(conv[64:]) > 0


@needs_torch
def test_airbench94_computes_what_airbench_s_network_computes():
    mc.manual_seed(0)
    model = mc.models.create("airbench94").double()
    reference = torch_airbench94().double()
    mine = list(model.state_dict().values())
    theirs = reference.state_dict()
    assert [tuple(v.shape) for v in mine] == [tuple(v.shape) for v in theirs.values()]
    reference.load_state_dict({key: torch.from_numpy(np.array(value.numpy()))
                               for key, value in zip(theirs, mine)})
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32))
    for training in (True, False):
        model.train(training)
        reference.train(training)
        expected = reference(torch.from_numpy(x)).detach().numpy() / 9
        np.testing.assert_allclose(model(mc.tensor(x)).numpy(), expected, rtol=1e-9, atol=1e-12)


# -------------------------------------------------------------------------------- init
@needs_torch
@pytest.mark.parametrize("shape, groups", [((6, 4, 3, 3), 2), ((3, 5, 4), 1), ((4, 2, 3, 3, 3), 1)])
def test_dirac_is_pytorch_s(shape, groups):
    weight = nn.Parameter(mc.tensor(np.ones(shape, np.float32)))
    nn.init.dirac_(weight, groups=groups)
    expected = torch.ones(shape)
    torch.nn.init.dirac_(expected, groups=groups)
    assert np.array_equal(weight.numpy(), expected.numpy())


def test_dirac_passes_the_input_through_and_refuses_bad_shapes():
    weight = nn.Parameter(mc.tensor(np.zeros((3, 3, 3, 3))))
    nn.init.dirac_(weight)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    out = mc.nn.functional.conv2d(mc.tensor(x), weight, padding=1).numpy()
    np.testing.assert_allclose(out, x, atol=1e-15)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.init.dirac_(weight, groups=2)
    with pytest.raises(ValueError, match="3, 4 or 5"):
        nn.init.dirac_(nn.Parameter(mc.tensor(np.zeros((3, 3)))))


def _patches(images, k):
    windows = np.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(2, 3))
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1] * k * k)


def test_whitening_decorrelates_the_patches():
    rng = np.random.default_rng(0)
    # correlated images: neighbouring pixels and channels share a smooth component
    smooth = rng.standard_normal((40, 1, 12, 12)).repeat(3, axis=1)
    images = smooth + 0.3 * rng.standard_normal((40, 3, 12, 12))
    weight = nn.Parameter(mc.tensor(np.zeros((24, 3, 2, 2))))
    nn.init.whitening_(weight, images, eps=1e-6)
    w = weight.numpy().reshape(24, -1)
    np.testing.assert_array_equal(w[12:], -w[:12])
    outputs = _patches(images, 2) @ w[:12].T                   # the conv on every patch
    covariance = outputs.T @ outputs / len(outputs)
    np.testing.assert_allclose(covariance, np.eye(12), atol=1e-4)
    eigenvalues = np.linalg.eigvalsh(_patches(images, 2).T @ _patches(images, 2)
                                     / len(outputs))[::-1]
    norms = np.linalg.norm(w[:12], axis=1)                      # 1 / sqrt(lambda + eps)
    np.testing.assert_allclose(norms, 1 / np.sqrt(eigenvalues + 1e-6), rtol=1e-9)


@needs_torch
def test_whitening_matches_airbench_s_filters_up_to_sign():
    images = np.random.default_rng(1).standard_normal((20, 3, 8, 8)).astype(np.float32)
    weight = nn.Parameter(mc.tensor(np.zeros((24, 3, 2, 2), np.float32)))
    nn.init.whitening_(weight, images)
    x = torch.from_numpy(images)
    patches = x.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 3, 2, 2).double()
    flat = patches.view(len(patches), -1)
    values, vectors = torch.linalg.eigh(flat.T @ flat / len(flat), UPLO="U")
    values, vectors = values.flip(0).view(-1, 1, 1, 1), vectors.T.reshape(12, 3, 2, 2).flip(0)
    scaled = (vectors / torch.sqrt(values + 5e-4)).numpy().reshape(12, -1)
    mine = weight.numpy().reshape(24, -1)[:12]
    signs = np.sign((mine * scaled).sum(axis=1))[:, None]      # eigenvectors' sign is free
    np.testing.assert_allclose(mine, signs * scaled, rtol=2e-4, atol=2e-5)


def test_whitening_refuses_a_weight_that_does_not_fit():
    images = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match="12 or 24 filters"):
        nn.init.whitening_(nn.Parameter(mc.tensor(np.zeros((10, 3, 2, 2)))), images)
    with pytest.raises(ValueError, match="images of shape"):
        nn.init.whitening_(nn.Parameter(mc.tensor(np.zeros((12, 3, 2, 2)))),
                           np.zeros((2, 1, 4, 4)))


# -------------------------------------------------------------------- weight averages
def small_net(module):
    return module.Sequential(module.Conv2d(2, 3, 3), module.BatchNorm2d(3), module.ReLU(),
                             module.Flatten(), module.Linear(3 * 4 * 4, 2))


def _perturb(model, rng):
    for tensor in list(model.parameters()) + [b for b in model.buffers()
                                              if np.issubdtype(b.dtype, np.floating)]:
        tensor.array[...] += rng.standard_normal(tensor.shape)


@needs_torch
@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", ["swa", "ema", "ema_multi"])
def test_averaged_model_is_pytorch_s(kind, use_buffers):
    swa = mc.optim.swa_utils
    tswa = torch.optim.swa_utils
    mc.manual_seed(0)
    model = small_net(nn).double()
    reference = small_net(torch.nn).double()
    reference.load_state_dict({key: torch.from_numpy(np.array(value.numpy()))
                               for key, value in zip(reference.state_dict(),
                                                     model.state_dict().values())})
    options = {"swa": ({}, {}),
               "ema": ({"avg_fn": swa.get_ema_avg_fn(0.9)}, {"avg_fn": tswa.get_ema_avg_fn(0.9)}),
               "ema_multi": ({"multi_avg_fn": swa.get_ema_multi_avg_fn(0.8)},
                             {"multi_avg_fn": tswa.get_ema_multi_avg_fn(0.8)})}[kind]
    averaged = swa.AveragedModel(model, use_buffers=use_buffers, **options[0])
    expected = tswa.AveragedModel(reference, use_buffers=use_buffers, **options[1])
    rng = np.random.default_rng(2)
    for _ in range(4):
        _perturb(model, rng)
        model[1].num_batches_tracked.array[...] += 5     # averaged, then truncated, as PyTorch
        reference.load_state_dict({key: torch.from_numpy(np.array(value.numpy()))
                                   for key, value in zip(reference.state_dict(),
                                                         model.state_dict().values())})
        averaged.update_parameters(model)
        expected.update_parameters(reference)
    mine, theirs = averaged.state_dict(), expected.state_dict()
    assert list(mine) == list(theirs)
    for key in mine:
        np.testing.assert_allclose(np.asarray(mine[key].numpy(), np.float64),
                                   theirs[key].double().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=key)


@needs_torch
def test_update_bn_is_pytorch_s():
    mc.manual_seed(0)
    model = small_net(nn).double()
    reference = small_net(torch.nn).double()
    reference.load_state_dict({key: torch.from_numpy(np.array(value.numpy()))
                               for key, value in zip(reference.state_dict(),
                                                     model.state_dict().values())})
    batches = [np.random.default_rng(i).standard_normal((5 + i, 2, 6, 6)) * (i + 1)
               for i in range(3)]
    model.eval()
    mc.optim.swa_utils.update_bn([(mc.tensor(b), None) for b in batches], model)
    torch.optim.swa_utils.update_bn([(torch.from_numpy(b), None) for b in batches], reference)
    assert not model.training and model[1].momentum == 0.1
    for key in ("1.running_mean", "1.running_var"):
        np.testing.assert_allclose(model.state_dict()[key].numpy(),
                                   reference.state_dict()[key].numpy(), rtol=1e-12)


def test_lookahead_pulls_the_weights_towards_the_slow_ones_every_k_steps():
    model = small_net(nn).double()
    start = [p.numpy().copy() for p in model.parameters()]
    lookahead = mc.optim.Lookahead(model, k=2, alpha=lambda step: 0.25)
    rng = np.random.default_rng(0)
    _perturb(model, rng)
    lookahead.step()                                        # step 1: nothing
    fast = [p.numpy().copy() for p in model.parameters()]
    _perturb(model, rng)
    fast = [p.numpy().copy() for p in model.parameters()]
    lookahead.step()                                        # step 2: slow += 0.25 (fast - slow)
    for p, old, new in zip(model.parameters(), start, fast):
        np.testing.assert_allclose(p.numpy(), old + 0.25 * (new - old), rtol=1e-12)
    slow = [p.numpy().copy() for p in model.parameters()]
    _perturb(model, rng)
    lookahead.finish()                                      # the model gets the slow weights
    for p, value in zip(model.parameters(), slow):
        np.testing.assert_array_equal(p.numpy(), value)
    state = lookahead.state_dict()
    other = mc.optim.Lookahead(model, k=2)
    other.load_state_dict(state)
    assert other.steps == 2 and all(np.array_equal(a, b) for a, b in zip(other.slow, slow))
    with pytest.raises(ValueError, match="k must be"):
        mc.optim.Lookahead(model, k=0)


# ------------------------------------------------------------------------------- data
def test_alternating_flip_mirrors_each_image_every_other_epoch_through_the_loader():
    images = np.random.default_rng(0).integers(0, 256, (20, 1, 3, 4), dtype=np.uint8)
    base = mc.data.ArrayDataset(images, np.arange(20), classes=[str(i) for i in range(20)])
    dataset = mc.data.AlternatingFlip(base, seed=3)
    loader = mc.data.DataLoader(dataset, batch_size=6, shuffle=True, seed=1)
    flipped = []
    for _ in range(3):
        seen = np.zeros(20, bool)
        for batch, labels in loader:
            for image, label in zip(batch.numpy(), labels.numpy()):
                original = images[label].astype(np.float32) / 255
                mirrored = original[..., ::-1]
                assert np.array_equal(image, original) or np.array_equal(image, mirrored)
                seen[label] = np.array_equal(image, mirrored)
        flipped.append(seen)
    assert 0 < flipped[0].sum() < 20                               # one coin per image
    assert np.array_equal(flipped[1], ~flipped[0]) and np.array_equal(flipped[2], flipped[0])
    dataset.set_epoch(3)                                           # one sample, an odd epoch
    image, label = dataset[4]
    original = images[4].astype(np.float32) / 255
    assert np.array_equal(image, original[..., ::-1] if flipped[1][4] else original)


def test_subtract_mean_is_per_pixel():
    mean = np.random.default_rng(0).random((3, 4, 5))
    images = np.random.default_rng(1).random((2, 3, 4, 5)).astype(np.float32)
    out = mc.data.transforms.SubtractMean(mean)(images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, images - mean, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        mc.data.transforms.SubtractMean(mean)(np.zeros((2, 3, 5, 5), np.float32))


# -------------------------------------------------------------------------------- TTA
@needs_torch
def test_flip_translate_views_are_airbench_s():
    images = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    views = tta_views(images, "flip-translate")
    assert sum(weight for weight, _ in views) == 1
    x = torch.from_numpy(images)
    padded = torch.nn.functional.pad(x, (1,) * 4, "reflect")
    expected = [x, x.flip(-1)] + [v for moved in (padded[:, :, 0:6, 0:6], padded[:, :, 2:8, 2:8])
                                  for v in (moved, moved.flip(-1))]
    for (_, view), reference in zip(views, expected):
        assert np.array_equal(view, reference.numpy())


def test_evaluate_with_tta_agrees_with_predict_proba():
    mc.manual_seed(0)
    model = small_net(nn)
    images = np.random.default_rng(0).standard_normal((12, 2, 6, 6)).astype(np.float32)
    labels = np.arange(12) % 2
    loader = [(mc.tensor(images[:7]), labels[:7]), (mc.tensor(images[7:]), labels[7:])]
    for tta in (None, "flip", "flip-translate"):
        probs, _ = predict_proba(model, loader, tta=tta)
        result = evaluate(model, loader, tta=tta)
        assert result["top1"] == np.mean(probs.argmax(axis=1) == labels)
        np.testing.assert_allclose(result["loss"], -np.log(probs[np.arange(12), labels]).mean(),
                                   rtol=1e-5)
    with pytest.raises(ValueError, match="tta"):
        evaluate(model, loader, tta="rotate")


# ------------------------------------------------------------------------------- GELU
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_float32_gelu_is_within_float32_resolution_of_the_exact_one(backend):
    x = np.linspace(-8, 8, 200_001).astype(np.float32)
    exact = np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)
    assert np.abs(erf(x) - exact).max() < 1e-6
    assert erf(x).dtype == np.float32
    with mc.backend.use(backend):
        y = mc.nn.functional_extra.gelu(mc.tensor(x)).numpy()
    np.testing.assert_allclose(y, x * 0.5 * (1 + np.frompyfunc(math.erf, 1, 1)(
        x.astype(np.float64) / math.sqrt(2)).astype(np.float64)), rtol=2e-6, atol=2e-6)


@needs_torch
def test_gelu_forward_and_backward_are_pytorch_s_in_float32():
    approximate = "none"        # the tanh form's float32 rows are in the conformance table
    x = np.random.default_rng(0).standard_normal((64, 50)).astype(np.float32) * 3
    upstream = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    mine = mc.tensor(x, requires_grad=True)
    out = mc.nn.functional_extra.gelu(mine, approximate=approximate)
    out.backward(mc.tensor(upstream))
    theirs = torch.from_numpy(x).requires_grad_()
    expected = torch.nn.functional.gelu(theirs, approximate=approximate)
    expected.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=2e-6)
