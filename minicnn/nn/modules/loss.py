"""Loss layers wrapping the functional losses: CrossEntropyLoss, NLLLoss, MSELoss."""

from minicnn.autograd import Tensor
from minicnn.nn import functional as F
from minicnn.nn.modules.module import Module


def _register_class_weight(module, weight):
    """The class weights are a buffer, as in PyTorch: saved in the state dict, moved by .to()."""
    if weight is not None and not isinstance(weight, Tensor):
        weight = Tensor(weight)
    module.register_buffer("weight", weight)


class CrossEntropyLoss(Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        _register_class_weight(self, weight)
        self.ignore_index = ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__()
        _register_class_weight(self, weight)
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)
