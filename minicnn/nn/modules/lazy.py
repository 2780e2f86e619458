"""Lazy layers: LazyLinear, LazyConv2d, LazyBatchNorm2d (and 1-d kin) infer their input size
from the first batch, as PyTorch's.

Until then their parameters are ``UninitializedParameter``s (no elements). The first call (or
``load_state_dict``, from the checkpoint's shapes) gives them their shapes in place, so an
optimizer built before it holds the same objects, initialises them as the ordinary layer does,
and turns the module into that layer (``LazyLinear`` becomes ``Linear``), as PyTorch does.
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
    """A lazy layer names the size it infers (``_input_size(input)``, or from the shape of the
    checkpoint entry ``_state_key``: ``_size_from_state(shape)``) and gives itself that size
    (``_materialize_for(size)``); then it becomes ``cls_to_become``."""

    cls_to_become = None

    def has_uninitialized_params(self):
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def __call__(self, input, *args, **kwargs):
        self._become(self._input_size(input))
        return Module.__call__(self, input, *args, **kwargs)

    def load_lazy_state(self, state_dict, prefix):
        """Module.load_state_dict's first step: take the size from the checkpoint's entry."""
        entry = state_dict.get(prefix + self._state_key)
        if entry is not None:
            self._become(self._size_from_state(tuple(np.shape(entry))))

    def _become(self, size):
        self._materialize_for(size)
        self.reset_parameters()
        self.__class__ = self.cls_to_become

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


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear layer whose in_features is the last dimension of its first input."""

    cls_to_become = Linear
    _state_key = "weight"

    def __init__(self, out_features, bias=True, dtype=np.float32):
        with warnings.catch_warnings():     # Linear's init of its (out, 0) weight is a no-op
            warnings.simplefilter("ignore")
            super().__init__(0, out_features, bias, dtype)
        self._dtype = dtype
        self._lazy_parameters(bias)

    def _input_size(self, input):
        return input.shape[-1]

    def _size_from_state(self, weight_shape):
        return weight_shape[1]

    def _materialize_for(self, in_features):
        self.in_features = in_features
        self._materialize((self.out_features, in_features), (self.out_features,))


class _LazyConv(LazyModuleMixin):
    _state_key = "weight"

    def __init__(self, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, dtype):
        # built for groups input channels (the fewest that pass the checks) until the first call
        super().__init__(groups, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, dtype)
        self._dtype = dtype
        self._lazy_parameters(bias)

    def _input_size(self, input):
        return input.shape[-1 - len(self.kernel_size)]

    def _size_from_state(self, weight_shape):
        return weight_shape[1] * self.groups

    def _materialize_for(self, in_channels):
        if in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) must be "
                             f"divisible by groups ({self.groups})")
        self.in_channels = in_channels
        shape = (self.out_channels, in_channels // self.groups, *self.kernel_size)
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
        self._state_key = "weight" if affine else "running_mean"
        if affine:
            self._lazy_parameters(bias=True)

    def _input_size(self, input):
        return input.shape[1]

    def _size_from_state(self, shape):
        return shape[0]

    def _materialize_for(self, num_features):
        self.num_features = num_features
        if self.affine:
            self._materialize((num_features,), (num_features,))
        if self.track_running_stats:
            self.running_mean.array = np.zeros(num_features, dtype=self._dtype)
            self.running_var.array = np.ones(num_features, dtype=self._dtype)


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A BatchNorm2d whose num_features is the channel count of its first input."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """A BatchNorm1d whose num_features is dimension 1 of its first input."""

    cls_to_become = BatchNorm1d
