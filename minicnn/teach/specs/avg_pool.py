"""What ``minicnn check`` runs for exercise avg_pool (average pooling, forward and backward): the
cases, the reference (minicnn's own ops, never the solution) and the mistakes it recognises. The
skeleton is ``minicnn/teach/exercises/avg_pool.py``, the solution (source tree only)
``minicnn/teach/solutions/avg_pool.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import (Exercise, Gradient, Part, arguments, outputs, same_as, scaled,
                                   wrong_only_where)
from minicnn.teach.specs._shared import forward, with_grads, without_stride
from minicnn.teach.specs.max_pool import pool_cases, pool_window


def _avg_pool_op(values, stride=None, count_include_pad=True):
    stride = values["stride"] if stride is None else stride
    return lambda x: F.avg_pool2d(x, pool_window(values), stride, values["padding"],
                                  count_include_pad=count_include_pad)


def _avg_pool_dx(values, dout=None):
    dout = values["dout"] if dout is None else dout
    return with_grads(_avg_pool_op(values), [values["x"]], dout)[1][0]


EXERCISE = Exercise("avg_pool", (
    Part("avg_pool_forward", lambda v: {"y": forward(_avg_pool_op(v), v["x"])},
         arguments("x", "pool_height", "pool_width", "stride", "padding"), outputs("y"), (
             same_as("y", "the zeros of the padding count in the mean (count_include_pad): "
                          "divide every window by pool_height * pool_width",
                     lambda v: forward(_avg_pool_op(v, count_include_pad=False), v["x"])),
             without_stride("y", lambda v: forward(_avg_pool_op(v), v["x"])),
         )),
    Part("avg_pool_backward", lambda v: {"dx": _avg_pool_dx(v)},
         arguments("dout", "x_shape", "pool_height", "pool_width", "stride", "padding"),
         outputs("dx"), (
             wrong_only_where("dx", "overwrote instead of accumulated: an element inside several "
                                    "overlapping windows gets the SUM of their shares (+=, not =)",
                              lambda v: _avg_pool_dx(v, np.ones_like(v["dout"]))
                              * v["pool_height"] * v["pool_width"] > 1 + 1e-9),
             scaled("dx", "each element of a window gets dout / (pool_height * pool_width) "
                          "(the mean's 1/(kh*kw)), not all of dout",
                    lambda v: v["pool_height"] * v["pool_width"]),
         ),
         Gradient(("x",), lambda v: forward(_avg_pool_op(v), v["x"]),
                  lambda function, v, up: (function(up, v["x"].shape, v["pool_height"],
                                                    v["pool_width"], v["stride"],
                                                    v["padding"]),))),
), lambda rng: pool_cases(rng, [(1, 1, 4, 4, 2, 2, 2, 0), (2, 3, 9, 9, 3, 3, 2, 1),
                                 (1, 2, 7, 5, 3, 3, 1, 1), (2, 1, 6, 9, 2, 3, 2, 1)],
                           padding=True))
