"""Exercise sgd_momentum: one step of SGD with momentum and weight decay, as torch.optim.SGD.

The velocity accumulates gradients: v = momentum * v + g, and the step moves against it:
w = w - lr * v (Sutskever et al. 2013, in PyTorch's form, where the learning rate multiplies
the velocity instead of each gradient). Fill in the function, then run
``minicnn check sgd_momentum.py``.
"""

EXERCISE = "sgd_momentum"


def sgd_momentum(w, dw, velocity, lr, momentum=0.9, weight_decay=0.0):
    """w, dw, velocity (same shape) -> (new_w, new_velocity), new arrays:

        g = dw + weight_decay * w
        new_velocity = momentum * velocity + g
        new_w = w - lr * new_velocity
    """
    raise NotImplementedError("sgd_momentum: your code here")


# In a Jupyter notebook: run this file in a cell (%run sgd_momentum.py, or paste it in), fill in the
# functions, then check them there:
#     from minicnn.teach import check
#     print(check("sgd_momentum", globals()))
