"""Differentiable operations on tensors, one file per family (``import minicnn.nn.functional as F``)."""

from minicnn.nn.functional.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from minicnn.nn.functional.conv import conv2d, conv_transpose2d
from minicnn.nn.functional.linear import flatten, linear
from minicnn.nn.functional.loss import cross_entropy, mse_loss, nll_loss
