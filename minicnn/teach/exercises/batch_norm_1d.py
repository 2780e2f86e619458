"""Exercise batch_norm_1d: batch normalisation of a fully connected layer's (N, D) output,
forward and backward, the backward pass twice: through the computational graph, then
simplified to one expression.

Each of the D features is normalised with the mean and variance of its N values in the batch
(Ioffe and Szegedy 2015, algorithm 1). Running statistics as in PyTorch: momentum is the
weight of the new batch, and the running variance is the unbiased one. Fill in the three
functions, then run ``minicnn check batch_norm_1d.py``.
"""

import numpy as np

EXERCISE = "batch_norm_1d"


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                      eps=1e-5):
    """x (N, D), gamma, beta, running_mean, running_var (D,) ->
    (out (N, D), new_running_mean (D,), new_running_var (D,)).

    training:  mean, var = the batch's mean and (biased) variance over axis 0
               out = gamma * (x - mean) / sqrt(var + eps) + beta
               new_running_mean = (1 - momentum) * running_mean + momentum * mean
               new_running_var  = (1 - momentum) * running_var + momentum * var * N / (N - 1)
    eval:      out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
               (running statistics unchanged)
    """
    raise NotImplementedError("batchnorm_forward: your code here")


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    """dout, x (N, D), gamma (D,) -> (dx (N, D), dgamma (D,), dbeta (D,)) for the
    training-mode forward, going backward through its graph one node at a time:

        mu = mean(x) ; xc = x - mu ; var = mean(xc^2) ; std = sqrt(var + eps)
        xhat = xc / std ; out = gamma * xhat + beta             (means over axis 0)
    """
    raise NotImplementedError("batchnorm_backward: your code here")


def batchnorm_backward_alt(dout, x, gamma, eps=1e-5):
    """The same gradients as batchnorm_backward, (dx, dgamma, dbeta), with dx simplified on
    paper to a single expression in dout, xhat and gamma / std (no graph nodes)."""
    raise NotImplementedError("batchnorm_backward_alt: your code here")


# In a Jupyter notebook: run this file in a cell (%run batch_norm_1d.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("batch_norm_1d", globals()))
