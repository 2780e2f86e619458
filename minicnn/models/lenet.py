"""LeNet-5: LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998."""

from minicnn import nn
from minicnn.models.registry import register_model


class LeNet5(nn.Module):
    """C1 6@28x28 (5x5) - S2 6@14x14 - C3 16@10x10 (5x5) - S4 16@5x5 - C5 120 (5x5) - F6 84 -
    output, on a 1x28x28 image (C1 pads by 2, which stands for the paper's 32x32 input of a
    28x28 digit). 61,706 parameters with 10 classes.

    ``modern=False`` (default) is the classic form: tanh and 2x2 average pooling.
    ``modern=True`` uses ReLU and 2x2 max pooling. Changes from the paper: C3 connects to all
    six S2 maps (the paper's table connects each C3 map to 3-6 of them), S2 and S4 are plain
    pooling (the paper's have a trainable coefficient and bias each), the activation is tanh
    (the paper's is 1.7159 tanh(2a/3)), and the output is a linear layer (the paper's is
    Euclidean RBF units). Initialisation: PyTorch's layer default (uniform in +-1/sqrt(fan_in)),
    close to the paper's +-2.4/fan_in for the fan-ins of this net."""

    def __init__(self, num_classes=10, modern=False):
        super().__init__()
        activation = nn.ReLU if modern else nn.Tanh
        pool = nn.MaxPool2d if modern else nn.AvgPool2d
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),     # C1: 6@28x28
            activation(),
            pool(kernel_size=2, stride=2),                 # S2: 6@14x14
            nn.Conv2d(6, 16, kernel_size=5),               # C3: 16@10x10
            activation(),
            pool(kernel_size=2, stride=2),                 # S4: 16@5x5
            nn.Conv2d(16, 120, kernel_size=5),             # C5: 120@1x1
            activation(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, 84),                            # F6
            activation(),
            nn.Linear(84, num_classes),                    # output
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("lenet5", num_classes=10, input_size=(1, 28, 28))
def lenet5(num_classes=10, modern=False):
    """LeNet-5 (LeCun et al. 1998), MNIST 1x28x28; 61,706 params; modern=True for ReLU and
    max pooling."""
    return LeNet5(num_classes=num_classes, modern=modern)
