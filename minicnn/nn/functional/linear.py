"""The affine map of a fully connected layer, and flatten."""

from minicnn.autograd import Function
from minicnn.ops import ShapeError, flatten, sum_to_shape

__all__ = ["linear", "flatten"]


class Linear(Function):
    def forward(self, x, weight, bias):
        # dx reads W and dW reads x: each is saved only when the other's gradient is needed
        self.save_for_backward(x if self.needs_grad[1] else None, weight if self.needs_grad[0] else None)
        self.bias_shape = None if bias is None else bias.shape
        return self.kernels.linear_forward(x, weight, bias)

    def backward(self, grad_y):
        # y = x W^T + b;  x (..., in), W (out, in), dy (..., out):
        # dx = dy @ W ; dW = dy^T @ x (summed over every leading dim) ; db = sum of dy over the
        # dims that b was broadcast along
        x, weight = self.saved
        grad_x = grad_weight = grad_bias = None
        if self.needs_grad[0]:
            grad_x = self.kernels.linear_backward_input(grad_y, weight)
        if self.needs_grad[1]:
            grad_weight = self.kernels.linear_backward_weight(grad_y, x)
        if self.needs_grad[2]:
            grad_bias = sum_to_shape(grad_y, self.bias_shape)
        return grad_x, grad_weight, grad_bias


def linear(input, weight, bias=None):
    """input @ weight.T + bias, with weight (out_features, in_features). Raises ShapeError for
    a weight that is not 2-D or an input whose last dimension is not in_features, TypeError for
    mixed dtypes (as PyTorch's "must have the same dtype")."""
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: weight must be (out_features, in_features) and input (..., "
                         f"in_features), got input {input.shape} and weight {weight.shape}")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and value.dtype != input.dtype:
            raise TypeError(f"linear: {name} dtype {value.dtype} does not match input dtype "
                            f"{input.dtype} (convert the layer with .double() / .float())")
    return Linear.apply(input, weight, bias)
