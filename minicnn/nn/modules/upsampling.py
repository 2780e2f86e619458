"""Upsample: F.interpolate as a layer."""

from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module


class Upsample(Module):
    """Resize to ``size`` or by ``scale_factor`` with ``mode`` "nearest", "nearest-exact",
    "linear" or "bilinear" (see ``F.interpolate``)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        shape = f"size={self.size}" if self.scale_factor is None \
            else f"scale_factor={self.scale_factor}"
        return f"{shape}, mode={self.mode!r}"
