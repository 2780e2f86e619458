"""Exercise dropout: inverted dropout, forward and backward.

In training each unit is kept with probability 1 - p and scaled by 1 / (1 - p), so the expected
output equals the input and evaluation needs no change (Srivastava et al. 2014; "inverted"
dropout as in PyTorch). Fill in both functions, then run ``minicnn check dropout.py``.
"""

import numpy as np

EXERCISE = "dropout"


def dropout_forward(x, p, training, rng):
    """x (any shape), p the probability to DROP a unit, rng a numpy.random.Generator ->
    (y, mask) of x's shape.

    training: draw u = rng.random(x.shape) (exactly one call, so the checker sees your draws),
              keep where u < 1 - p: mask = keep / (1 - p) ; y = x * mask
    eval:     mask = ones ; y = x (no randomness)
    """
    raise NotImplementedError("dropout_forward: your code here")


def dropout_backward(dout, mask):
    """dout, mask (same shape) -> dx (same shape) for y = x * mask (the mask is fixed: derive
    dL/dx)."""
    raise NotImplementedError("dropout_backward: your code here")


# In a Jupyter notebook: run this file in a cell (%run dropout.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("dropout", globals()))
