"""The model zoo: registry, exact parameter counts, forward shapes (every model), backward
(the CIFAR ones), train / eval behaviour of dropout, BN, stochastic depth and drop-path, and
torchvision's state-dict layout.

Forward passes of the ImageNet models at their natural size take seconds to minutes in NumPy:
they are marked slow; the fast tests run every architecture at a small input instead."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.models.fractalnet import DropPathPlan, FractalNet, join
from minicnn.models.googlenet import GoogLeNetOutputs
from minicnn.models.nin import NIN
from minicnn.models.densenet import DenseNet
from minicnn.models.resnet import CifarResNet, CifarResNeXt, ShortcutA, WideResNet
from minicnn.models.stochastic_depth import StochasticDepth, StochasticDepthResNet

PARAMETER_COUNTS = {   # issue 5; the others: the paper's figure, see each docstring
    "alexnet": 62_378_344, "vgg11": 132_863_336, "vgg13": 133_047_848,
    "vgg16": 138_357_544, "vgg19": 143_667_240, "vgg11_bn": 132_868_840,
    "vgg16_bn": 138_365_992, "resnet18": 11_689_512, "resnet34": 21_797_672,
    "resnet50": 25_557_032, "resnet101": 44_549_160, "resnet152": 60_192_808,
    "wide_resnet50_2": 68_883_240, "resnext50_32x4d": 25_028_904, "densenet121": 7_978_856,
    "densenet169": 14_149_480, "densenet201": 20_013_928, "googlenet": 6_624_904,
    "squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496, "resnet20": 269_722,
    "resnet56": 853_018, "resnet110": 1_727_962, "lenet5": 61_706,
    # computed from the papers' architectures, each within the paper's rounded figure
    "zfnet": 62_357_608, "vgg11_lrn": 132_863_336, "vgg16_c": 133_638_952,
    "vgg13_bn": 133_053_736, "vgg19_bn": 143_678_248, "nin": 966_986,
    "googlenet_naive": 97_526_008, "resnet32": 464_154, "resnet44": 658_586,
    "plain20": 269_722, "plain32": 464_154, "plain44": 658_586, "plain56": 853_018,
    "wrn16_4": 2_748_890, "wrn28_10": 36_479_194, "resnext29_8x64d": 34_426_698,
    "resnet110_sd": 1_727_962, "densenet_bc100_12": 769_162, "fractalnet": 33_724_618,
    "airbench94": 1_972_792,
}

IMAGENET = [name for name in mc.models.names() if mc.models.default_num_classes(name) == 1000]
SMALL = [name for name in mc.models.names() if name not in IMAGENET]

# the smallest comfortable input for a quick forward of each ImageNet model
QUICK_INPUT = {"alexnet": 67, "zfnet": 64, "googlenet": 32, "googlenet_naive": 32,
               "squeezenet1_0": 64, "squeezenet1_1": 32}


@pytest.fixture
def no_init(monkeypatch):
    """Skip weight initialisation where only shapes matter (counts, output shapes): the large
    models are then built in milliseconds instead of seconds. Parameters are zeroed."""
    for name in ("uniform_", "normal_"):
        monkeypatch.setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    monkeypatch.setattr(nn.init, "constant_", lambda tensor, value: tensor)


def _count(model):
    return sum(param.numel() for param in model.parameters())


def _zeroed(model):
    for param in model.parameters():
        param.array[...] = 0
    return model


def _input(shape, seed=0, dtype=np.float32):
    return mc.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


# ----- registry ---------------------------------------------------------------------------------

def test_every_model_of_the_issue_is_registered_with_a_description():
    assert set(mc.models.names()) == set(PARAMETER_COUNTS)
    for name in mc.models.names():
        assert name == name.lower()
        assert len(mc.models.describe(name)) > 10
        assert mc.models.input_size(name)[0] in (1, 3)


def test_default_classes_and_errors(no_init):
    assert mc.models.default_num_classes("resnet50") == 1000
    assert mc.models.default_num_classes("resnet20") == 10
    assert mc.models.default_num_classes("lenet5") == 10
    assert mc.models.create("resnet20", num_classes=100).fc.out_features == 100
    assert mc.models.create("ResNet18").fc.out_features == 1000
    with pytest.raises(ValueError, match="unknown model 'resnet19'"):
        mc.models.create("resnet19")
    for bad in (0, 2.5, "10", True):
        with pytest.raises(ValueError, match="num_classes"):
            mc.models.create("resnet20", num_classes=bad)
    with pytest.raises(TypeError, match="^unknown option 'no_such_option'; the options of "
                                        "resnet20 are num_classes, zero_init_residual$"):
        mc.models.create("resnet20", no_such_option=1)
    with pytest.raises(TypeError, match="^unknown option 'aux_logit'; the options of googlenet "
                                        "are num_classes, aux_logits, init_weights, "):
        mc.models.create("googlenet", aux_logit=True)
    with pytest.raises(ValueError, match="groups"):
        mc.models.create("alexnet", groups=4)
    for name, switch in [("lenet5", "modern"), ("googlenet", "aux_logits"),
                         ("resnet18", "zero_init_residual"), ("resnet56", "zero_init_residual"),
                         ("vgg11", "init_weights")]:
        for bad in ("x", 1, None):
            with pytest.raises(TypeError, match=f"^option '{switch}' is a switch: expected True "
                                                f"or False, got {bad!r}$"):
                mc.models.create(name, **{switch: bad})


# ----- parameter counts -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PARAMETER_COUNTS))
def test_parameter_count(name, no_init):
    assert _count(mc.models.create(name)) == PARAMETER_COUNTS[name]


@pytest.mark.parametrize("name,options,count", [
    ("alexnet", {"groups": 2}, 60_965_224),
    ("googlenet", {"aux_logits": True}, 13_004_888),
    ("googlenet", {"batch_norm": False}, 6_998_552),
    ("lenet5", {"modern": True}, 61_706),
    ("resnet18", {"num_classes": 10}, 11_689_512 - 990 * 513),
])
def test_parameter_count_with_options(name, options, count, no_init):
    assert _count(mc.models.create(name, **options)) == count


def test_initialisation_follows_each_scheme():
    mc.manual_seed(0)
    resnet = mc.models.create("resnet20")     # He normal, fan_out: std sqrt(2 / (16 * 9))
    assert resnet.layer1[0].conv1.weight.numpy().std() == pytest.approx(np.sqrt(2 / 144), 0.05)
    assert np.all(resnet.bn1.weight.numpy() == 1) and np.all(resnet.bn1.bias.numpy() == 0)
    googlenet = mc.models.create("googlenet")      # N(0, 0.01^2)
    assert googlenet.inception4a.branch2[1].conv.weight.numpy().std() == pytest.approx(0.01, 0.05)
    paper = mc.models.create("googlenet", batch_norm=False)    # Xavier, biases 0.2
    assert np.all(paper.conv1.conv.bias.numpy() == np.float32(0.2))


def test_cifar_resnet_zero_init_residual_starts_each_block_as_its_shortcut():
    mc.manual_seed(0)
    default = mc.models.create("resnet20")
    mc.manual_seed(0)
    zeroed = mc.models.create("resnet20", zero_init_residual=True)
    blocks = [block for stage in (zeroed.layer1, zeroed.layer2, zeroed.layer3) for block in stage]
    assert len(blocks) == 9 and all(np.all(block.bn2.weight.numpy() == 0) for block in blocks)
    assert all(np.all(block.bn1.weight.numpy() == 1) for block in blocks)
    assert all(np.all(m.weight.numpy() == 1) for m in default.modules()
               if isinstance(m, nn.BatchNorm2d))
    for (name, a), (_, b) in zip(default.named_parameters(), zeroed.named_parameters()):
        if not name.endswith("bn2.weight"):        # the same draws otherwise
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    zeroed.eval()
    x = mc.tensor(np.abs(_input((2, 16, 8, 8)).numpy()))
    with mc.no_grad():
        np.testing.assert_array_equal(zeroed.layer1(x).numpy(), x.numpy())
        np.testing.assert_array_equal(zeroed.layer2(x).numpy(),
                                      ShortcutA(16, 32, 2)(x).numpy())


# ----- forward shapes ---------------------------------------------------------------------------

def _quick_input_size(name):
    """A small input each architecture accepts: ImageNet models shrunk to 32-67 pixels, the
    CIFAR ones to 8x8 (all end in global pooling), LeNet-5, FractalNet (five 2x2 pools) and
    airbench94 (a 2x2 conv, three 2x2 pools and a 3x3 one) at their natural size."""
    channels, height, _ = mc.models.input_size(name)
    if name in QUICK_INPUT:
        size = QUICK_INPUT[name]
    elif name in IMAGENET:
        size = 32
    elif name in ("lenet5", "fractalnet", "airbench94"):
        size = height
    else:
        size = 8
    return channels, size, size


@pytest.mark.parametrize("name", mc.models.names())
def test_every_model_forward_at_a_small_input(name, no_init):
    model = _zeroed(mc.models.create(name, num_classes=7)).eval()
    with mc.no_grad():
        assert model(_input((1,) + _quick_input_size(name))).shape == (1, 7)


@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_forward_and_backward_at_natural_size(name):
    _forward_backward(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL)
def test_cifar_and_mnist_models_forward_and_backward_at_natural_size(name):
    _forward_backward(name)


def _forward_backward(name):
    mc.manual_seed(0)
    model = mc.models.create(name)
    x = _input((2,) + mc.models.input_size(name))
    output = model(x)
    assert output.shape == (2, mc.models.default_num_classes(name))
    assert np.all(np.isfinite(output.numpy()))
    output.sum().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and param.grad.shape == param.shape, param_name
        assert np.all(np.isfinite(param.grad.numpy())), param_name


@pytest.mark.parametrize("model", [
    lambda: CifarResNet(8),
    lambda: CifarResNet(8, residual=False),
    lambda: StochasticDepthResNet(8),
    lambda: CifarResNeXt(cardinality=2, base_width=2, depth=11),
    lambda: DenseNet(4, (2, 2, 2), 8, num_classes=10, cifar=True),
    lambda: FractalNet(channels=(4, 8, 8, 8, 8)),
    lambda: WideResNet(10, 2),
    lambda: NIN(),
], ids=["resnet8", "plain8", "sd8", "resnext11", "densenet_tiny", "fractal_narrow", "wrn10_2",
        "nin"])
def test_reduced_cifar_families_forward_and_backward(model):
    mc.manual_seed(0)
    model = model()
    size = 32 if isinstance(model, FractalNet) else 16
    output = model(_input((2, 3, size, size)))
    assert output.shape == (2, 10)
    output.sum().backward()
    assert all(param.grad is not None for param in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_models_forward_at_natural_size(name):
    model = mc.models.create(name).eval()
    with mc.no_grad():
        output = model(_input((1,) + mc.models.input_size(name)))
    assert output.shape == (1, 1000)
    assert np.all(np.isfinite(output.numpy()))


def test_lenet5_shapes_match_the_paper():
    summary = mc.summary(mc.models.create("lenet5"), (1, 28, 28))
    shapes = {row.name: row.output_shape[1:] for row in summary.rows}
    assert shapes["features.0"] == (6, 28, 28) and shapes["features.2"] == (6, 14, 14)
    assert shapes["features.3"] == (16, 10, 10) and shapes["features.5"] == (16, 5, 5)
    assert shapes["features.6"] == (120, 1, 1) and shapes["classifier.1"] == (84,)
    modern = mc.models.create("lenet5", modern=True)
    assert isinstance(modern.features[1], nn.ReLU)
    assert isinstance(modern.features[2], nn.MaxPool2d)


# ----- train / eval behaviour -----------------------------------------------------------------

def test_dropout_is_random_in_training_and_off_in_eval():
    mc.manual_seed(0)
    model = mc.models.create("nin")
    x = _input((2, 3, 8, 8))
    with mc.no_grad():
        model.eval()
        first, second = model(x).numpy(), model(x).numpy()
        model.train()
        third, fourth = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(third, fourth)


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    mc.manual_seed(0)
    model = CifarResNet(8)
    x = _input((4, 3, 8, 8))
    running_mean = model.bn1.running_mean.numpy().copy()
    with mc.no_grad():
        model(x)
    assert not np.allclose(model.bn1.running_mean.numpy(), running_mean)
    assert int(model.bn1.num_batches_tracked.item()) == 1
    model.eval()
    updated = model.bn1.running_mean.numpy().copy()
    with mc.no_grad():
        batch = model(x).numpy()
        alone = model(x[0:1]).numpy()
    np.testing.assert_array_equal(model.bn1.running_mean.numpy(), updated)
    np.testing.assert_allclose(alone[0], batch[0], rtol=1e-4, atol=1e-5)


def test_stochastic_depth_module():
    x = _input((8, 2, 3, 3))
    module = StochasticDepth(0.5, mode="row")
    module.eval()
    assert module(x) is x
    module.train()
    mc.manual_seed(1)
    out = module(x).numpy() / x.numpy()
    per_sample = out.reshape(8, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0}
    assert np.all(per_sample == per_sample[:, :1])        # one decision per sample
    assert 0 < np.count_nonzero(per_sample[:, 0]) < 8
    batch = StochasticDepth(0.5, mode="batch")
    values = {float(np.unique(batch(x).numpy() / x.numpy())[0]) for _ in range(20)}
    assert values == {0.0, 2.0}                           # the whole batch kept or dropped
    assert np.all(StochasticDepth(1.0)(x).numpy() == 0)
    with pytest.raises(ValueError, match="mode"):
        StochasticDepth(0.1, mode="column")
    with pytest.raises(ValueError, match="probability"):
        StochasticDepth(1.5)


def test_resnet110_sd_decays_linearly_to_one_half(no_init):
    model = mc.models.create("resnet110_sd")
    drops = [m.p for m in model.modules() if isinstance(m, StochasticDepth)]
    assert len(drops) == 54
    np.testing.assert_allclose(drops, np.arange(1, 55) / 54 * 0.5)


def test_stochastic_depth_net_is_random_in_training_and_the_plain_resnet_in_eval():
    mc.manual_seed(0)
    model = StochasticDepthResNet(8, final_survival=0.2)
    x = _input((2, 3, 8, 8))
    with mc.no_grad():
        outputs = [model(x).numpy() for _ in range(4)]
        assert any(not np.allclose(outputs[0], other) for other in outputs[1:])
        plain = CifarResNet(8)
        plain.load_state_dict(model.state_dict())
        model.eval()
        plain.eval()
        np.testing.assert_allclose(model(x).numpy(), plain(x).numpy(), rtol=1e-6)


def test_join_is_the_mean_of_the_surviving_inputs():
    a, b, c = (_input((2, 1, 2, 2), seed) for seed in range(3))
    np.testing.assert_allclose(join([a, b, c], None).numpy(),
                               (a.numpy() + b.numpy() + c.numpy()) / 3, rtol=1e-6)
    keep = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    joined = join([a, b, c], keep).numpy()
    np.testing.assert_allclose(joined[0], (a.numpy()[0] + b.numpy()[0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(joined[1], c.numpy()[1], rtol=1e-6)


def test_drop_path_plan_global_and_local_masks():
    mc.manual_seed(0)
    plan = DropPathPlan(batch_size=64, num_columns=3, local_drop=0.5, global_ratio=0.5)
    assert 0 < plan.is_global.sum() < 64
    for joined_columns in (2, 3):
        keep = plan(joined_columns)
        assert keep.shape == (joined_columns, 64)
        assert np.all(keep.sum(axis=0) >= 1)              # at least one input survives
        for sample in np.nonzero(plan.is_global)[0]:
            column = plan.column[sample]
            if column < joined_columns:                   # exactly the global column
                assert keep[:, sample].tolist() == [float(j == column)
                                                    for j in range(joined_columns)]
        local = keep[:, ~plan.is_global]
        assert 0 < local.mean() < 1                       # local drops happen


def test_fractalnet_drop_path_in_training_and_plain_means_in_eval():
    mc.manual_seed(0)
    model = FractalNet(channels=(4, 4, 4, 4, 4), dropout=(0.0,) * 5)
    x = _input((4, 3, 32, 32))
    with mc.no_grad():
        outputs = [model(x).numpy() for _ in range(3)]
        assert not np.allclose(outputs[0], outputs[1])
        model.eval()
        np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


def test_googlenet_auxiliary_classifiers_only_in_training(no_init):
    model = _zeroed(mc.models.create("googlenet", num_classes=5, aux_logits=True))
    x = _input((2, 3, 32, 32))   # 4a and 4d at 2x2: the aux heads pool adaptively to 4x4
    with mc.no_grad():
        outputs = model(x)
        assert isinstance(outputs, GoogLeNetOutputs)
        assert [o.shape for o in outputs] == [(2, 5)] * 3
        model.eval()
        assert model(x).shape == (2, 5)


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    x = _input((2, 3, 6, 6), dtype=np.float64)
    x.requires_grad_()
    shortcut = ShortcutA(3, 5, stride=2)
    y = shortcut(x)
    assert y.shape == (2, 5, 3, 3)
    np.testing.assert_array_equal(y.numpy()[:, :3], x.numpy()[:, :, ::2, ::2])
    assert np.all(y.numpy()[:, 3:] == 0)
    assert list(shortcut.parameters()) == []
    assert mc.utils.gradcheck(shortcut, [x])


# ----- torchvision's state-dict layout --------------------------------------------------------

def test_state_dict_keys_follow_torchvision(no_init):
    resnet = list(mc.models.create("resnet18").state_dict())
    assert resnet[:8] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                          "bn1.running_var", "bn1.num_batches_tracked",
                          "layer1.0.conv1.weight", "layer1.0.bn1.weight"]
    assert "layer2.0.downsample.0.weight" in resnet and resnet[-2:] == ["fc.weight", "fc.bias"]
    googlenet = list(mc.models.create("googlenet", aux_logits=True).state_dict())
    assert googlenet[0] == "conv1.conv.weight" and googlenet[1] == "conv1.bn.weight"
    assert "inception3a.branch3.1.conv.weight" in googlenet
    aux = googlenet.index("aux1.conv.conv.weight")
    assert googlenet[aux - 1].startswith("inception5b.") and googlenet[-2] == "fc.weight"
    assert googlenet[-4:-2] == ["aux2.fc2.weight", "aux2.fc2.bias"]
    densenet = list(mc.models.create("densenet121").state_dict())
    assert densenet[:2] == ["features.conv0.weight", "features.norm0.weight"]
    assert "features.denseblock1.denselayer1.norm1.weight" in densenet
    assert "features.transition3.conv.weight" in densenet
    assert densenet[-2:] == ["classifier.weight", "classifier.bias"]
    squeeze = list(mc.models.create("squeezenet1_1").state_dict())
    assert squeeze[2] == "features.3.squeeze.weight" and squeeze[-1] == "classifier.1.bias"
    vgg = list(mc.models.create("vgg16_bn").state_dict())
    assert vgg[:3] == ["features.0.weight", "features.0.bias", "features.1.weight"]
    assert vgg[-6:-4] == ["classifier.0.weight", "classifier.0.bias"]
    alexnet = [k for k in mc.models.create("alexnet").state_dict() if k.endswith("weight")]
    shapes = [p.shape for n, p in mc.models.create("alexnet").named_parameters()
              if n.endswith("weight")]
    assert alexnet[0] == "features.0.weight" and shapes[0] == (96, 3, 11, 11)
    assert shapes[-3:] == [(4096, 9216), (4096, 4096), (1000, 4096)]


def test_alexnet_lrn_computes_the_papers_formula(no_init):
    # b = a / (k + alpha * sum over 5 neighbouring channels of a^2)^beta, k=2, alpha=1e-4,
    # beta=0.75, with alpha not divided by n as in the paper
    lrn = mc.models.create("alexnet").features[2]
    a = np.random.default_rng(0).standard_normal((1, 7, 2, 2)) * 10
    squares = np.pad(a ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(squares[:, i:i + 7] for i in range(5))
    expected = a / (2 + 1e-4 * window) ** 0.75
    np.testing.assert_allclose(lrn(mc.tensor(a)).numpy(), expected, rtol=1e-12)


def test_zfnet_feature_map_sizes_match_the_paper(no_init):
    summary = mc.summary(_zeroed(mc.models.create("zfnet")), (3, 224, 224))
    sizes = [row.output_shape[1:] for row in summary.rows
             if row.type.split()[0] in ("Conv2d", "MaxPool2d")]
    assert sizes == [(96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13),
                     (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6)]
