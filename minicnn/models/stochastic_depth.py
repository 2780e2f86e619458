"""Stochastic depth: Huang, Sun, Liu, Sedra and Weinberger, "Deep networks with stochastic
depth", ECCV 2016.

In training, each residual block's branch is dropped at random (the block becomes its
shortcut), so the expected depth of the net is shorter and gradients reach early layers more
easily; at test time every block is used.
"""

from minicnn import nn
from minicnn.autograd import Tensor
from minicnn.backend import get_array_module
from minicnn.models.registry import register_model
from minicnn.models.resnet import BasicBlock, CifarResNet
from minicnn.random import default_generator


class StochasticDepth(nn.Module):
    """Drops its input with probability ``p`` in training, scaling what survives by
    1 / (1 - p) (inverted, like dropout, so it is the identity in eval), as
    ``torchvision.ops.StochasticDepth``. ``mode="batch"`` draws one decision for the whole
    mini-batch (the paper's), ``mode="row"`` one per sample. The draws come from minicnn's
    default generator (``minicnn.manual_seed`` makes them repeatable)."""

    def __init__(self, p, mode="batch"):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode must be 'batch' or 'row', got {mode!r}")
        self.p, self.mode = float(p), mode

    def forward(self, input):
        if not self.training or self.p == 0.0:
            return input
        survival = 1.0 - self.p
        shape = (input.shape[0] if self.mode == "row" else 1,) + (1,) * (input.ndim - 1)
        keep = default_generator().random(shape) < survival
        scale = keep / survival if survival > 0 else keep
        xp = get_array_module(input.array)
        return input * Tensor(xp.asarray(scale, dtype=input.dtype))

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


class StochasticDepthBlock(BasicBlock):
    """A CIFAR ResNet BasicBlock whose residual branch passes through StochasticDepth:
    relu(shortcut(x) + drop(F(x)))."""

    def __init__(self, inplanes, planes, stride=1, downsample=None, mode="batch"):
        super().__init__(inplanes, planes, stride, downsample)
        self.stochastic_depth = StochasticDepth(0.0, mode)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.stochastic_depth(out) + identity)


class StochasticDepthResNet(CifarResNet):
    """A CIFAR ResNet (option-A shortcuts) whose block l of L survives with probability
    ``p_l = 1 - l / L * (1 - final_survival)``: the paper's linear decay from 1 at the input
    to ``final_survival`` (0.5) at the last block.

    Differences from the paper: a surviving branch is scaled by 1 / p_l in training and the
    test-time net is the plain ResNet (the paper scales each branch by p_l at test time
    instead; the two agree in expectation); the branch of a dropped block is still computed
    (and multiplied by zero), which keeps the code simple but not the paper's speed-up."""

    def __init__(self, depth, num_classes=10, final_survival=0.5, mode="batch"):
        if not 0.0 <= final_survival <= 1.0:
            raise ValueError(f"final_survival must be in [0, 1], got {final_survival!r}")

        def block(inplanes, planes, stride, downsample):
            return StochasticDepthBlock(inplanes, planes, stride, downsample, mode)

        super().__init__(depth, num_classes, block=block)
        blocks = [m for m in self.modules() if isinstance(m, StochasticDepthBlock)]
        for index, block_module in enumerate(blocks, start=1):
            block_module.stochastic_depth.p = index / len(blocks) * (1.0 - final_survival)


@register_model("resnet110_sd", num_classes=10, input_size=(3, 32, 32))
def resnet110_sd(num_classes=10, final_survival=0.5, mode="batch"):
    """ResNet-110 with stochastic depth (Huang et al. 2016), linear decay to 0.5, CIFAR
    3x32x32; 1,727,962 params (paper: 1.7M)."""
    return StochasticDepthResNet(110, num_classes, final_survival, mode)
