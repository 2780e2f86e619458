"""Dropout layers: Dropout (single elements) and Dropout2d (whole channels)."""

import numbers

from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module


class _DropoutNd(Module):
    """Stores p and inplace; raises ValueError for a p outside [0, 1], as PyTorch does."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
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
