"""GoogLeNet (Inception v1): Szegedy et al., "Going deeper with convolutions", CVPR 2015.

An Inception module runs four branches on the same input and concatenates their outputs along
the channels: a 1x1 conv; a 1x1 reduction then a 3x3 conv; a 1x1 reduction then a 5x5 conv;
a 3x3 max pool then a 1x1 projection. The 1x1 reductions are what make it affordable: on a
28x28x256 input, the naive module (1x1 128, 3x3 192, 5x5 96, pool, no reductions) costs
854,196,224 multiply-adds in its convs and outputs 672 channels; with 1x1 reductions to 64
channels before the 3x3 and 5x5 and a 64-channel pool projection it costs 271,351,808.
"""

from collections import namedtuple

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.ops import cat

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """conv -> BN (eps 1e-3) -> ReLU, as torchvision's; ``batch_norm=False`` gives the paper's
    conv (with bias) -> ReLU."""

    def __init__(self, in_channels, out_channels, batch_norm=True, **conv_options):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **conv_options)
        if batch_norm:
            self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        else:
            self.bn = None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x)


class Inception(nn.Module):
    """The Inception module with 1x1 reductions. ``branch3`` is the paper's 5x5 branch; with
    ``batch_norm=True`` its second conv is 3x3, as in torchvision (a slip kept there for its
    pretrained weights), with ``batch_norm=False`` it is the paper's 5x5."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 batch_norm=True):
        super().__init__()
        five = 3 if batch_norm else 5
        self.branch1 = BasicConv2d(in_channels, ch1x1, batch_norm, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, batch_norm, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, batch_norm, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, batch_norm, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, batch_norm, kernel_size=five, padding=five // 2))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, batch_norm, kernel_size=1))

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class NaiveInception(nn.Module):
    """The naive Inception module (figure 2a of the paper): 1x1, 3x3 and 5x5 convs (each with
    a ReLU) and a 3x3 max pool on the same input, concatenated. The pool branch passes all
    input channels through, so the output is always wider than the input."""

    def __init__(self, in_channels, ch1x1, ch3x3, ch5x5):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, False, kernel_size=1)
        self.branch2 = BasicConv2d(in_channels, ch3x3, False, kernel_size=3, padding=1)
        self.branch3 = BasicConv2d(in_channels, ch5x5, False, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on inception 4a and 4d: 5x5/3 average pool (adaptive to 4x4),
    1x1 conv 128, FC 1024 + ReLU, dropout 0.7, FC num_classes."""

    def __init__(self, in_channels, num_classes, dropout=0.7, batch_norm=True):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, batch_norm, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = self.conv(self.avgpool(x)).flatten(1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of table 1 of the paper
INCEPTION_WIDTHS = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    """GoogLeNet on a 3x224x224 image, laid out as torchvision's (same names, same order of
    parameters and buffers, so a state dict maps across by position).

    stem: conv 7x7/2 64, max pool 3x3/2, conv 1x1 64, conv 3x3 192, max pool 3x3/2 (28x28);
    inception 3a, 3b, max pool; 4a-4e, max pool; 5a, 5b (7x7x1024); global average pool,
    dropout, FC num_classes. Pools use ceil mode (Caffe's rounding).

    ``batch_norm=True`` (default) is torchvision's: every conv is BasicConv2d (conv without
    bias, BN with eps 1e-3, ReLU), the paper's 5x5 branch convs are 3x3, the pool before 5a is
    2x2/2, dropout 0.2; 6,624,904 parameters with 1000 classes, 13,004,888 with the auxiliary
    classifiers. Initialisation (torchvision's): conv and FC weights N(0, 0.01^2) (torchvision
    truncates at +-2, 200 standard deviations out), BN weight 1, bias 0.

    ``batch_norm=False`` is the paper's form: convs with bias and ReLU, no BN, 5x5 convs, LRN
    (size 5, alpha 1e-4, beta 0.75, as Caffe's) after the first pool and after the 3x3 stem
    conv, a 3x3/2 pool before 5a, dropout 0.4; 6,998,552 parameters with 1000 classes (the
    paper's table 1 sums to about 6.8M, without biases). Initialisation as Caffe's reference
    model: Xavier uniform weights, biases 0.2.

    ``aux_logits=True`` adds the two auxiliary classifiers (on 4a and 4d); in training the
    forward then returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (the paper
    adds their losses with weight 0.3), in eval just the logits. The default is False (one
    output, 6,624,904 parameters); torchvision's class defaults to True. torchvision's
    ``transform_input`` (re-normalising the input for its ported weights) is not offered."""

    def __init__(self, num_classes=1000, aux_logits=False, init_weights=True, dropout=None,
                 dropout_aux=0.7, batch_norm=True):
        super().__init__()
        self.aux_logits = aux_logits
        if dropout is None:
            dropout = 0.2 if batch_norm else 0.4
        self.conv1 = BasicConv2d(3, 64, batch_norm, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, batch_norm, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, batch_norm, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        if batch_norm:
            self.lrn1 = self.lrn2 = None
        else:
            self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
            self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        for name in ("3a", "3b"):
            setattr(self, "inception" + name, Inception(*INCEPTION_WIDTHS[name], batch_norm))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name in ("4a", "4b", "4c", "4d", "4e"):
            setattr(self, "inception" + name, Inception(*INCEPTION_WIDTHS[name], batch_norm))
        self.maxpool4 = (nn.MaxPool2d(2, stride=2, ceil_mode=True) if batch_norm
                         else nn.MaxPool2d(3, stride=2, ceil_mode=True))
        for name in ("5a", "5b"):
            setattr(self, "inception" + name, Inception(*INCEPTION_WIDTHS[name], batch_norm))
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux, batch_norm)
            self.aux2 = InceptionAux(528, num_classes, dropout_aux, batch_norm)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            _init_googlenet(self, batch_norm)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        if self.lrn1 is not None:
            x = self.lrn1(x)
        x = self.conv3(self.conv2(x))
        if self.lrn2 is not None:
            x = self.lrn2(x)
        x = self.maxpool2(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(self.avgpool(x).flatten(1)))
        if self.aux_logits and self.training:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


class NaiveGoogLeNet(nn.Module):
    """GoogLeNet's layout with naive Inception modules (no 1x1 reductions, no pool
    projection), for teaching: the pool branch carries every channel forward, so the width
    grows from 192 to 4,944 channels and the cost explodes: 97,526,008 parameters with 1000
    classes (14.7 times GoogLeNet's). Paper-form stem (no BN, LRN), 3x224x224 input, Xavier
    uniform weights, biases 0.2."""

    def __init__(self, num_classes=1000, dropout=0.4):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, False, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        self.conv2 = BasicConv2d(64, 64, False, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, False, kernel_size=3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        stages, channels = [], 192
        for names in (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b")):
            modules = []
            for name in names:
                _, ch1x1, _, ch3x3, _, ch5x5, _ = INCEPTION_WIDTHS[name]
                modules.append(NaiveInception(channels, ch1x1, ch3x3, ch5x5))
                channels = modules[-1].out_channels
            if names[0] != "5a":
                modules.append(nn.MaxPool2d(3, stride=2, ceil_mode=True))
            stages.append(nn.Sequential(*modules))
        self.inception3, self.inception4, self.inception5 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        _init_googlenet(self, batch_norm=False)

    def forward(self, x):
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.inception5(self.inception4(self.inception3(x)))
        return self.fc(self.dropout(self.avgpool(x).flatten(1)))


def _init_googlenet(model, batch_norm):
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if batch_norm:
                init.normal_(module.weight, 0.0, 0.01)
            else:
                init.xavier_uniform_(module.weight)
                init.constant_(module.bias, 0.2)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)


@register_model("googlenet", num_classes=1000, input_size=(3, 224, 224))
def googlenet(num_classes=1000, aux_logits=False, init_weights=True, dropout=None,
              dropout_aux=0.7, batch_norm=True):
    """GoogLeNet / Inception v1 (Szegedy et al. 2015) as torchvision's, 3x224x224; 6,624,904
    params (13,004,888 with aux_logits=True); batch_norm=False for the paper's form."""
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, init_weights=init_weights,
                     dropout=dropout, dropout_aux=dropout_aux, batch_norm=batch_norm)


@register_model("googlenet_naive", num_classes=1000, input_size=(3, 224, 224))
def googlenet_naive(num_classes=1000, dropout=0.4):
    """GoogLeNet with naive Inception modules (no 1x1 reductions), for teaching, 3x224x224;
    97,526,008 params."""
    return NaiveGoogLeNet(num_classes=num_classes, dropout=dropout)
