"""Differentiable operations on tensors, one file per family (``import minicnn.nn.functional as F``)."""

from minicnn.nn.functional.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from minicnn.nn.functional.conv import conv2d, conv_transpose2d
from minicnn.nn.functional.linear import flatten, linear
from minicnn.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from minicnn.nn.functional.dropout import dropout, dropout2d
from minicnn.nn.functional.norm import batch_norm, local_response_norm
from minicnn.nn.functional.pooling import *  # noqa: F401,F403
from minicnn.nn.functional_extra import *  # noqa: F401,F403  (more of torch.nn.functional)
