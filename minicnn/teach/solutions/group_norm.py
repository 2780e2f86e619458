"""Exercise group_norm: spatial group normalisation, forward and backward (Wu and He 2018).

The C channels are split into G groups of C // G consecutive channels; each sample's group is
normalised over its (C // G) * H * W values. gamma and beta are per channel. Fill in both
functions, then run ``minicnn check group_norm.py``.
"""

import numpy as np

EXERCISE = "group_norm"


def spatial_groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    """x (N, C, H, W), gamma, beta (C,), G dividing C -> out (N, C, H, W):

        group g of sample n: channels g*C/G .. (g + 1)*C/G - 1, all H*W pixels
        mean, var = that group's mean and (biased) variance
        out[n, c] = gamma[c] * (x[n, c] - mean) / sqrt(var + eps) + beta[c]
    """
    N, C, H, W = x.shape
    groups = x.reshape(N, G, -1)
    xhat = (groups - groups.mean(axis=2, keepdims=True)) \
        / np.sqrt(groups.var(axis=2, keepdims=True) + eps)
    return gamma[:, None, None] * xhat.reshape(x.shape) + beta[:, None, None]


def spatial_groupnorm_backward(dout, x, gamma, G, eps=1e-5):
    """dout, x (N, C, H, W), gamma (C,) -> (dx (N, C, H, W), dgamma (C,), dbeta (C,)). Derive
    them: the statistics are per (sample, group), gamma and beta per channel."""
    N, C, H, W = x.shape
    groups = x.reshape(N, G, -1)
    invstd = 1 / np.sqrt(groups.var(axis=2, keepdims=True) + eps)
    xhat = (groups - groups.mean(axis=2, keepdims=True)) * invstd
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat.reshape(x.shape)).sum(axis=(0, 2, 3))
    dxhat = (dout * gamma[:, None, None]).reshape(N, G, -1)
    dx = invstd * (dxhat - dxhat.mean(axis=2, keepdims=True)
                   - xhat * (dxhat * xhat).mean(axis=2, keepdims=True))
    return dx.reshape(x.shape), dgamma, dbeta
