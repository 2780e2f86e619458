"""What ``minicnn check`` runs for exercise layer_norm (layer normalisation, forward and backward
(Ba et al. 2016)): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/layer_norm.py``, the solution
(source tree only) ``minicnn/teach/solutions/layer_norm.py``."""

import numpy as np

from minicnn.teach.checker import Case, Exercise, Gradient, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import bn1d_op, forward, ln_op, with_grads


def _ln_cases(rng):
    cases = []
    # D >= 3: with 2 features xhat is +-1 whatever x is, and dx is 0 up to rounding
    for N, D in [(3, 4), (5, 3), (int(rng.integers(2, 6)), int(rng.integers(3, 7)))]:
        cases.append(Case(f"x {N}x{D}", {
            "x": rng.standard_normal((N, D)) * rng.uniform(0.5, 3, (N, 1))
            + rng.standard_normal((N, 1)), "gamma": rng.uniform(0.5, 1.5, D),
            "beta": rng.standard_normal(D), "eps": 1e-5, "dout": rng.standard_normal((N, D))}))
    return cases


def _ln_grads(values):
    _, grads = with_grads(lambda x, g, b: ln_op(x, g, b, values["eps"]),
                           [values["x"], values["gamma"], values["beta"]], values["dout"])
    return dict(zip(("dx", "dgamma", "dbeta"), grads))


EXERCISE = Exercise("layer_norm", (
    Part("layernorm_forward", lambda v: {"out": forward(
        lambda x, g, b: ln_op(x, g, b, v["eps"]), v["x"], v["gamma"], v["beta"])},
         arguments("x", "gamma", "beta", "eps"), outputs("out"), (
             same_as("out", "statistics over axis 0 (the batch): layer norm normalises each "
                            "SAMPLE over its D features (axis=1, keepdims=True); over the "
                            "batch is batch norm",
                     lambda v: forward(bn1d_op(v), v["x"], v["gamma"], v["beta"])),
         )),
    Part("layernorm_backward", _ln_grads, arguments("dout", "x", "gamma", "eps"),
         outputs("dx", "dgamma", "dbeta"), (
             same_as("dgamma", "gamma is per feature, so dgamma sums over the batch (axis 0), "
                               "while the statistics are per sample (axis 1)",
                     lambda v: (v["dout"] * _ln_xhat(v)).sum(axis=1)),
             same_as("dx", "the mean and variance are per sample: in dx take the means of "
                           "dxhat and dxhat * xhat over axis 1 (each row), not axis 0",
                     lambda v: _ln_dx_over_batch(v)),
         ),
         Gradient(("x", "gamma", "beta"),
                  lambda v: forward(lambda x, g, b: ln_op(x, g, b, v["eps"]), v["x"],
                                     v["gamma"], v["beta"]),
                  lambda function, v, up: function(up, v["x"], v["gamma"], v["eps"]))),
), _ln_cases)


def _ln_xhat(values):
    x = values["x"]
    return (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True)
                                                         + values["eps"])


def _ln_dx_over_batch(values):
    xhat = _ln_xhat(values)
    invstd = 1 / np.sqrt(values["x"].var(axis=1, keepdims=True) + values["eps"])
    dxhat = values["dout"] * values["gamma"]
    return invstd * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
