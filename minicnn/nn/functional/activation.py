"""Activation functions: ReLU, leaky ReLU, sigmoid, tanh, softmax, log-softmax."""

from minicnn.autograd import Function
from minicnn.backend import validate as check
from minicnn.ops import _normalize_dims, sigmoid, tanh

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]


class ReLU(Function):
    def forward(self, x):
        y = self.kernels.relu_forward(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad_y):
        # dx = dy * [y > 0]   shapes: any, elementwise
        y, = self.saved
        return self.kernels.relu_backward(grad_y, y)


class LeakyReLU(Function):
    def forward(self, x, negative_slope):
        self.negative_slope = negative_slope
        self.save_for_backward(x)
        return self.kernels.leaky_relu_forward(x, negative_slope)

    def backward(self, grad_y):
        # dx = dy * (1 if x > 0 else slope)   shapes: any, elementwise
        x, = self.saved
        return self.kernels.leaky_relu_backward(grad_y, x, self.negative_slope), None


class Softmax(Function):
    def forward(self, x, dim):
        self.dim = dim
        y = self.kernels.softmax_forward(x, dim)
        self.save_for_backward(y)
        return y

    def backward(self, grad_y):
        # dx = y * (dy - sum(dy * y))   along dim; shapes: any
        y, = self.saved
        return self.kernels.softmax_backward(grad_y, y, self.dim), None


class LogSoftmax(Function):
    def forward(self, x, dim):
        self.dim = dim
        y = self.kernels.log_softmax_forward(x, dim)
        self.save_for_backward(y)
        return y

    def backward(self, grad_y):
        # dx = dy - softmax(x) * sum(dy)   along dim; shapes: any
        y, = self.saved
        return self.kernels.log_softmax_backward(grad_y, y, self.dim), None


def relu(input, inplace=False):
    """max(input, 0). ``inplace`` is accepted for PyTorch compatibility and ignored: minicnn
    never overwrites an array that the graph may still need."""
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(input, *check.reals("leaky_relu", negative_slope=negative_slope))


def _softmax_dim(input, dim):
    """The axis to normalise over (None for a 0-d tensor, whose softmax is 1)."""
    if dim is None:
        # PyTorch's legacy rule for an implicit dim
        dim = 0 if input.ndim in (0, 1, 3) else 1
    (axis,) = _normalize_dims(dim, input.ndim) or (None,)
    return axis


def softmax(input, dim=None, *, dtype=None):
    """exp(x) / sum(exp(x)) along dim; ``dtype`` casts the input first, as in PyTorch."""
    input = input if dtype is None else input.to(dtype)
    return Softmax.apply(input, _softmax_dim(input, dim))


def log_softmax(input, dim=None, *, dtype=None):
    input = input if dtype is None else input.to(dtype)
    return LogSoftmax.apply(input, _softmax_dim(input, dim))
