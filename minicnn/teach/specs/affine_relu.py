"""What ``minicnn check`` runs for exercise affine_relu (the fully connected (affine) layer and the
ReLU, forward and backward): the cases, the reference (minicnn's own ops, never the solution)
and the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/affine_relu.py``, the
solution (source tree only) ``minicnn/teach/solutions/affine_relu.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import (Case, Exercise, Gradient, Mistake, Part, arguments, outputs,
                                   same_as, scaled)
from minicnn.teach.specs._shared import forward, with_grads


def _away_from_zero(rng, shape, low=0.1):
    """Values with |v| >= low: no ReLU kink within a gradient check's reach."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, 2.0, shape)


def _affine_cases(rng):
    cases = []
    for shape, M in [((2, 3), 4), ((3, 2, 4), 5), ((4, 2, 2, 3), 3),
                     ((int(rng.integers(1, 5)), int(rng.integers(2, 6))), int(rng.integers(1, 6)))]:
        D = int(np.prod(shape[1:]))
        cases.append(Case(f"x {'x'.join(map(str, shape))}, w {D}x{M}", {
            "x": rng.standard_normal(shape), "w": rng.standard_normal((D, M)),
            "b": rng.standard_normal(M), "dout": rng.standard_normal((shape[0], M)),
            "xr": _away_from_zero(rng, shape), "dr": rng.standard_normal(shape)}))
    return cases


def _affine_op(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def _affine_grads(values):
    _, grads = with_grads(_affine_op, [values["x"], values["w"], values["b"]], values["dout"])
    return dict(zip(("dx", "dw", "db"), grads))


EXERCISE = Exercise("affine_relu", (
    Part("affine_forward",
         lambda v: {"out": forward(_affine_op, v["x"], v["w"], v["b"])},
         arguments("x", "w", "b"), outputs("out"), (
             same_as("out", "forgot the bias: out = x @ w + b",
                     lambda v: forward(_affine_op, v["x"], v["w"], 0 * v["b"])),
         )),
    Part("affine_backward", _affine_grads, arguments("dout", "x", "w"),
         outputs("dx", "dw", "db"), (
             Mistake("dx", "dx must have x's shape (N, d_1, ..., d_k): reshape dout @ w.T back "
                           "to x.shape", lambda v, e, g: np.shape(g["dx"]) == (
                               v["x"].shape[0], int(np.prod(v["x"].shape[1:])))
                     and v["x"].ndim > 2),
             scaled("db", "db sums dout over the batch; it is not a mean (the loss's 1/N is "
                          "already in dout)", lambda v: 1 / len(v["x"])),
             scaled("dw", "dw sums over the batch; it is not a mean (the loss's 1/N is already "
                          "in dout)", lambda v: 1 / len(v["x"])),
         ),
         Gradient(("x", "w", "b"), lambda v: forward(_affine_op, v["x"], v["w"], v["b"]),
                  lambda function, v, up: function(up, v["x"], v["w"]))),
    Part("relu_forward", lambda v: {"out": np.maximum(v["xr"], 0)},
         lambda v: {"x": v["xr"]}, outputs("out")),
    Part("relu_backward",
         lambda v: {"dx": with_grads(F.relu, [v["xr"]], v["dr"])[1][0]},
         lambda v: {"dout": v["dr"], "x": v["xr"]}, outputs("dx"), (
             same_as("dx", "the ReLU's mask comes from its INPUT x (dx = dout where x > 0), not "
                           "from dout", lambda v: v["dr"] * (v["dr"] > 0)),
             same_as("dx", "multiply the mask by dout: dx = dout * (x > 0)",
                     lambda v: (v["xr"] > 0).astype(float)),
         ),
         Gradient(("xr",), lambda v: np.maximum(v["xr"], 0),
                  lambda function, v, up: (function(up, v["xr"]),))),
), _affine_cases)
