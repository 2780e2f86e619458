"""Activation functions: ReLU, leaky ReLU, sigmoid, tanh, softmax, log-softmax."""

from minicnn.autograd import Function
from minicnn.backend import get_array_module, kernels_for
from minicnn.ops import _normalize_dims, sigmoid, tanh

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]


class ReLU(Function):
    def forward(self, x):
        self.kernels = kernels_for(x)
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
        return get_array_module(x).where(x > 0, x, x * negative_slope)

    def backward(self, grad_y):
        # dx = dy * (1 if x > 0 else slope)
        x, = self.saved
        return get_array_module(x).where(x > 0, grad_y, grad_y * self.negative_slope), None


def _shifted(x, dim):
    """x - max(x) along dim, so that exp cannot overflow (an empty x has no max, and needs none)."""
    return x - x.max(axis=dim, keepdims=True) if x.size else x


class Softmax(Function):
    def forward(self, x, dim):
        xp = get_array_module(x)
        e = xp.exp(_shifted(x, dim))
        y = e / e.sum(axis=dim, keepdims=True)
        self.dim = dim
        self.save_for_backward(y)
        return y

    def backward(self, grad_y):
        # dx = y * (dy - sum(dy * y))   along dim
        y, = self.saved
        return y * (grad_y - (grad_y * y).sum(axis=self.dim, keepdims=True)), None


class LogSoftmax(Function):
    def forward(self, x, dim):
        xp = get_array_module(x)
        shifted = _shifted(x, dim)
        # log-sum-exp; an empty x has nothing to normalise (and the log of its empty sums is -inf)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True)) if x.size else x.copy()
        self.dim = dim
        self.save_for_backward(y)
        return y

    def backward(self, grad_y):
        # dx = dy - softmax(x) * sum(dy)   along dim
        y, = self.saved
        xp = get_array_module(y)
        return grad_y - xp.exp(y) * grad_y.sum(axis=self.dim, keepdims=True), None


def relu(input, inplace=False):
    """max(input, 0). ``inplace`` is accepted for PyTorch compatibility and ignored: minicnn
    never overwrites an array that the graph may still need."""
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(input, float(negative_slope))


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
