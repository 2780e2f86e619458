"""Lazy layers: LazyLinear, LazyConv2d, LazyBatchNorm2d (and 1-d kin) infer their input size
from the first batch, as PyTorch's.

Until then their parameters are ``UninitializedParameter``s (no elements). The first call
gives them their shapes in place, so an optimizer built before it holds the same objects, then
initialises them as the ordinary layer does and turns the module into that layer
(``LazyLinear`` becomes ``Linear``), as PyTorch does.
"""

import warnings

import numpy as np

from minicnn.nn.modules.conv import Conv1d, Conv2d
from minicnn.nn.modules.linear import Linear
from minicnn.nn.modules.module import Module, Parameter
from minicnn.nn.modules.norm import BatchNorm1d, BatchNorm2d


class UninitializedParameter(Parameter):
    """A Parameter without a shape yet; ``materialize(shape)`` gives it one (zeros, to be
    initialised by its layer) and makes it a plain Parameter."""

    def __init__(self, requires_grad=True, dtype=np.float32):
        super().__init__(np.empty(0, dtype=dtype), requires_grad=requires_grad)

    def materialize(self, shape):
        self.array = np.zeros(shape, dtype=self.dtype)
        self.__class__ = Parameter

    def __repr__(self):
        return "<UninitializedParameter>"


class LazyModuleMixin:
    """The first call runs ``initialize_parameters(input)``, becomes ``cls_to_become``, and
    then runs as that layer."""

    cls_to_become = None

    def has_uninitialized_params(self):
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def __call__(self, input, *args, **kwargs):
        self.initialize_parameters(input)
        self.__class__ = self.cls_to_become
        return Module.__call__(self, input, *args, **kwargs)

    def _lazy_parameters(self, bias):
        self.weight = UninitializedParameter(dtype=self._dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=self._dtype)
        else:
            self.register_parameter("bias", None)

    def _materialize(self, weight_shape, bias_shape):
        self.weight.materialize(weight_shape)
        if self.bias is not None:
            self.bias.materialize(bias_shape)
        self.reset_parameters()


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear layer whose in_features is the last dimension of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, dtype=np.float32):
        with warnings.catch_warnings():     # Linear's init of its (out, 0) weight is a no-op
            warnings.simplefilter("ignore")
            super().__init__(0, out_features, bias, dtype)
        self._dtype = dtype
        self._lazy_parameters(bias)

    def initialize_parameters(self, input):
        self.in_features = input.shape[-1]
        self._materialize((self.out_features, self.in_features), (self.out_features,))


class _LazyConv(LazyModuleMixin):
    def __init__(self, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, dtype):
        # built for groups input channels (the fewest that pass the checks) until the first call
        super().__init__(groups, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, dtype)
        self._dtype = dtype
        self._lazy_parameters(bias)

    def initialize_parameters(self, input):
        self.in_channels = input.shape[-1 - len(self.kernel_size)]
        if self.in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({self.in_channels}) must be "
                             f"divisible by groups ({self.groups})")
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self._materialize(shape, (self.out_channels,))


class LazyConv2d(_LazyConv, Conv2d):
    """A Conv2d layer whose in_channels is dimension -3 of its first input."""

    cls_to_become = Conv2d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        super().__init__(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A Conv1d layer whose in_channels is dimension -2 of its first input."""

    cls_to_become = Conv1d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        super().__init__(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype)


class _LazyBatchNorm(LazyModuleMixin):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__(0, eps, momentum, affine, track_running_stats, dtype)
        self._dtype = dtype
        if affine:
            self._lazy_parameters(bias=True)

    def initialize_parameters(self, input):
        self.num_features = input.shape[1]
        if self.affine:
            self.weight.materialize((self.num_features,))
            self.bias.materialize((self.num_features,))
        if self.track_running_stats:
            self.running_mean.array = np.zeros(self.num_features, dtype=self._dtype)
            self.running_var.array = np.ones(self.num_features, dtype=self._dtype)
        self.reset_parameters()


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A BatchNorm2d whose num_features is the channel count of its first input."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    cls_to_become = BatchNorm1d
