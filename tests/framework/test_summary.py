"""mc.summary and the conv-arithmetic helper: the lecture figures (VGG-16's table, AlexNet's
CONV1 and pool5, the Inception module's cost), receptive fields of hand-computed chains,
branching models, and what summary must leave untouched."""

import re

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.models.densenet import DenseNet
from minicnn.models.googlenet import Inception, NaiveInception
from minicnn.utils.conv_arithmetic import (conv_layer, conv_output_size, receptive_field_step,
                                           receptive_fields)


@pytest.fixture
def no_init(monkeypatch):
    """Skip weight initialisation (the figures checked here depend only on shapes): large
    models are then built in milliseconds. Parameters hold zeros."""
    for name in ("uniform_", "normal_"):
        monkeypatch.setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    monkeypatch.setattr(nn.init, "constant_", lambda tensor, value: tensor)


def _zeroed(model):
    for param in model.parameters():
        param.array[...] = 0
    return model


# ----- conv arithmetic ---------------------------------------------------------------------

def test_conv_layer_exercise():
    # 33x33x5 input, ten 3x3 filters, stride 2, no padding
    layer = conv_layer((5, 33, 33), out_channels=10, kernel_size=3, stride=2)
    assert layer.output_shape == (10, 16, 16)
    assert layer.params == 460 and layer.weights == 450 and layer.biases == 10
    assert layer.mult_adds == 10 * 16 * 16 * 5 * 3 * 3


def test_conv_layer_alexnet_conv1_and_groups():
    conv1 = conv_layer((3, 227, 227), 96, 11, stride=4)
    assert conv1.output_shape == (96, 55, 55) and conv1.params == 34_944
    grouped = conv_layer((96, 27, 27), 256, 5, padding=2, groups=2)
    assert grouped.weights == 256 * 48 * 25 and grouped.output_shape == (256, 27, 27)
    assert conv_layer((4, 8, 8), 6, (3, 1), padding=(1, 0), bias=False).params == 6 * 4 * 3


@pytest.mark.parametrize("size,kernel,stride,padding,dilation,ceil,expected", [
    (224, 7, 2, 3, 1, False, 112), (112, 3, 2, 0, 1, True, 56), (112, 3, 2, 0, 1, False, 55),
    (14, 2, 2, 0, 1, True, 7), (5, 2, 2, 1, 1, True, 3), (6, 3, 3, 1, 1, True, 3),
    (8, 3, 3, 1, 1, True, 3),   # ceil mode would give 4: the last window starts in the padding
    (32, 3, 1, 2, 2, False, 32), (33, 3, 2, 0, 1, False, 16),
])
def test_conv_output_size_matches_pytorch_rule(size, kernel, stride, padding, dilation, ceil,
                                                expected):
    assert conv_output_size(size, kernel, stride, padding, dilation, ceil) == expected


def test_conv_arithmetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(2, 5)
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(8, 3, stride=0)
    with pytest.raises(ValueError, match="groups"):
        conv_layer((3, 8, 8), 4, 3, groups=2)
    with pytest.raises(ValueError, match="input_shape"):
        conv_layer((8, 8), 4, 3)


def test_receptive_fields_of_stacked_convs():
    assert receptive_fields([(3, 1)] * 3) == [(3, 1), (5, 1), (7, 1)]
    # conv 3/2, pool 2/2, conv 3 dilated by 2: 3, 3 + 1*2 = 5, 5 + 2*2*4 = 21
    assert receptive_fields([(3, 2), (2, 2), (3, 1, 2)]) == [(3, 2), (5, 4), (21, 4)]
    assert receptive_field_step(5, 1, 3) == (7, 1)


# ----- summary: hand-computed chains and branches --------------------------------------------

def test_receptive_field_of_two_and_three_stacked_3x3_convs():
    model = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)])
    rows = mc.summary(model, (2, 9, 9)).rows
    assert [row.receptive_field for row in rows] == [(1, 1), (3, 3), (5, 5), (7, 7)]
    assert all(row.jump == (1, 1) for row in rows)


