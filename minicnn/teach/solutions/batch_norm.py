"""Exercise batch_norm: spatial batch normalisation, forward (training and eval) and backward.

Each channel is normalised with the mean and variance of its M = N*H*W values in the batch
(Ioffe and Szegedy 2015, section 3). Fill in both functions, then run
``minicnn check batch_norm.py`` (hints up to the derivation: ``minicnn exercise hint
batch_norm --level 3``).
"""

import numpy as np

EXERCISE = "batch_norm"


def batch_norm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                       eps=1e-5):
    """x (N, C, H, W), gamma, beta, running_mean, running_var (C,) ->
    (y (N, C, H, W), new_running_mean (C,), new_running_var (C,)).

    training:  mean = x.mean over (N, H, W) ; var = ((x - mean)^2).mean over (N, H, W)  (biased)
               y = gamma * (x - mean) / sqrt(var + eps) + beta
               new_running_mean = (1 - momentum) * running_mean + momentum * mean
               new_running_var  = (1 - momentum) * running_var + momentum * var * M / (M - 1)
               (the running variance is the unbiased estimate, M = N*H*W)
    eval:      y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
               (running statistics unchanged)
    """
    if not training:
        invstd = 1 / np.sqrt(running_var + eps)
        scale = (gamma * invstd)[:, None, None]
        y = (x - running_mean[:, None, None]) * scale + beta[:, None, None]
        return y, running_mean.copy(), running_var.copy()
    M = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[:, None, None]) ** 2).mean(axis=(0, 2, 3))
    xhat = (x - mean[:, None, None]) / np.sqrt(var + eps)[:, None, None]
    y = gamma[:, None, None] * xhat + beta[:, None, None]
    new_running_mean = (1 - momentum) * running_mean + momentum * mean
    new_running_var = (1 - momentum) * running_var + momentum * var * M / (M - 1)
    return y, new_running_mean, new_running_var


def batch_norm_backward(dout, x, gamma, eps=1e-5):
    """dout, x (N, C, H, W), gamma (C,) -> (dx (N, C, H, W), dgamma (C,), dbeta (C,)) for the
    training-mode forward, per channel over its M = N*H*W values:

        mean = sum(x) / M ; var = sum((x - mean)^2) / M ; xhat = (x - mean) / sqrt(var + eps)
        y = gamma * xhat + beta

    Derive dgamma, dbeta and dx. mean and var depend on every x of the channel, so dx has a
    term through each of them besides the direct one: go through the graph (xhat, var, mean)
    step by step, then simplify to one expression.
    """
    M = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[:, None, None]) ** 2).mean(axis=(0, 2, 3))
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean[:, None, None]) * invstd[:, None, None]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dx = (gamma * invstd / M)[:, None, None] * (M * dout - dbeta[:, None, None]
                                                - xhat * dgamma[:, None, None])
    return dx, dgamma, dbeta
