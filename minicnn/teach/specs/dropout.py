"""What ``minicnn check`` runs for exercise dropout (inverted dropout, forward and backward): the
cases, the reference (minicnn's own ops, never the solution) and the mistakes it recognises. The
skeleton is ``minicnn/teach/exercises/dropout.py``, the solution (source tree only)
``minicnn/teach/solutions/dropout.py``."""

import numpy as np

from minicnn.backend import reference
from minicnn.teach.checker import Case, Exercise, Gradient, Mistake, Part, outputs, same_as, scaled


def _dropout_cases(rng):
    cases = []
    for shape, p, training in [((4, 5), 0.5, True), ((2, 3, 4, 4), 0.2, True),
                               ((3, 7), 0.5, False), ((2, 2, 5, 3), 0.7, True)]:
        cases.append(Case(f"x {'x'.join(map(str, shape))}, p {p}, "
                          + ("training" if training else "eval"),
                          {"x": rng.standard_normal(shape), "p": p, "training": training,
                           "seed": int(rng.integers(2 ** 31)), "dout": rng.standard_normal(shape)}))
    return cases


def _dropout_mask(values):
    if not values["training"]:
        return np.ones_like(values["x"])
    return reference.dropout_mask(values["x"].shape, values["p"], values["x"].dtype,
                                  np.random.default_rng(values["seed"]))


def _uniform_draws(values):
    return np.random.default_rng(values["seed"]).random(values["x"].shape)


EXERCISE = Exercise("dropout", (
    Part("dropout_forward",
         lambda v: {"y": reference.dropout_apply(v["x"], _dropout_mask(v)),
                    "mask": _dropout_mask(v)},
         lambda v: {"x": v["x"], "p": v["p"], "training": v["training"],
                    "rng": np.random.default_rng(v["seed"])}, outputs("y", "mask"), (
             scaled("mask", "inverted dropout scales the kept units by 1 / (1 - p), so that "
                            "nothing changes at test time", lambda v: 1 - v["p"]),
             Mistake("mask", "p is the probability to DROP a unit: keep where u < 1 - p",
                     lambda v, e, g: v["training"] and np.array_equal(
                         np.asarray(g["mask"]) != 0, _uniform_draws(v) < v["p"])),
             Mistake("y", "in eval mode dropout is the identity (no mask, no scaling)",
                     lambda v, e, g: not v["training"]),
         )),
    Part("dropout_backward", lambda v: {"dx": v["dout"] * _dropout_mask(v)},
         lambda v: {"dout": v["dout"], "mask": _dropout_mask(v)}, outputs("dx"), (
             same_as("dx", "dropped units pass no gradient: dx = dout * mask",
                     lambda v: v["dout"]),
         ),
         Gradient(("x",), lambda v: v["x"] * _dropout_mask(v),
                  lambda function, v, up: (function(up, _dropout_mask(v)),))),
), _dropout_cases)