def test_receptive_field_through_strides_dilation_and_rectangular_kernels():
    model = nn.Sequential(nn.Conv2d(1, 2, (3, 5), stride=2, padding=(1, 2)), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, dilation=2, padding=2),
                          nn.AvgPool2d(3, stride=1, padding=1))
    rows = mc.summary(model, (1, 24, 24)).rows
    fields = [(row.type.split()[0], row.receptive_field, row.jump) for row in rows]
    assert fields == [("Input", (1, 1), (1, 1)), ("Conv2d", (3, 5), (2, 2)),
                      ("ReLU", (3, 5), (2, 2)), ("MaxPool2d", (5, 7), (4, 4)),
                      ("Conv2d", (21, 23), (4, 4)), ("AvgPool2d", (29, 31), (4, 4))]


class TwoBranches(nn.Module):
    """1x1 conv beside two stacked 3x3 convs, concatenated, then a residual-style add."""

    def __init__(self):
        super().__init__()
        self.short = nn.Conv2d(3, 4, 1)
        self.long = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1))
        self.merge = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        joined = mc.cat([self.short(x), self.long(x)], 1)
        return self.merge(joined) + joined


def test_branching_model_rows_and_receptive_fields():
    summary = mc.summary(TwoBranches(), (3, 10, 10))
    names = [row.name for row in summary.rows]
    assert names == ["input", "short", "long.0", "long.1", "merge", "output"]
    assert summary.row("short").receptive_field == (1, 1)
    assert summary.row("long.1").receptive_field == (5, 5)
    # the concatenation takes the largest field of its inputs, and the add after it too
    assert summary.row("merge").receptive_field == (5, 5)
    assert summary.row("output").output_shape == (1, 8, 10, 10)
    assert summary.total_mult_adds == 100 * (4 * 3 + 4 * 27 + 4 * 36 + 8 * 8)
    assert summary.total_params == (12 + 4) + (108 + 4) + (144 + 4) + (64 + 8)
    # the input, the four conv outputs and the final sum (the cat is never a row's output)
    assert summary.activation_values == 300 + 100 * (4 + 4 + 4 + 8 + 8)


def test_batch_size_scales_the_counts():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    one, three = mc.summary(model, (3, 8, 8)), mc.summary(model, (3, 3, 8, 8))
    assert three.total_mult_adds == 3 * one.total_mult_adds
    assert three.activation_values == 3 * one.activation_values
    assert one.total_mult_adds == 4 * 36 * 27 + 144 * 5
    assert one.rows[2].type == "Flatten" and one.rows[2].activations is None   # a view
    assert one.activation_values == 3 * 8 * 8 + 4 * 6 * 6 + 5
    assert three.rows[1].output_shape == (3, 4, 6, 6)


def test_summary_leaves_model_and_random_state_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model.eval()
    mc.manual_seed(3)
    state = mc.get_rng_state()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    mc.summary(model, (2, 3, 6, 6), training=True)
    assert not any(module.training for module in model.modules())
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before)
    assert mc.get_rng_state() == state


def test_summary_rejects_bad_input_size():
    model = nn.Conv2d(3, 4, 3)
    for bad in [(3, 8), (1, 1, 3, 8, 8), (3, 0, 8), (3, 8.5, 8), 3]:
        with pytest.raises(ValueError, match="input_size"):
            mc.summary(model, bad)


def test_summary_string_prints_integers():
    model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64 * 16 * 16, 10))
    text = str(mc.summary(model, (3, 32, 32), model_name="tiny"))
    assert text.splitlines()[0] == "tiny: input 1x3x32x32, batch 1"
    assert re.search(r"^0 +Conv2d 3x3 +64x32x32 +1,728 +1,792 +65,536 +262,144 +1,769,472 +3 +1$",
                     text, re.M)
    assert "Total params: 165,642 " in text
    assert f"Total mult-adds: {1_769_472 + 16_384 * 10:,}" in text
    assert not re.search(r"\d\.\d", text), "every count is printed as an integer"


