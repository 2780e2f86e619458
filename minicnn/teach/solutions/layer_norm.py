"""Exercise layer_norm: layer normalisation, forward and backward (Ba et al. 2016).

Each SAMPLE is normalised over its D features, the same in training and at test time (no
running statistics); gamma and beta are per feature. Fill in both functions, then run
``minicnn check layer_norm.py``.
"""

import numpy as np

EXERCISE = "layer_norm"


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """x (N, D), gamma, beta (D,) -> out (N, D):

        mean, var = the mean and (biased) variance of each row of x (over its D features)
        out = gamma * (x - mean) / sqrt(var + eps) + beta
    """
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def layernorm_backward(dout, x, gamma, eps=1e-5):
    """dout, x (N, D), gamma (D,) -> (dx (N, D), dgamma (D,), dbeta (D,)). Derive them: the
    statistics are per row, gamma and beta per column."""
    mean = x.mean(axis=1, keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mean) * invstd
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = invstd * (dxhat - dxhat.mean(axis=1, keepdims=True)
                   - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
    return dx, dgamma, dbeta
