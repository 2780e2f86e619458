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
    raise NotImplementedError("layernorm_forward: your code here")


def layernorm_backward(dout, x, gamma, eps=1e-5):
    """dout, x (N, D), gamma (D,) -> (dx (N, D), dgamma (D,), dbeta (D,)). Derive them: the
    statistics are per row, gamma and beta per column."""
    raise NotImplementedError("layernorm_backward: your code here")


# In a Jupyter notebook: run this file in a cell (%run layer_norm.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("layer_norm", globals()))