# ----- the lecture figures ------------------------------------------------------------------

VGG16_LECTURE_TABLE = [  # (layer, output H, W, C, weights), as the lecture's table lists them
    ("INPUT", 224, 224, 3, 0),
    ("CONV3-64", 224, 224, 64, 3 * 3 * 3 * 64), ("CONV3-64", 224, 224, 64, 3 * 3 * 64 * 64),
    ("POOL2", 112, 112, 64, 0),
    ("CONV3-128", 112, 112, 128, 3 * 3 * 64 * 128), ("CONV3-128", 112, 112, 128, 3 * 3 * 128 * 128),
    ("POOL2", 56, 56, 128, 0),
    ("CONV3-256", 56, 56, 256, 3 * 3 * 128 * 256), ("CONV3-256", 56, 56, 256, 3 * 3 * 256 * 256),
    ("CONV3-256", 56, 56, 256, 3 * 3 * 256 * 256),
    ("POOL2", 28, 28, 256, 0),
    ("CONV3-512", 28, 28, 512, 3 * 3 * 256 * 512), ("CONV3-512", 28, 28, 512, 3 * 3 * 512 * 512),
    ("CONV3-512", 28, 28, 512, 3 * 3 * 512 * 512),
    ("POOL2", 14, 14, 512, 0),
    ("CONV3-512", 14, 14, 512, 3 * 3 * 512 * 512), ("CONV3-512", 14, 14, 512, 3 * 3 * 512 * 512),
    ("CONV3-512", 14, 14, 512, 3 * 3 * 512 * 512),
    ("POOL2", 7, 7, 512, 0),
    ("FC", 1, 1, 4096, 7 * 7 * 512 * 4096), ("FC", 1, 1, 4096, 4096 * 4096),
    ("FC", 1, 1, 1000, 4096 * 1000),
]


@pytest.mark.slow
def test_vgg16_reproduces_the_lecture_table(no_init):
    summary = mc.summary(_zeroed(mc.models.create("vgg16")), (3, 224, 224))
    rows = [row for row in summary.rows
            if row.type.split()[0] in ("Input", "Conv2d", "MaxPool2d", "Linear")]
    assert len(rows) == len(VGG16_LECTURE_TABLE)
    for row, (label, height, width, channels, weights) in zip(rows, VGG16_LECTURE_TABLE):
        assert row.activations == height * width * channels, label
        assert row.weights == weights, label
        shape = (1, channels, height, width) if height > 1 else (1, channels)
        assert row.output_shape == shape, label
    first_conv = rows[1]
    assert (first_conv.activations, first_conv.weights) == (3_211_264, 1_728)
    assert rows[-3].weights == 102_760_448
    assert summary.total_params == 138_357_544           # "TOTAL params: 138M"
    # the rows of the table sum to 15.2M values (the slide's "24M" total is not their sum)
    assert sum(row.activations for row in rows) == 15_237_608
    assert summary.row("features.30").receptive_field == (212, 212)   # pool5
    assert summary.row("features.30").jump == (32, 32)
    conv_mult_adds = sum(h * w * c * weights // c for _, h, w, c, weights in
                         VGG16_LECTURE_TABLE if weights)
    assert summary.total_mult_adds == conv_mult_adds == 15_470_264_320


