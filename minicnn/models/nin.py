"""Network in Network: Lin, Chen and Yan, "Network in network", ICLR 2014."""

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import init


def _mlpconv(in_channels, width, mlp_widths, kernel_size):
    """An mlpconv layer: a conv followed by 1x1 convs (the paper's "cccp" layers, a small
    MLP shared across positions), each with a ReLU."""
    layers = [nn.Conv2d(in_channels, width, kernel_size, padding=kernel_size // 2),
              nn.ReLU(inplace=True)]
    for previous, current in zip((width,) + mlp_widths, mlp_widths):
        layers += [nn.Conv2d(previous, current, kernel_size=1), nn.ReLU(inplace=True)]
    return layers


class NIN(nn.Module):
    """The paper's CIFAR-10 network (its published Caffe model), on a 3x32x32 image:

    mlpconv 192 5x5 -> 160 -> 96, max pool 3x3/2 -> 16x16, dropout 0.5;
    mlpconv 192 5x5 -> 192 -> 192, average pool 3x3/2 -> 8x8, dropout 0.5;
    mlpconv 192 3x3 -> 192 -> num_classes, global average pooling -> one score per class.

    No FC layer: the last 1x1 conv makes one map per class and global average pooling turns
    each map into a score. 966,986 parameters with 10 classes (the paper gives no total).
    Pools use ceil mode, as Caffe does (32 -> 16 -> 8). As in the Caffe model, a ReLU follows
    the last 1x1 conv too. Initialisation: He normal (fan_in) for the convs, biases 0 (the
    Caffe model used hand-tuned Gaussians)."""

    def __init__(self, num_classes=10, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            *_mlpconv(3, 192, (160, 96), kernel_size=5),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.Dropout(p=dropout),
            *_mlpconv(96, 192, (192, 192), kernel_size=5),
            nn.AvgPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.Dropout(p=dropout),
            *_mlpconv(192, 192, (192, num_classes), kernel_size=3),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, nonlinearity="relu")
                init.zeros_(module.bias)

    def forward(self, x):
        return self.avgpool(self.features(x)).flatten(1)


@register_model("nin", num_classes=10, input_size=(3, 32, 32))
def nin(num_classes=10, dropout=0.5):
    """Network in Network (Lin et al. 2014), global average pooling, CIFAR 3x32x32; 966,986
    params."""
    return NIN(num_classes=num_classes, dropout=dropout)
