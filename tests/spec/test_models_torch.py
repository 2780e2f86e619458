"""Cross-checks against PyTorch: torchvision's ResNet, DenseNet, SqueezeNet and GoogLeNet,
written here in plain torch.nn as torchvision builds them (torchvision itself is not a
dependency), receive our state dict by position (so the registration order must be
torchvision's), and must give our outputs in eval mode."""

import numpy as np
import pytest

import minicnn as mc
from minicnn.models.densenet import DenseNet
from minicnn.models.resnet import BasicBlock, Bottleneck, ResNet

torch = pytest.importorskip("torch")
tnn = torch.nn
tF = torch.nn.functional


# ----- torchvision's layouts in plain torch.nn ----------------------------------------------

class TorchBasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = tnn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(width)
        self.conv2 = tnn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = tnn.BatchNorm2d(width)
        self.conv3 = tnn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchResNet(tnn.Module):
    def __init__(self, block, layers, num_classes, groups=1, width_per_group=64):
        super().__init__()
        self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU()
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = tnn.Sequential(
                tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                tnn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
                   for _ in range(1, blocks)]
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TorchDenseLayer(tnn.Module):
    def __init__(self, num_input_features, growth_rate, bn_size):
        super().__init__()
        self.norm1 = tnn.BatchNorm2d(num_input_features)
        self.relu1 = tnn.ReLU()
        self.conv1 = tnn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = tnn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = tnn.ReLU()
        self.conv2 = tnn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, features):
        out = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(out)))


class TorchDenseBlock(tnn.ModuleDict):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", TorchDenseLayer(
                num_input_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class TorchTransition(tnn.Sequential):
    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.add_module("norm", tnn.BatchNorm2d(num_input_features))
        self.add_module("relu", tnn.ReLU())
        self.add_module("conv", tnn.Conv2d(num_input_features, num_output_features, 1,
                                           bias=False))
        self.add_module("pool", tnn.AvgPool2d(2, 2))


class TorchDenseNet(tnn.Module):
    def __init__(self, growth_rate, block_config, num_init_features, num_classes, bn_size=4):
        super().__init__()
        self.features = tnn.Sequential()
        self.features.add_module("conv0", tnn.Conv2d(3, num_init_features, 7, 2, 3, bias=False))
        self.features.add_module("norm0", tnn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", tnn.ReLU())
        self.features.add_module("pool0", tnn.MaxPool2d(3, 2, 1))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", TorchDenseBlock(
                num_layers, num_features, bn_size, growth_rate))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}",
                                         TorchTransition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", tnn.BatchNorm2d(num_features))
        self.classifier = tnn.Linear(num_features, num_classes)

    def forward(self, x):
        out = tF.adaptive_avg_pool2d(tF.relu(self.features(x)), (1, 1))
        return self.classifier(torch.flatten(out, 1))


