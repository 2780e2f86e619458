"""Dropout layers: Dropout (single elements) and Dropout2d (whole channels)."""

from minicnn.nn import functional as F
from minicnn.nn.functional.dropout import check_probability
from minicnn.nn.modules.module import Module


class _DropoutNd(Module):
    """Stores p and inplace; raises ValueError unless p is in [0, 1] (the functional op's
    check, run when the layer is built)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        check_probability(p)
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout in training (zero with probability p, scale by 1 / (1 - p)); the
    identity in eval. ``inplace`` is accepted as in PyTorch; minicnn computes out of place."""

    def forward(self, input):
        return F.dropout(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Dropout of whole channels of an (N, C, H, W) input in training; the identity in eval."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)
