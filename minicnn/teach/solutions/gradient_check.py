"""Exercise gradient_check: the numerical gradient check itself.

A gradient you derived is only as trustworthy as its check: central differences
(f(x + h) - f(x - h)) / 2h, element by element, whose error is O(h^2) (a one-sided difference
is O(h)). Fill in both functions, then run ``minicnn check gradient_check.py``.
"""

import numpy as np

EXERCISE = "gradient_check"


def eval_numerical_gradient(f, x, h=1e-5):
    """f a function of an array returning a float, x (any shape, float64) -> grad (x's shape):
    grad[i] = (f(x + h e_i) - f(x - h e_i)) / 2h for every element i (e_i: the unit array at
    i). x must be the same after the call as before it (change one element at a time, then
    put it back)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        minus = f(x)
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """f a function of an array returning an array, x (any shape), df (f(x)'s shape), the
    upstream gradient -> grad (x's shape), the central-difference gradient of sum(f(x) * df)
    with respect to x (x unchanged after the call)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        plus = np.array(f(x), dtype=np.float64)
        x[index] = old - h
        minus = np.array(f(x), dtype=np.float64)
        x[index] = old
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad
