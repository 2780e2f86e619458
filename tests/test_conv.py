"""Convolution: im2col / col2im, conv2d and conv_transpose2d, and the Conv2d layers."""

import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.backend import reference
from minicnn.nn.functional import conv as conv_module
from minicnn.nn.functional.conv import conv_output_size


# ----- layers -------------------------------------------------------------------------------

def test_conv2d_layer_parameters_in_pytorch_order_and_shapes():
    layer = nn.Conv2d(6, 12, (3, 5), groups=3)
    assert [(name, p.shape) for name, p in layer.named_parameters()] == [
        ("weight", (12, 2, 3, 5)), ("bias", (12,))]
    assert list(nn.Conv2d(3, 4, 3, bias=False).state_dict()) == ["weight"]
    transposed = nn.ConvTranspose2d(6, 12, 3, groups=3)
    assert [(name, p.shape) for name, p in transposed.named_parameters()] == [
        ("weight", (6, 4, 3, 3)), ("bias", (12,))]


def test_conv2d_layer_default_init_is_uniform_within_one_over_sqrt_fan_in():
    mc.manual_seed(0)
    layer = nn.Conv2d(16, 64, 3)
    bound = 1 / math.sqrt(16 * 9)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert weight.dtype == np.float32
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.98 * bound
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > 0.9 * bound
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.02 * bound   # U(-a, a) has std a/sqrt(3)


def test_layer_repr_matches_pytorch_text():
    assert repr(nn.Conv2d(3, 16, 3, padding=1, bias=False)) == (
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)")
    assert repr(nn.Conv2d(3, 64, 11, stride=4, padding=2)) == (
        "Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))")
    assert repr(nn.Conv2d(8, 8, 3, padding="same", dilation=2, groups=8)) == (
        "Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), groups=8)")
    assert repr(nn.ConvTranspose2d(3, 16, 3, stride=2, padding=1, output_padding=1)) == (
        "ConvTranspose2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
        "output_padding=(1, 1))")


def test_conv2d_layer_forward_shapes():
    layer = nn.Conv2d(3, 64, 11, stride=4, padding=2)
    assert layer(mc.randn(2, 3, 227, 227)).shape == (2, 64, 56, 56)
    assert nn.Conv2d(3, 5, 3, padding=1)(mc.randn(3, 7, 9)).shape == (5, 7, 9)
    up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1)
    x = mc.randn(1, 4, 5, 5)
    assert up(x).shape == (1, 3, 9, 9)
    assert up(x, output_size=[10, 10]).shape == (1, 3, 10, 10)
    with pytest.raises(ValueError, match="output size"):
        up(x, output_size=(11, 11))
