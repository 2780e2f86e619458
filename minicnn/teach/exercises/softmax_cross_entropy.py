"""Exercise softmax_cross_entropy: the loss of a classifier and its gradient, fused.

From logits z (N, K) and labels y (N,): p = softmax(z), loss = mean over the batch of
-log p[i, y_i]. Computing log p as z - max(z) - log(sum(exp(z - max(z)))) cannot overflow.
Fill in the function, then run ``minicnn check softmax_cross_entropy.py``.
"""

import numpy as np

EXERCISE = "softmax_cross_entropy"


def softmax_cross_entropy(logits, labels):
    """logits (N, K), labels (N,) integers in [0, K) -> (loss (a float), dlogits (N, K)):

        log_p = z - max(z) - log(sum over k of exp(z - max(z)))     (per row)
        loss = -(1/N) * sum over i of log_p[i, labels[i]]

    Derive dlogits = dloss/dz (it needs no loop).
    """
    raise NotImplementedError("softmax_cross_entropy: your code here")


# In a Jupyter notebook: run this file in a cell (%run softmax_cross_entropy.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("softmax_cross_entropy", globals()))
