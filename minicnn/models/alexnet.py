"""AlexNet (Krizhevsky, Sutskever and Hinton, "ImageNet classification with deep convolutional
neural networks", NIPS 2012) and ZFNet (Zeiler and Fergus, "Visualizing and understanding
convolutional networks", ECCV 2014).

Both use the paper's local response normalisation: b = a / (k + alpha * sum a^2)^beta with
k=2, n=5, alpha=1e-4, beta=0.75. minicnn's LocalResponseNorm divides alpha by n (as PyTorch
and Caffe do), so the layer gets alpha = 5 * 1e-4 to compute the paper's numbers.
"""

from minicnn import nn
from minicnn.models.registry import register_model
from minicnn.nn import init


def _paper_lrn():
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


def _init_as_paper(model, biases_one):
    """Weights N(0, 0.01^2); biases 1 in the layers listed (so ReLUs start with positive input),
    0 elsewhere (AlexNet section 5)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init.normal_(module.weight, 0.0, 0.01)
            init.constant_(module.bias, 1.0 if module in biases_one else 0.0)


class AlexNet(nn.Module):
    """AlexNet as the paper and the lectures describe it, on a 3x227x227 image:

    conv1 96 11x11/4 -> 55x55, ReLU, LRN, max pool 3x3/2 -> 27x27;
    conv2 256 5x5 pad 2, ReLU, LRN, max pool 3x3/2 -> 13x13;
    conv3 384, conv4 384, conv5 256 (3x3 pad 1, ReLU), max pool 3x3/2 -> 6x6;
    FC 4096, FC 4096 (ReLU, dropout 0.5 before each), FC num_classes.

    62,378,344 parameters (1000 classes). ``groups=2`` reproduces the paper's split over two
    GPUs: conv2, conv4 and conv5 see only the half of the channels on their own GPU, giving
    60,965,224 parameters (conv3 and the FC layers connect across both, as in the paper).
    Initialisation as the paper: weights N(0, 0.01^2), biases 1 in conv2, conv4, conv5 and the
    hidden FC layers, 0 elsewhere. The layout (``features``, ``avgpool`` adaptive to 6x6,
    ``classifier``) and the order of the parameters are torchvision's; torchvision's own
    AlexNet is the later one-GPU variant (64-192-384-256-256 channels, no LRN), which
    ``variant="torchvision"`` builds, with torchvision's keys, shapes and initialisation (each
    layer's own), so that torchvision's pretrained weights load into it (61,100,840 params)."""

    def __init__(self, num_classes=1000, dropout=0.5, groups=1, variant="paper"):
        super().__init__()
        if variant not in ("paper", "torchvision"):
            raise ValueError(f"variant must be 'paper' or 'torchvision', got {variant!r}")
        if groups not in (1, 2) or (variant == "torchvision" and groups != 1):
            raise ValueError(f"groups must be 1 (one tower) or 2 (the paper's two GPUs; "
                             f"variant='paper' only), got {groups!r}")
        if variant == "torchvision":
            self._build_torchvision(num_classes, dropout)
            return
        conv1 = nn.Conv2d(3, 96, kernel_size=11, stride=4)
        conv2 = nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups)
        conv3 = nn.Conv2d(256, 384, kernel_size=3, padding=1)
        conv4 = nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups)
        conv5 = nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups)
        self.features = nn.Sequential(
            conv1, nn.ReLU(inplace=True), _paper_lrn(), nn.MaxPool2d(kernel_size=3, stride=2),
            conv2, nn.ReLU(inplace=True), _paper_lrn(), nn.MaxPool2d(kernel_size=3, stride=2),
            conv3, nn.ReLU(inplace=True),
            conv4, nn.ReLU(inplace=True),
            conv5, nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        fc6, fc7 = nn.Linear(256 * 6 * 6, 4096), nn.Linear(4096, 4096)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), fc6, nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), fc7, nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        _init_as_paper(self, biases_one=(conv2, conv4, conv5, fc6, fc7))

    def _build_torchvision(self, num_classes, dropout):
        """torchvision's one-GPU AlexNet ("One weird trick...", Krizhevsky 2014): no LRN."""
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


class ZFNet(nn.Module):
    """ZFNet (Zeiler and Fergus 2014, figure 3) on a 3x224x224 image: AlexNet with a 7x7
    stride-2 first layer (and a stride-2 5x5 second layer), so that the first layers keep
    more of the image:

    conv1 96 7x7/2 -> 110x110, ReLU, max pool 3x3/2 -> 55x55, LRN;
    conv2 256 5x5/2 -> 26x26, ReLU, max pool 3x3/2 -> 13x13, LRN;
    conv3 384, conv4 384, conv5 256 (3x3 pad 1, ReLU), max pool 3x3/2 -> 6x6;
    FC 4096, FC 4096 (ReLU, dropout 0.5 before each), FC num_classes.

    62,357,608 parameters with 1000 classes (the paper gives the layer sizes, not a total).
    conv1 and the first two pools pad by 1 to produce the paper's 110, 55 and 13. The paper's
    "contrast normalisation across feature maps" is AlexNet's LRN here. Initialisation as the
    paper: weights N(0, 0.01^2), biases 0."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1), _paper_lrn(),
            nn.Conv2d(96, 256, kernel_size=5, stride=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1), _paper_lrn(),
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        _init_as_paper(self, biases_one=())

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@register_model("alexnet", num_classes=1000, input_size=(3, 227, 227))
def alexnet(num_classes=1000, dropout=0.5, groups=1, variant="paper"):
    """AlexNet (Krizhevsky et al. 2012), 3x227x227, LRN; 62,378,344 params, 60,965,224 with
    groups=2 (the two-GPU split); variant="torchvision": torchvision's layout, for its
    pretrained weights (61,100,840 params)."""
    return AlexNet(num_classes=num_classes, dropout=dropout, groups=groups, variant=variant)


@register_model("zfnet", num_classes=1000, input_size=(3, 224, 224))
def zfnet(num_classes=1000, dropout=0.5):
    """ZFNet (Zeiler and Fergus 2014), 7x7 stride-2 first layer, 3x224x224; 62,357,608
    params."""
    return ZFNet(num_classes=num_classes, dropout=dropout)
