"""Residual networks.

- ResNet: He, Zhang, Ren and Sun, "Deep residual learning for image recognition", CVPR 2016
  (ImageNet ResNet-18/34/50/101/152; CIFAR ResNet-20/32/44/56/110 with option-A shortcuts and
  their plain counterparts, section 4.2).
- Wide ResNet: Zagoruyko and Komodakis, "Wide residual networks", BMVC 2016.
- ResNeXt: Xie, Girshick, Dollar, Tu and He, "Aggregated residual transformations for deep
  neural networks", CVPR 2017.

A residual block computes relu(F(x) + shortcut(x)): the layers learn the residual F, and the
identity path lets the gradient reach early layers unchanged.
"""

from minicnn import nn
from minicnn.autograd import Tensor
from minicnn.backend import get_array_module
from minicnn.models.registry import register_model
from minicnn.nn import init
from minicnn.ops import cat


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding, without bias (a BN follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias (a BN follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs: conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU (torchvision's)."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride and groups here, as torchvision's "ResNet v1.5"), 1x1 expand
    by 4, each followed by BN, ReLU between, plus the shortcut, then ReLU. The 3x3 conv has
    ``planes * base_width / 64 * groups`` channels: the wide and ResNeXt variants change it."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """The ImageNet ResNet on a 3x224x224 image, as torchvision builds it (same names, same
    order of parameters and buffers): conv 7x7/2 64, BN, ReLU, max pool 3x3/2, four stages of
    blocks (64, 128, 256, 512 planes; stride 2 at the start of stages 2-4, where a 1x1 conv +
    BN projects the shortcut: the paper's option B), global average pool, FC.

    Initialisation (torchvision's, the paper's He init): convs He normal (fan_out, ReLU gain),
    BN weight 1 and bias 0; ``zero_init_residual`` zeroes the last BN of each block. Change
    from the paper: the bottleneck's stride sits on its 3x3 conv (torchvision's v1.5), not
    on the first 1x1."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64):
        super().__init__()
        self.inplanes = 64
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_he(self, zero_init_residual)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _init_he(model, zero_init_residual=False):
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, Bottleneck):
                init.zeros_(module.bn3.weight)
            elif isinstance(module, BasicBlock):
                init.zeros_(module.bn2.weight)


# ----- CIFAR ResNets (section 4.2 of the paper) ------------------------------------------------

class ShortcutA(nn.Module):
    """The paper's option-A shortcut, parameter free: take every stride-th pixel and append
    zero channels up to ``out_channels`` (x[:, :, ::s, ::s] concatenated with zeros)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"option A cannot shrink channels ({in_channels} -> {out_channels})")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        n, c, h, w = x.shape
        xp = get_array_module(x.array)
        zeros = Tensor(xp.zeros((n, self.out_channels - c, h, w), dtype=x.dtype))
        return cat([x, zeros], 1)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class PlainBlock(nn.Module):
    """A BasicBlock without its shortcut: conv-BN-ReLU-conv-BN-ReLU."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class CifarResNet(nn.Module):
    """The CIFAR ResNet of section 4.2 on a 3x32x32 image: conv 3x3 16, BN, ReLU, three
    stages of n blocks of two 3x3 convs (16, 32, 64 channels on 32x32, 16x16, 8x8; the first
    block of stages 2 and 3 has stride 2), global average pool, FC: 6n + 2 layers.

    Shortcuts are option A (identity; where the shape changes, subsampling plus zero
    channels: no parameters), as the paper's CIFAR nets. ``residual=False`` gives the plain
    net of the same depth (no shortcuts), the paper's demonstration that deeper plain nets
    train worse. Initialisation as the paper (He et al. 2015): convs He normal (fan_out, ReLU
    gain), BN weight 1, bias 0, FC PyTorch's default; ``zero_init_residual`` (torchvision's
    name and meaning, not the paper's recipe: Goyal et al. 2017, section 5.1) zeroes the last
    BN weight of each residual block, so each block starts as its shortcut (a plain net has
    no residual block: it changes nothing there). ``block`` may be replaced by a subclass of
    BasicBlock (stochastic depth does)."""

    def __init__(self, depth, num_classes=10, residual=True, block=None,
                 zero_init_residual=False):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2, got {depth}")
        blocks_per_stage = (depth - 2) // 6
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        block = block or BasicBlock
        in_planes, stages = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for index in range(blocks_per_stage):
                block_stride = stride if index == 0 else 1
                if not residual:
                    blocks.append(PlainBlock(in_planes, planes, block_stride))
                else:
                    shortcut = (ShortcutA(in_planes, planes, block_stride)
                                if block_stride != 1 or in_planes != planes else None)
                    blocks.append(block(in_planes, planes, block_stride, shortcut))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_he(self, zero_init_residual)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


# ----- Wide ResNet and ResNeXt for CIFAR ---------------------------------------------------

class WideBasicBlock(nn.Module):
    """The pre-activation block of Wide ResNet: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3,
    plus the shortcut (a 1x1 conv of the pre-activated input where the shape changes)."""

    def __init__(self, in_planes, planes, stride, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else None
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = (conv1x1(in_planes, planes, stride)
                         if stride != 1 or in_planes != planes else None)

    def forward(self, x):
        activated = self.relu(self.bn1(x))
        out = self.relu(self.bn2(self.conv1(activated)))
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv2(out)
        identity = x if self.shortcut is None else self.shortcut(activated)
        return out + identity


class WideResNet(nn.Module):
    """WRN-d-k for CIFAR on a 3x32x32 image: conv 3x3 16, three groups of (d - 4) / 6
    pre-activation blocks with 16k, 32k, 64k channels (stride 2 at groups 2 and 3), BN, ReLU,
    global average pool, FC. Initialisation: convs He normal (fan_out, ReLU gain), BN 1 / 0,
    FC bias 0. ``dropout`` between the two convs of a block (the paper's "dropout" rows use
    0.3; default 0)."""

    def __init__(self, depth, widen_factor, num_classes=10, dropout=0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"a Wide ResNet has depth 6n + 4, got {depth}")
        blocks_per_group = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = conv3x3(3, widths[0])
        groups, in_planes = [], widths[0]
        for planes, stride in zip(widths[1:], (1, 2, 2)):
            blocks = []
            for index in range(blocks_per_group):
                blocks.append(WideBasicBlock(in_planes, planes, stride if index == 0 else 1,
                                             dropout))
                in_planes = planes
            groups.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = groups
        self.bn = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_planes, num_classes)
        _init_he(self)
        init.zeros_(self.fc.bias)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.bn(x))
        return self.fc(self.avgpool(x).flatten(1))


