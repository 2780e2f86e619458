"""SqueezeNet: Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
and <0.5MB model size", 2016 (v1.0), and v1.1 of the authors' repository."""

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import init
from minicnn.ops import cat


class Fire(nn.Module):
    """A Fire module: a 1x1 "squeeze" conv to few channels, then 1x1 and 3x3 "expand" convs
    side by side, concatenated (each conv followed by ReLU)."""

    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return cat([self.expand1x1_activation(self.expand1x1(x)),
                    self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet as torchvision builds it (same names and order of parameters), on a
    3x224x224 image. v1.0: conv 7x7/2 96, max pool, Fire 2-4, max pool, Fire 5-8, max pool,
    Fire 9; v1.1: conv 3x3/2 64 and the pools moved earlier (2.4x less computation, same
    accuracy). Then dropout 0.5, a 1x1 conv to num_classes, ReLU, global average pooling:
    no FC layer. Pools are 3x3/2 in ceil mode (Caffe's rounding). Initialisation
    (torchvision's): He uniform convs, N(0, 0.01^2) for the final conv, biases 0."""

    def __init__(self, version="1_0", num_classes=1000, dropout=0.5):
        super().__init__()
        def pool():
            return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)

        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=7, stride=2), nn.ReLU(inplace=True), pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), pool(),
                Fire(512, 64, 256, 256))
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True), pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256))
        else:
            raise ValueError(f"SqueezeNet version must be '1_0' or '1_1', got {version!r}")
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv,
                                        nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module is final_conv:
                    init.normal_(module.weight, 0.0, 0.01)
                else:
                    init.kaiming_uniform_(module.weight)
                init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(self.features(x)).flatten(1)


@register_model("squeezenet1_0", num_classes=1000, input_size=(3, 224, 224))
def squeezenet1_0(num_classes=1000, dropout=0.5):
    """SqueezeNet 1.0 (Iandola et al. 2016), Fire modules, 3x224x224; 1,248,424 params."""
    return SqueezeNet("1_0", num_classes, dropout)


@register_model("squeezenet1_1", num_classes=1000, input_size=(3, 224, 224))
def squeezenet1_1(num_classes=1000, dropout=0.5):
    """SqueezeNet 1.1, 2.4x cheaper than 1.0 at the same accuracy, 3x224x224; 1,235,496
    params."""
    return SqueezeNet("1_1", num_classes, dropout)
