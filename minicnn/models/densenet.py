"""DenseNet: Huang, Liu, van der Maaten and Weinberger, "Densely connected convolutional
networks", CVPR 2017.

Inside a dense block every layer sees the concatenation of the block's input and of all the
earlier layers' outputs, and adds ``growth_rate`` new channels. The "-BC" nets use a 1x1
bottleneck (to 4 * growth_rate channels) before each 3x3 conv and halve the channels in the
transitions between blocks.
"""

from collections import OrderedDict

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.ops import cat


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (to bn_size * growth_rate) - BN-ReLU-conv3x3 (growth_rate new
    channels), on the concatenation of all the earlier feature maps (a list of tensors)."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1,
                               bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1,
                               bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, features):
        concatenated = cat(features, 1) if len(features) > 1 else features[0]
        bottleneck = self.conv1(self.relu1(self.norm1(concatenated)))
        new_features = self.conv2(self.relu2(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, self.drop_rate, self.training)
        return new_features


class DenseBlock(nn.Module):
    """``num_layers`` DenseLayers (named denselayer1, denselayer2, ... as torchvision's); the
    output concatenates the input and every layer's new channels."""

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate):
        super().__init__()
        for index in range(num_layers):
            self.add_module(f"denselayer{index + 1}",
                            DenseLayer(num_input_features + index * growth_rate, growth_rate,
                                       bn_size, drop_rate))

    def forward(self, init_features):
        features = [init_features]
        for layer in self.children():
            features.append(layer(features))
        return cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 (compressing the channels) - average pool 2x2/2, between blocks."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(num_input_features)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(num_input_features, num_output_features, kernel_size=1,
                               bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet-BC, laid out as torchvision's (``features`` with conv0, norm0, relu0, pool0,
    denseblock1, transition1, ..., norm5; then ``classifier``), so the parameters and buffers
    come in torchvision's order.

    ImageNet form (``cifar=False``, 3x224x224): conv 7x7/2 with 2k (64) channels, BN, ReLU,
    max pool 3x3/2, four dense blocks with transitions (compression 0.5), BN, ReLU, global
    average pool, FC. CIFAR form (``cifar=True``, 3x32x32): conv 3x3 with 2k channels, no
    pool, three dense blocks. Initialisation (torchvision's): convs He normal (fan_in), BN
    1 / 0, FC bias 0."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0.0, num_classes=1000, cifar=False):
        super().__init__()
        if cifar:
            stem = [("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, padding=1,
                                        bias=False))]
        else:
            stem = [("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2,
                                        padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = nn.Sequential(OrderedDict(stem))
        num_features = num_init_features
        for index, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{index + 1}",
                                     DenseBlock(num_layers, num_features, bn_size, growth_rate,
                                                drop_rate))
            num_features += num_layers * growth_rate
            if index != len(block_config) - 1:
                self.features.add_module(f"transition{index + 1}",
                                         Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(num_features, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                init.ones_(module.weight)
                init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                init.zeros_(module.bias)

    def forward(self, x):
        x = self.relu(self.features(x))
        return self.classifier(self.avgpool(x).flatten(1))


@register_model("densenet121", num_classes=1000, input_size=(3, 224, 224))
def densenet121(num_classes=1000, drop_rate=0.0):
    """DenseNet-121 (Huang et al. 2017), k=32, blocks (6, 12, 24, 16), 3x224x224; 7,978,856
    params."""
    return DenseNet(32, (6, 12, 24, 16), 64, drop_rate=drop_rate, num_classes=num_classes)


@register_model("densenet169", num_classes=1000, input_size=(3, 224, 224))
def densenet169(num_classes=1000, drop_rate=0.0):
    """DenseNet-169, k=32, blocks (6, 12, 32, 32), 3x224x224; 14,149,480 params."""
    return DenseNet(32, (6, 12, 32, 32), 64, drop_rate=drop_rate, num_classes=num_classes)


@register_model("densenet201", num_classes=1000, input_size=(3, 224, 224))
def densenet201(num_classes=1000, drop_rate=0.0):
    """DenseNet-201, k=32, blocks (6, 12, 48, 32), 3x224x224; 20,013,928 params."""
    return DenseNet(32, (6, 12, 48, 32), 64, drop_rate=drop_rate, num_classes=num_classes)


@register_model("densenet_bc100_12", num_classes=10, input_size=(3, 32, 32))
def densenet_bc100_12(num_classes=10, drop_rate=0.0):
    """DenseNet-BC-100 (k=12) for CIFAR: three blocks of 16 bottleneck layers, 3x32x32;
    769,162 params (paper: 0.8M)."""
    return DenseNet(12, (16, 16, 16), 24, drop_rate=drop_rate, num_classes=num_classes,
                    cifar=True)
