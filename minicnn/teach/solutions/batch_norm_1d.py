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
    if not training:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        return out, running_mean.copy(), running_var.copy()
    N = x.shape[0]
    mean, var = x.mean(axis=0), x.var(axis=0)
    out = gamma * (x - mean) / np.sqrt(var + eps) + beta
    new_running_mean = (1 - momentum) * running_mean + momentum * mean
    new_running_var = (1 - momentum) * running_var + momentum * var * N / (N - 1)
    return out, new_running_mean, new_running_var


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    """dout, x (N, D), gamma (D,) -> (dx (N, D), dgamma (D,), dbeta (D,)) for the
    training-mode forward, going backward through its graph one node at a time:

        mu = mean(x) ; xc = x - mu ; var = mean(xc^2) ; std = sqrt(var + eps)
        xhat = xc / std ; out = gamma * xhat + beta             (means over axis 0)
    """
    N = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dxc = dxhat / std                                   # through xhat = xc / std, xc direct
    dstd = -(dxhat * xc).sum(axis=0) / std ** 2         # through 1 / std
    dvar = dstd / (2 * std)
    dxc += 2 * xc * dvar / N                            # through var = mean(xc^2)
    dmu = -dxc.sum(axis=0)                              # through xc = x - mu
    dx = dxc + dmu / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, x, gamma, eps=1e-5):
    """The same gradients as batchnorm_backward, (dx, dgamma, dbeta), with dx simplified on
    paper to a single expression in dout, xhat and gamma / std (no graph nodes)."""
    mean, var = x.mean(axis=0), x.var(axis=0)
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = gamma * invstd * (dout - dout.mean(axis=0) - xhat * (dout * xhat).mean(axis=0))
    return dx, dgamma, dbeta