def test_vgg16_at_32x32_has_the_lecture_table_scaled_down(no_init):
    """The default run's stand-in for the 224x224 table above (15 G multiply-adds, slow): at
    32x32 every map is 7 times smaller on each side, the adaptive pool restores the 7x7 that the
    classifier expects, and weights, receptive fields and jumps are those of the table."""
    summary = mc.summary(_zeroed(mc.models.create("vgg16")), (3, 32, 32))
    rows = [row for row in summary.rows
            if row.type.split()[0] in ("Input", "Conv2d", "MaxPool2d", "Linear")]
    assert len(rows) == len(VGG16_LECTURE_TABLE)
    for row, (label, height, width, channels, weights) in zip(rows, VGG16_LECTURE_TABLE):
        assert row.weights == weights, label
        shape = (1, channels, height // 7, width // 7) if height > 1 else (1, channels)
        assert row.output_shape == shape, label
    assert summary.total_params == 138_357_544
    assert summary.row("features.30").receptive_field == (212, 212)
    assert summary.row("features.30").jump == (32, 32)
    conv_mult_adds = sum(h * w * weights // 49 for _, h, w, _, weights in VGG16_LECTURE_TABLE
                         if weights and h > 1)
    classifier_mult_adds = sum(weights for _, h, _, _, weights in VGG16_LECTURE_TABLE if h == 1)
    assert summary.total_mult_adds == conv_mult_adds + classifier_mult_adds


def test_alexnet_conv1_and_pool5(no_init):
    summary = mc.summary(_zeroed(mc.models.create("alexnet")), (3, 227, 227))
    conv1 = summary.row("features.0")
    assert conv1.output_shape == (1, 96, 55, 55) and conv1.params == 34_944
    assert conv1.receptive_field == (11, 11) and conv1.jump == (4, 4)
    assert summary.row("features.14").receptive_field == (195, 195)
    assert summary.total_params == 62_378_344


def test_naive_inception_module_cost():
    summary = mc.summary(NaiveInception(256, 128, 192, 96), (256, 28, 28))
    assert summary.total_mult_adds == 854_196_224
    assert summary.output_shapes == [(1, 128 + 192 + 96 + 256, 28, 28)]


def test_inception_module_with_reductions_cost():
    # 1x1 128; 1x1 64 -> 3x3 192; 1x1 64 -> 5x5 96; pool -> 1x1 64, on 28x28x256
    module = Inception(256, 128, 64, 192, 64, 96, 64, batch_norm=False)
    summary = mc.summary(module, (256, 28, 28))
    terms = [28 * 28 * 128 * 1 * 1 * 256, 28 * 28 * 64 * 1 * 1 * 256,
             28 * 28 * 192 * 3 * 3 * 64, 28 * 28 * 64 * 1 * 1 * 256,
             28 * 28 * 96 * 5 * 5 * 64, 28 * 28 * 64 * 1 * 1 * 256]
    assert summary.total_mult_adds == sum(terms) == 271_351_808
    assert summary.row("output").output_shape == (1, 480, 28, 28)
    assert summary.row("output").receptive_field == (5, 5)


def test_resnet_summary_counts_residual_paths():
    model = mc.models.create("resnet20")
    summary = mc.summary(model, (3, 32, 32))
    assert summary.total_params == 269_722
    convs = [row for row in summary.rows if row.type.startswith("Conv2d")]
    assert len(convs) == 19
    # 19 stacked 3x3 convs, the 8th and 14th of stride 2: 3 + 6*2 + 2 + 5*4 + 4 + 5*8 = 81
    assert convs[-1].receptive_field == (81, 81) and convs[-1].jump == (4, 4)
    stage = 16 * 32 * 32 * 16 * 9       # every conv of a stage but the first costs the same
    expected = (16 * 32 * 32 * 3 * 9 + 6 * stage
                + 32 * 16 * 16 * 16 * 9 + 5 * stage
                + 64 * 8 * 8 * 32 * 9 + 5 * stage + 64 * 10)
    assert summary.total_mult_adds == expected == 40_551_040


def test_densenet_block_rows_concatenate_their_layers():
    model = DenseNet(4, (2, 2), 8, num_classes=3, cifar=True)
    summary = mc.summary(model, (3, 8, 8))
    block = summary.row("features.denseblock1")
    assert block.type == "DenseBlock" and block.output_shape == (1, 8 + 2 * 4, 8, 8)
    assert block.activations == 16 * 64
    # conv0 3x3, then layer 2's 3x3 sees layer 1's: 3 + 2 + 2 (the 1x1s add nothing)
    assert summary.row("features.denseblock1.denselayer2.conv2").receptive_field == (7, 7)
    assert block.receptive_field == (7, 7)
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert summary.total_mult_adds == sum(row.mult_adds for row in summary.rows) > 0
