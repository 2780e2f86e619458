"""airbench94's network (Keller Jordan, 2024, "94% on CIFAR-10 in 3.29 seconds on a single
GPU", github.com/KellerJordan/cifar10-airbench): a small VGG-like net for fast CIFAR-10
training, 1.97 M parameters.

    whiten   conv 2x2, 3 -> 24, bias, no padding (32 -> 31), frozen: set from the training
             images' patch statistics by nn.init.whitening_ before training; then GELU
    block1   conv 3x3 24 -> 64, max pool 2 (31 -> 15), BN, GELU, conv 3x3 64 -> 64, BN, GELU
    block2   the same, 64 -> 256 (15 -> 7)
    block3   the same, 256 -> 256 (7 -> 3)
    head     max pool 3 (3 -> 1), flatten, linear 256 -> 10 without bias, times 1/9

The batch norms have eps 1e-12, momentum 0.4 (airbench's 0.6 is the old value's weight) and a
frozen scale of 1 (only their shift trains); each 3x3 conv starts from PyTorch's default
initialisation with its first ``in_channels`` filters set to the identity (dirac), as
airbench's. The pool before the batch norm and the final scaling are airbench's too.
"""

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import init


def _conv(in_channels, out_channels):
    """A 3x3 conv, padding 1, no bias; its first in_channels filters pass their input through."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    identity = nn.Parameter(conv.weight.detach().numpy()[:in_channels].copy())
    init.dirac_(identity)
    conv.weight.array[:in_channels] = identity.array
    return conv


def _batch_norm(channels, momentum):
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=momentum)
    norm.weight.requires_grad = False
    return norm


class ConvGroup(nn.Module):
    """conv, max pool 2, BN, GELU, conv, BN, GELU."""

    def __init__(self, in_channels, out_channels, momentum):
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _batch_norm(out_channels, momentum)
        self.conv2 = _conv(out_channels, out_channels)
        self.norm2 = _batch_norm(out_channels, momentum)
        self.activation = nn.GELU()

    def forward(self, x):
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        return self.activation(self.norm2(self.conv2(x)))


class Airbench94(nn.Module):
    """airbench94's network (see the module docstring). ``widths``: the three blocks' widths;
    ``momentum``: the batch norms' (PyTorch's meaning); ``scale``: the logits' factor."""

    def __init__(self, num_classes=10, widths=(64, 256, 256), momentum=0.4, scale=1 / 9):
        super().__init__()
        self.whiten = nn.Conv2d(3, 2 * 3 * 2 * 2, 2, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.activation = nn.GELU()
        self.block1 = ConvGroup(self.whiten.out_channels, widths[0], momentum)
        self.block2 = ConvGroup(widths[0], widths[1], momentum)
        self.block3 = ConvGroup(widths[1], widths[2], momentum)
        self.pool = nn.MaxPool2d(3)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = scale

    def forward(self, x):
        x = self.activation(self.whiten(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(self.flatten(self.pool(x))) * self.scale


@register_model("airbench94", num_classes=10, input_size=(3, 32, 32))
def airbench94(num_classes=10):
    """airbench94's net (Jordan 2024): whitening conv, 3 VGG blocks of 64/256/256, BN, GELU."""
    return Airbench94(num_classes)
