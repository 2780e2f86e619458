"""Exercise lrn_forward: local response normalisation across channels (AlexNet, section 3.3).

Each activation is divided by a power of the sum of squares of its neighbours in the channel
dimension. minicnn and PyTorch divide alpha by the window size n (the paper folds that into
alpha). Fill in ``lrn_forward``, then run ``minicnn check lrn_forward.py``.
"""

import numpy as np

EXERCISE = "lrn_forward"


def lrn_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """x (N, C, H, W) -> y (N, C, H, W):

        y[:, c] = x[:, c] / (k + alpha / size * sum over j in window(c) of x[:, j]^2) ^ beta

    window(c) = channels c - size//2 .. c + (size - 1)//2 that exist (0 <= j < C).
    """
    C = x.shape[1]
    squares = x * x
    y = np.empty_like(x)
    for c in range(C):
        low, high = max(c - size // 2, 0), min(c + (size - 1) // 2, C - 1)
        scale = k + alpha / size * squares[:, low:high + 1].sum(axis=1)
        y[:, c] = x[:, c] * scale ** -beta
    return y
