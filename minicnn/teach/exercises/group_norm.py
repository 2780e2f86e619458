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
    raise NotImplementedError("spatial_groupnorm_forward: your code here")


def spatial_groupnorm_backward(dout, x, gamma, G, eps=1e-5):
    """dout, x (N, C, H, W), gamma (C,) -> (dx (N, C, H, W), dgamma (C,), dbeta (C,)). Derive
    them: the statistics are per (sample, group), gamma and beta per channel."""
    raise NotImplementedError("spatial_groupnorm_backward: your code here")


# In a Jupyter notebook: run this file in a cell (%run group_norm.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("group_norm", globals()))