class ResNeXtBottleneck(nn.Module):
    """ResNeXt's block (form c of its figure 3): 1x1 conv to ``width`` channels, 3x3 grouped
    conv with ``cardinality`` groups (stride here), 1x1 conv to ``out_planes``, BN after each,
    ReLU between, plus the shortcut (1x1 conv + BN where the shape changes), then ReLU."""

    def __init__(self, in_planes, out_planes, width, cardinality, stride):
        super().__init__()
        self.conv1 = conv1x1(in_planes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups=cardinality)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_planes)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != out_planes:
            self.downsample = nn.Sequential(conv1x1(in_planes, out_planes, stride),
                                            nn.BatchNorm2d(out_planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class CifarResNeXt(nn.Module):
    """ResNeXt-29 (C x d) for CIFAR on a 3x32x32 image (section 5.3 of the paper): conv 3x3
    64, BN, ReLU, three stages of three bottleneck blocks with 256, 512, 1024 output channels
    and grouped 3x3 convs of C*d, 2*C*d, 4*C*d channels (stride 2 at stages 2 and 3), global
    average pool, FC. Initialisation: He normal convs (fan_out), BN 1 / 0."""

    def __init__(self, cardinality, base_width, num_classes=10, depth=29):
        super().__init__()
        if (depth - 2) % 9:
            raise ValueError(f"a CIFAR ResNeXt has depth 9n + 2, got {depth}")
        blocks_per_stage = (depth - 2) // 9
        self.conv1 = conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        stages, in_planes = [], 64
        for index, (out_planes, stride) in enumerate(((256, 1), (512, 2), (1024, 2))):
            width = cardinality * base_width * 2 ** index
            blocks = []
            for block_index in range(blocks_per_stage):
                blocks.append(ResNeXtBottleneck(in_planes, out_planes, width, cardinality,
                                                stride if block_index == 0 else 1))
                in_planes = out_planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(1024, num_classes)
        _init_he(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


# ----- registered models ----------------------------------------------------------------------

@register_model("resnet18", num_classes=1000, input_size=(3, 224, 224))
def resnet18(num_classes=1000, zero_init_residual=False):
    """ResNet-18 (He et al. 2016), basic blocks [2, 2, 2, 2], 3x224x224; 11,689,512 params."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual)


@register_model("resnet34", num_classes=1000, input_size=(3, 224, 224))
def resnet34(num_classes=1000, zero_init_residual=False):
    """ResNet-34, basic blocks [3, 4, 6, 3], 3x224x224; 21,797,672 params."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual)


@register_model("resnet50", num_classes=1000, input_size=(3, 224, 224))
def resnet50(num_classes=1000, zero_init_residual=False):
    """ResNet-50, bottleneck blocks [3, 4, 6, 3], 3x224x224; 25,557,032 params."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual)


@register_model("resnet101", num_classes=1000, input_size=(3, 224, 224))
def resnet101(num_classes=1000, zero_init_residual=False):
    """ResNet-101, bottleneck blocks [3, 4, 23, 3], 3x224x224; 44,549,160 params."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, zero_init_residual)


@register_model("resnet152", num_classes=1000, input_size=(3, 224, 224))
def resnet152(num_classes=1000, zero_init_residual=False):
    """ResNet-152, bottleneck blocks [3, 8, 36, 3], 3x224x224; 60,192,808 params."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, zero_init_residual)


@register_model("wide_resnet50_2", num_classes=1000, input_size=(3, 224, 224))
def wide_resnet50_2(num_classes=1000, zero_init_residual=False):
    """Wide ResNet-50-2 (torchvision's: ResNet-50 with 3x3 convs twice as wide), 3x224x224;
    68,883,240 params."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual,
                  width_per_group=128)


@register_model("resnext50_32x4d", num_classes=1000, input_size=(3, 224, 224))
def resnext50_32x4d(num_classes=1000, zero_init_residual=False):
    """ResNeXt-50 32x4d (Xie et al. 2017), grouped 3x3 convs, 3x224x224; 25,028,904 params."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual, groups=32,
                  width_per_group=4)


def _cifar_resnet(depth, count, paper):
    def build(num_classes=10, zero_init_residual=False):
        return CifarResNet(depth, num_classes, zero_init_residual=zero_init_residual)
    build.__name__ = f"resnet{depth}"
    build.__doc__ = (f"ResNet-{depth} for CIFAR (He et al. 2016, option-A shortcuts), "
                     f"3x32x32; {count} params (paper: {paper}).")
    return register_model(f"resnet{depth}", num_classes=10, input_size=(3, 32, 32))(build)


def _plain(depth, count):
    def build(num_classes=10):
        return CifarResNet(depth, num_classes, residual=False)
    build.__name__ = f"plain{depth}"
    build.__doc__ = (f"Plain-{depth} for CIFAR: ResNet-{depth} without shortcuts (He et al. "
                     f"2016, figure 6), 3x32x32; {count} params.")
    return register_model(f"plain{depth}", num_classes=10, input_size=(3, 32, 32))(build)


resnet20 = _cifar_resnet(20, "269,722", "0.27M")
resnet32 = _cifar_resnet(32, "464,154", "0.46M")
resnet44 = _cifar_resnet(44, "658,586", "0.66M")
resnet56 = _cifar_resnet(56, "853,018", "0.85M")
resnet110 = _cifar_resnet(110, "1,727,962", "1.7M")
plain20 = _plain(20, "269,722")
plain32 = _plain(32, "464,154")
plain44 = _plain(44, "658,586")
plain56 = _plain(56, "853,018")


@register_model("wrn16_4", num_classes=10, input_size=(3, 32, 32))
def wrn16_4(num_classes=10, dropout=0.0):
    """Wide ResNet WRN-16-4 for CIFAR (Zagoruyko and Komodakis 2016), 3x32x32; 2,748,890
    params (paper: 2.7M)."""
    return WideResNet(16, 4, num_classes, dropout)


@register_model("wrn28_10", num_classes=10, input_size=(3, 32, 32))
def wrn28_10(num_classes=10, dropout=0.0):
    """Wide ResNet WRN-28-10 for CIFAR (Zagoruyko and Komodakis 2016), 3x32x32; 36,479,194
    params (paper: 36.5M)."""
    return WideResNet(28, 10, num_classes, dropout)


@register_model("resnext29_8x64d", num_classes=10, input_size=(3, 32, 32))
def resnext29_8x64d(num_classes=10):
    """ResNeXt-29 8x64d for CIFAR (Xie et al. 2017), 3x32x32; 34,426,698 params (paper:
    34.4M)."""
    return CifarResNeXt(cardinality=8, base_width=64, num_classes=num_classes)
