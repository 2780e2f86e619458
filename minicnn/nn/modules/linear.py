"""Linear, Identity and Flatten layers."""

import math

import numpy as np

from minicnn.backend.validate import check_int
from minicnn.nn import functional as F
from minicnn.nn import init
from minicnn.nn.modules.budget import empty_parameter
from minicnn.nn.modules.module import Module, Parameter


class Linear(Module):
    """y = x W^T + b, W (out_features, in_features). Initialised as PyTorch's nn.Linear:
    W and b uniform in +-1/sqrt(in_features). Raises TypeError / ValueError for a size that is
    not an int >= 0."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "Linear", 0)
        self.out_features = check_int(out_features, "out_features", "Linear", 0)
        self.weight = Parameter(empty_parameter((self.out_features, self.in_features), dtype))
        if bias:
            self.bias = Parameter(empty_parameter((self.out_features,), dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input (a placeholder where an architecture has no layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim (by default all but the batch dimension)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

