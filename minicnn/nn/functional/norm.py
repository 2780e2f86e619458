"""Normalisation: batch normalisation and local response normalisation (across channels)."""

from minicnn.autograd import Function, Tensor, raw
from minicnn.backend import validate as check
from minicnn.backend.validate import check_int
from minicnn.nn.functional._arguments import check_input

__all__ = ["batch_norm", "local_response_norm"]


def _as_planes(x):
    """(N, C, *) -> (N, C, L, 1) with L the product of the trailing sizes (1 for (N, C)):
    the (N, C, H, W) layout the kernels take, with the same per-channel statistics."""
    return x.reshape(x.shape[0], x.shape[1], -1, 1)


class BatchNorm(Function):
    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        planes, self.training = _as_planes(x), training
        if training:
            y, mean, var, invstd = self.kernels.batch_norm_forward(planes, weight, bias, eps)
            if running_mean is not None:
                M = planes.size // planes.shape[1]
                unbiased_var = var * (M / (M - 1))
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean
                running_var[...] = (1 - momentum) * running_var + momentum * unbiased_var
        else:
            y, invstd = self.kernels.batch_norm_inference_forward(planes, running_mean,
                                                                  running_var, weight, bias, eps)
            mean = running_mean.copy()   # training may update the buffer before this backward
        self.save_for_backward(planes, weight, mean, invstd)
        return y.reshape(x.shape)

    def backward(self, grad_y):
        # xhat = (x - mean) * invstd, sums per channel over the M = N*H*W values, dx (N, C, *):
        # training, batch statistics:  dx = invstd / M * w * (M dy - sum(dy) - xhat sum(dy xhat))
        # eval, running statistics (a fixed affine map per channel):  dx = dy * w * invstd
        # both: dw = sum(dy xhat) (C,) ; db = sum(dy) (C,)
        planes, weight, mean, invstd = self.saved
        if self.training:
            grads = self.kernels.batch_norm_backward(_as_planes(grad_y), planes, weight, mean,
                                                     invstd)
        else:
            grads = self.kernels.batch_norm_inference_backward(_as_planes(grad_y), planes, mean,
                                                               invstd, weight)
        grad_x, grad_weight, grad_bias = grads
        return grad_x.reshape(grad_y.shape), grad_weight, grad_bias


def _check_channel_vector(op, value, name, input):
    """None, or a Tensor of shape (C,) and input's dtype."""
    if value is None:
        return
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(value).__name__}")
    C = input.shape[1]
    if value.shape != (C,):
        raise ValueError(f"{op}: {name} must have shape ({C},) for an input with {C} channels, "
                         f"got {value.shape}")
    if value.dtype != input.dtype:
        raise TypeError(f"{op}: {name} dtype {value.dtype} does not match input dtype "
                        f"{input.dtype} (convert the layer with .double() / .float())")


def check_batch_norm(op, input, running_mean, running_var, weight, bias, training, momentum,
                     eps):
    """The checks of batch_norm's arguments, which sync_batch_norm shares; returns eps as a
    float. Raises TypeError / ValueError naming ``op`` and the argument."""
    check_input(op, input)
    if input.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, *), got shape {input.shape}")
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        _check_channel_vector(op, value, name, input)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    eps, = check.reals(op, eps=eps)
    if not (eps > 0 if training else eps >= 0):     # NaN fails both
        needed = "positive during training" if training else "non-negative"
        raise ValueError(f"{op}: eps must be {needed}, got {eps}")
    check_momentum(momentum)
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var are needed when training=False")
    return eps


def check_momentum(momentum):
    """Raises TypeError unless momentum is a number. nn.BatchNorm runs it when it is built."""
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f"batch_norm: momentum must be a number, got {momentum!r} (nn.BatchNorm "
                        "turns momentum=None into a cumulative average before calling this)")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel of ``input`` (N, C, *) and scale and shift it by weight, bias (C,).

    training: normalise with the batch's statistics over N and the trailing dimensions (biased
    variance), and, when running_mean / running_var are given, update them in place as
    running = (1 - momentum) * running + momentum * batch (unbiased variance for running_var).
    Otherwise normalise with running_mean, running_var."""
    eps = check_batch_norm("batch_norm", input, running_mean, running_var, weight, bias,
                           training, momentum, eps)
    C = input.shape[1]
    if training and input.numel() // max(C, 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {input.shape}")
    return BatchNorm.apply(input, weight, bias, running_mean=raw(running_mean),
                           running_var=raw(running_var), training=bool(training),
                           momentum=check.reals("batch_norm", momentum=momentum)[0], eps=eps)


class LocalResponseNorm(Function):
    def forward(self, x, size, alpha, beta, k):
        self.options = (size, alpha, beta, k)
        planes = _as_planes(x)
        y, scale = self.kernels.lrn_forward(planes, *self.options)
        self.save_for_backward(planes, y, scale)
        return y.reshape(x.shape)

    def backward(self, grad_y):
        # y_c = x_c s_c^-beta, s_c = k + alpha/n sum_{j in window(c)} x_j^2:
        # dx_j = dy_j s_j^-beta - 2 alpha beta / n * x_j * sum_{c: j in window(c)} dy_c y_c / s_c
        # shapes: all (N, C, *)
        planes, y, scale = self.saved
        return self.kernels.lrn_backward(_as_planes(grad_y), planes, y, scale,
                                         *self.options).reshape(grad_y.shape)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """y_c = x_c / (k + alpha / size * sum of x_j^2 over the channels j in
    [c - size//2, c + (size-1)//2]) ^ beta, on input (N, C, *) (PyTorch's and Caffe's LRN)."""
    check_input("local_response_norm", input)
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input "
                         f"(got {input.ndim} dimensions)")
    size = check_int(size, "size", "local_response_norm", 1)
    if input.numel() == 0:
        return input
    alpha, beta, k = check.reals("local_response_norm", alpha=alpha, beta=beta, k=k)
    return LocalResponseNorm.apply(input, size=size, alpha=alpha, beta=beta, k=k)
