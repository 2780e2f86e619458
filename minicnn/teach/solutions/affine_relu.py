"""Exercise affine_relu: the fully connected (affine) layer and the ReLU, forward and backward.

As in CS231n's layers: an input of any shape (N, d_1, ..., d_k) is flattened to (N, D),
D = d_1 * ... * d_k, and multiplied by w (D, M). Fill in the four functions, then run
``minicnn check affine_relu.py`` (hints: ``minicnn exercise hint affine_relu``).
"""

import numpy as np

EXERCISE = "affine_relu"


def affine_forward(x, w, b):
    """x (N, d_1, ..., d_k), w (D, M), b (M,) -> out (N, M) = x.reshape(N, D) @ w + b."""
    return x.reshape(x.shape[0], -1) @ w + b


def affine_backward(dout, x, w):
    """dout (N, M), x (N, d_1, ..., d_k), w (D, M) -> (dx (x's shape), dw (D, M), db (M,))
    for out = x.reshape(N, D) @ w + b. Derive them from the matrix product (the shapes say
    which factor is transposed)."""
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """x (any shape) -> out = max(x, 0), elementwise."""
    return np.maximum(x, 0)


def relu_backward(dout, x):
    """dout, x (same shape) -> dx for out = max(x, 0) (the checker keeps x away from 0)."""
    return dout * (x > 0)
