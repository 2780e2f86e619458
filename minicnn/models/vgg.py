"""VGG: Simonyan and Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015.

Stacks of 3x3 convolutions (padding 1) separated by 2x2 max pools, then three FC layers. Two
stacked 3x3 convs see a 5x5 window, three see 7x7, with fewer weights and more ReLUs.
``CONFIGS`` holds the configurations of table 1 of the paper: numbers are conv widths, "M" a
max pool, "1x1-N" a 1x1 conv, "LRN" a local response normalisation.
"""

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import init

CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x1-256", "M", 512, 512, "1x1-512", "M",
          512, 512, "1x1-512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(config, batch_norm=False):
    """The ``features`` Sequential of a configuration (conv, [BN,] ReLU per conv entry)."""
    layers, in_channels = [], 3
    for entry in config:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif entry == "LRN":
            # AlexNet's LRN (k=2, n=5, alpha=1e-4 without the /n, beta=0.75)
            layers.append(nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0))
        else:
            one_by_one = isinstance(entry, str)
            width = int(entry.split("-")[1]) if one_by_one else entry
            kernel = 1 if one_by_one else 3
            layers.append(nn.Conv2d(in_channels, width, kernel_size=kernel,
                                    padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            in_channels = width
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` (the conv stack), ``avgpool`` (adaptive to 7x7, the identity at 224x224)
    and ``classifier`` (FC 4096, ReLU, dropout, FC 4096, ReLU, dropout, FC num_classes), as
    torchvision lays it out, so the parameters come in torchvision's order.

    Initialisation (torchvision's): convs He normal (fan_out, ReLU gain), biases 0; BN weight
    1, bias 0; FC weights N(0, 0.01^2), biases 0. The paper initialised the deeper nets from
    the trained net A, or (as noted after submission) with Glorot's scheme; BN did not exist
    yet (the ``_bn`` variants are torchvision's)."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    init.zeros_(module.bias)
                elif isinstance(module, nn.BatchNorm2d):
                    init.ones_(module.weight)
                    init.zeros_(module.bias)
                elif isinstance(module, nn.Linear):
                    init.normal_(module.weight, 0.0, 0.01)
                    init.zeros_(module.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(config, batch_norm, num_classes, init_weights, dropout):
    return VGG(make_layers(CONFIGS[config], batch_norm), num_classes=num_classes,
               init_weights=init_weights, dropout=dropout)


@register_model("vgg11", num_classes=1000, input_size=(3, 224, 224))
def vgg11(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-11 (configuration A), 3x224x224; 132,863,336 parameters (paper: 133M)."""
    return _vgg("A", False, num_classes, init_weights, dropout)


@register_model("vgg11_lrn", num_classes=1000, input_size=(3, 224, 224))
def vgg11_lrn(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-11 with LRN after the first conv (configuration A-LRN), 3x224x224; 132,863,336
    parameters (paper: 133M; LRN has none)."""
    return _vgg("A-LRN", False, num_classes, init_weights, dropout)


@register_model("vgg13", num_classes=1000, input_size=(3, 224, 224))
def vgg13(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-13 (configuration B), 3x224x224; 133,047,848 parameters (paper: 133M)."""
    return _vgg("B", False, num_classes, init_weights, dropout)


@register_model("vgg16_c", num_classes=1000, input_size=(3, 224, 224))
def vgg16_c(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-16 with 1x1 convs as the third conv of blocks 3-5 (configuration C), 3x224x224;
    133,638,952 parameters (paper: 134M)."""
    return _vgg("C", False, num_classes, init_weights, dropout)


@register_model("vgg16", num_classes=1000, input_size=(3, 224, 224))
def vgg16(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-16 (configuration D), 3x224x224; 138,357,544 parameters (paper: 138M)."""
    return _vgg("D", False, num_classes, init_weights, dropout)


@register_model("vgg19", num_classes=1000, input_size=(3, 224, 224))
def vgg19(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-19 (configuration E), 3x224x224; 143,667,240 parameters (paper: 144M)."""
    return _vgg("E", False, num_classes, init_weights, dropout)


@register_model("vgg11_bn", num_classes=1000, input_size=(3, 224, 224))
def vgg11_bn(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-11 with batch norm after every conv, 3x224x224; 132,868,840 parameters."""
    return _vgg("A", True, num_classes, init_weights, dropout)


@register_model("vgg13_bn", num_classes=1000, input_size=(3, 224, 224))
def vgg13_bn(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-13 with batch norm after every conv, 3x224x224; 133,053,736 parameters."""
    return _vgg("B", True, num_classes, init_weights, dropout)


@register_model("vgg16_bn", num_classes=1000, input_size=(3, 224, 224))
def vgg16_bn(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-16 with batch norm after every conv, 3x224x224; 138,365,992 parameters."""
    return _vgg("D", True, num_classes, init_weights, dropout)


@register_model("vgg19_bn", num_classes=1000, input_size=(3, 224, 224))
def vgg19_bn(num_classes=1000, init_weights=True, dropout=0.5):
    """VGG-19 with batch norm after every conv, 3x224x224; 143,678,248 parameters."""
    return _vgg("E", True, num_classes, init_weights, dropout)
