"""Exercise adam_rmsprop: one step of RMSprop and of Adam, as torch.optim.RMSprop and
torch.optim.Adam (Hinton's lecture 6e; Kingma and Ba 2015, algorithm 1).

Both divide each parameter's step by a running root-mean-square of its gradients; Adam also
keeps a running mean of the gradients, and corrects both averages for starting at zero. Fill
in both functions, then run ``minicnn check adam_rmsprop.py``.
"""

import numpy as np

EXERCISE = "adam_rmsprop"


def rmsprop(w, dw, cache, lr=1e-2, decay_rate=0.99, eps=1e-8):
    """w, dw, cache (same shape) -> (new_w, new_cache), new arrays:

        new_cache = decay_rate * cache + (1 - decay_rate) * dw^2
        new_w = w - lr * dw / (sqrt(new_cache) + eps)
    """
    raise NotImplementedError("rmsprop: your code here")


def adam(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """w, dw, m, v (same shape), t the number of this step (1 on the first) ->
    (new_w, new_m, new_v), new arrays:

        new_m = beta1 * m + (1 - beta1) * dw ; new_v = beta2 * v + (1 - beta2) * dw^2
        m_hat = new_m / (1 - beta1^t) ; v_hat = new_v / (1 - beta2^t)
        new_w = w - lr * m_hat / (sqrt(v_hat) + eps)
    """
    raise NotImplementedError("adam: your code here")


# In a Jupyter notebook: run this file in a cell (%run adam_rmsprop.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("adam_rmsprop", globals()))