class TorchFire(tnn.Module):
    def __init__(self, inplanes, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = tnn.Conv2d(inplanes, squeeze, 1)
        self.expand1x1 = tnn.Conv2d(squeeze, expand1x1, 1)
        self.expand3x3 = tnn.Conv2d(squeeze, expand3x3, 3, padding=1)

    def forward(self, x):
        x = tF.relu(self.squeeze(x))
        return torch.cat([tF.relu(self.expand1x1(x)), tF.relu(self.expand3x3(x))], 1)


class TorchSqueezeNet11(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        pool = lambda: tnn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, 3, 2), tnn.ReLU(), pool(),
            TorchFire(64, 16, 64, 64), TorchFire(128, 16, 64, 64), pool(),
            TorchFire(128, 32, 128, 128), TorchFire(256, 32, 128, 128), pool(),
            TorchFire(256, 48, 192, 192), TorchFire(384, 48, 192, 192),
            TorchFire(384, 64, 256, 256), TorchFire(512, 64, 256, 256))
        self.classifier = tnn.Sequential(tnn.Dropout(0.5), tnn.Conv2d(512, num_classes, 1),
                                         tnn.ReLU(), tnn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class TorchBasicConv2d(tnn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = tnn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = tnn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return tF.relu(self.bn(self.conv(x)))


class TorchInception(tnn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = TorchBasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = tnn.Sequential(TorchBasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                      TorchBasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TorchBasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                      TorchBasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                      TorchBasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TorchInceptionAux(tnn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = TorchBasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = tnn.Linear(2048, 1024)
        self.fc2 = tnn.Linear(1024, num_classes)
        self.dropout = tnn.Dropout(0.7)


class TorchGoogLeNet(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = TorchBasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = TorchBasicConv2d(64, 64, kernel_size=1)
        self.conv3 = TorchBasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = TorchInception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = TorchInception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = TorchInception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = TorchInception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = TorchInception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = TorchInception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = TorchInception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = tnn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = TorchInception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = TorchInception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = TorchInceptionAux(512, num_classes)
        self.aux2 = TorchInceptionAux(528, num_classes)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.dropout = tnn.Dropout(0.2)
        self.fc = tnn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4d(self.inception4c(self.inception4b(self.inception4a(x))))
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ----- the checks ---------------------------------------------------------------------------

def _copy_by_position(ours, theirs, seed=0):
    """Give both models the same values, matched by position only; BN running statistics are
    randomised first so that eval mode is not the identity."""
    rng = np.random.default_rng(seed)
    own, other = ours.state_dict(), theirs.state_dict()
    assert len(own) == len(other)
    values = {}
    for (name, tensor), (torch_name, torch_tensor) in zip(own.items(), other.items()):
        assert tensor.shape == tuple(torch_tensor.shape), (name, torch_name)
        array = tensor.numpy()
        if name.endswith("running_mean"):
            array = rng.normal(0, 0.1, array.shape).astype(array.dtype)
        elif name.endswith("running_var"):
            array = rng.uniform(0.5, 1.5, array.shape).astype(array.dtype)
        elif name.endswith("bias") or name.endswith("weight") and array.ndim == 1:
            array = rng.normal(0, 0.1, array.shape).astype(array.dtype) + (
                1 if name.endswith("weight") else 0)
        values[name] = array
        torch_tensor.copy_(torch.from_numpy(np.array(array)))
    ours.load_state_dict(values)


def _compare(ours, theirs, size, rtol=2e-4):
    _copy_by_position(ours, theirs)
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    with mc.no_grad():
        mine = ours(mc.tensor(x)).numpy()
    with torch.no_grad():
        reference = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(mine, reference, rtol=rtol, atol=rtol * np.abs(reference).max())


@pytest.mark.parametrize("block,torch_block,options", [
    (BasicBlock, TorchBasicBlock, {}),
    (Bottleneck, TorchBottleneck, {}),
    (Bottleneck, TorchBottleneck, {"groups": 4, "width_per_group": 4}),
], ids=["basic", "bottleneck", "resnext"])
def test_resnet_matches_torchvision_layout(block, torch_block, options):
    mc.manual_seed(0)
    ours = ResNet(block, [1, 2, 1, 1], num_classes=5, **options)
    theirs = TorchResNet(torch_block, [1, 2, 1, 1], 5, **options)
    _compare(ours, theirs, size=40)


def test_densenet_matches_torchvision_layout():
    mc.manual_seed(0)
    ours = DenseNet(8, (2, 3, 2, 2), 16, num_classes=5)
    theirs = TorchDenseNet(8, (2, 3, 2, 2), 16, 5)
    _compare(ours, theirs, size=40)


def test_squeezenet1_1_matches_torchvision_layout():
    mc.manual_seed(0)
    _compare(mc.models.create("squeezenet1_1", num_classes=5), TorchSqueezeNet11(5), size=48)


def test_googlenet_matches_torchvision_layout():
    mc.manual_seed(0)
    ours = mc.models.create("googlenet", num_classes=5, aux_logits=True)
    _compare(ours, TorchGoogLeNet(5), size=48)
