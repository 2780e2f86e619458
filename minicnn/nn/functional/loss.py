"""Losses: softmax cross-entropy (fused, from logits), negative log-likelihood, mean squared error.

Names, arguments and reductions are PyTorch's: ``reduction`` is "mean" (weighted by the class
weights of the targets when ``weight`` is given), "sum" or "none".
"""

import warnings

import numpy as np

from minicnn.autograd import Function, Tensor, raw
from minicnn.backend import get_array_module
from minicnn.backend import validate as check
from minicnn.nn.functional._arguments import check_input
from minicnn.nn.functional.activation import log_softmax

__all__ = ["cross_entropy", "nll_loss", "mse_loss"]


class SoftmaxCrossEntropy(Function):
    def forward(self, logits, target, weight, ignore_index, label_smoothing):
        loss, log_probs = self.kernels.softmax_cross_entropy_forward(
            logits, target, weight, ignore_index, label_smoothing)
        self.save_for_backward(log_probs, target, weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing
        return loss

    def backward(self, grad_loss):
        # dz = dloss * (softmax(z) - one_hot(y)) for eps = 0; see the reference kernel for the
        # label-smoothed and class-weighted form.  shapes: dloss (M,) -> dz (M, C)
        log_probs, target, weight = self.saved
        grad_logits = self.kernels.softmax_cross_entropy_backward(
            grad_loss, log_probs, target, weight, self.ignore_index, self.label_smoothing)
        return grad_logits, None, None, None, None


def _class_last(input):
    """(N, C, d1, ..., dk) -> (N * d1 * ... * dk, C): rows of class scores, as the kernels want."""
    if input.ndim <= 2:
        return input.reshape(-1, input.shape[-1])
    order = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(order).reshape(-1, input.shape[1])


def _sample_shape(input):
    """The shape of the targets (and of the unreduced loss) for input (N, C, ...) or (C,)."""
    return input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()


def _integer_target(target, input, ignore_index, name):
    """Validate class-index targets against input (N, C, ...) or (C,): integers of the sample
    shape, each a class or ignore_index. Returns them as a flat int64 array."""
    # checked where the targets are: host labels (a loader's) cost the GPU no synchronisation
    target = get_array_module(raw(target)).asarray(raw(target))
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != _sample_shape(input):
        raise ValueError(f"{name}: target must have shape {_sample_shape(input)} for input of "
                         f"shape {input.shape}, got {target.shape}")
    target = target.reshape(-1).astype(np.int64, copy=False)
    num_classes = input.shape[min(1, input.ndim - 1)]
    outside = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bool(outside.any()):
        bad = int(target[outside][0])
        raise IndexError(f"{name}: target {bad} is out of bounds for {num_classes} classes")
    return get_array_module(input.array).asarray(target)


def _class_weight(weight, input, name):
    if weight is None:
        return None
    weight = raw(weight)
    num_classes = input.shape[min(1, input.ndim - 1)]
    if weight.shape != (num_classes,):
        raise RuntimeError(f"{name}: weight must have shape ({num_classes},), one entry per class, "
                           f"got {weight.shape}")
    return weight.astype(input.dtype, copy=False)


def _reduce(loss, reduction, total_weight, shape):
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / total_weight
    return loss.reshape(shape)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy from logits ``input`` (N, C) or (N, C, d1, ...) or (C,), with
    ``target`` integer class indices (N,) / (N, d1, ...) / (), or class probabilities shaped
    like the input. Fused and stable: logits of 1e4 give a finite loss and gradient."""
    ignore_index = check.loss_arguments("cross_entropy", reduction, ignore_index)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    check_input("cross_entropy", input)
    if input.ndim == 0 or input.shape[min(1, input.ndim - 1)] == 0:
        raise ValueError(f"cross_entropy: input must have a class dimension of at least one "
                         f"class, got input of shape {input.shape}")
    if getattr(raw(target), "dtype", np.dtype(int)).kind == "f":
        if ignore_index >= 0:
            raise RuntimeError("cross_entropy: ignore_index is not supported for probability "
                               "targets")
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    labels = _integer_target(target, input, ignore_index, "cross_entropy")
    class_weight = _class_weight(weight, input, "cross_entropy")
    loss = SoftmaxCrossEntropy.apply(_class_last(input), labels, class_weight, ignore_index,
                                     float(label_smoothing))
    valid = labels != ignore_index
    xp = get_array_module(labels)
    total = valid.sum() if class_weight is None else class_weight[xp.where(valid, labels, 0)][valid].sum()
    return _reduce(loss, reduction, Tensor(xp.asarray(total, dtype=input.dtype)),
                   _sample_shape(input))


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):
    """Cross-entropy against class probabilities: loss = -sum_c w_c q_c log p_c, with
    q smoothed to (1 - eps) q + eps / C; the mean divides by the number of samples."""
    target = target if isinstance(target, Tensor) else Tensor(target)
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                         f"{input.shape}, got {target.shape}")
    class_dim = 1 if input.ndim >= 2 else 0
    num_classes = input.shape[class_dim]
    q = target.detach() * (1 - label_smoothing) + label_smoothing / num_classes
    weighted = log_softmax(input, class_dim) * q
    class_weight = _class_weight(weight, input, "cross_entropy")
    if class_weight is not None:
        shape = (-1,) + (1,) * (input.ndim - 2) if input.ndim >= 2 else (-1,)
        weighted = weighted * Tensor(class_weight.reshape(shape))
    loss = -weighted.sum(class_dim)
    return _reduce(loss, reduction, loss.numel(), loss.shape)


class NLLLoss(Function):
    def forward(self, log_probs, target, sample_weight):
        # loss_i = -w_i * log_probs[i, y_i]; ignored rows have w_i = 0 and a loss of exactly 0
        xp = get_array_module(log_probs)
        self.rows = xp.flatnonzero(sample_weight)
        self.save_for_backward(target, sample_weight)
        self.shape = log_probs.shape
        loss = xp.zeros(target.shape, dtype=log_probs.dtype)
        loss[self.rows] = -sample_weight[self.rows] * log_probs[self.rows, target[self.rows]]
        return loss

    def backward(self, grad_loss):
        # dlog_probs[i, y_i] = -w_i * dloss_i, zero elsewhere and on ignored rows (w_i = 0), so an
        # infinite upstream gradient (a mean over no target) leaves them 0.  (M,) -> (M, C)
        target, sample_weight = self.saved
        rows = self.rows
        grad = get_array_module(grad_loss).zeros(self.shape, dtype=grad_loss.dtype)
        grad[rows, target[rows]] = -sample_weight[rows] * grad_loss[rows]
        return grad, None, None


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at the target classes."""
    ignore_index = check.loss_arguments("nll_loss", reduction, ignore_index)
    check_input("nll_loss", input)
    if input.ndim == 0:
        raise ValueError("nll_loss: input must have a class dimension, got a 0-d tensor")
    labels = _integer_target(target, input, ignore_index, "nll_loss")
    num_classes = input.shape[min(1, input.ndim - 1)]
    class_weight = _class_weight(weight, input, "nll_loss")
    xp = get_array_module(labels)
    valid = labels != ignore_index
    safe = xp.where(valid, labels, 0)
    w = xp.ones(num_classes, dtype=input.dtype) if class_weight is None else class_weight
    sample_weight = (w[safe] * valid).astype(input.dtype)
    loss = NLLLoss.apply(_class_last(input), safe, sample_weight)
    return _reduce(loss, reduction, Tensor(sample_weight.sum()), _sample_shape(input))


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: (input - target)^2, reduced."""
    check.loss_arguments("mse_loss", reduction)
    target = target if isinstance(target, Tensor) else Tensor(target)
    if target.shape != input.shape:
        warnings.warn(f"mse_loss: target size {target.shape} differs from input size "
                      f"{input.shape}; they are broadcast, which is likely a mistake", UserWarning,
                      stacklevel=2)
    squared = (input - target) ** 2
    if reduction == "mean":
        return squared.mean()
    return squared.sum() if reduction == "sum" else squared
