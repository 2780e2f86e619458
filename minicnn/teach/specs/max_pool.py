"""What ``minicnn check`` runs for exercise max_pool (max pooling, forward and backward): the
cases, the reference (minicnn's own ops, never the solution) and the mistakes it recognises. The
skeleton is ``minicnn/teach/exercises/max_pool.py``, the solution (source tree only)
``minicnn/teach/solutions/max_pool.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import (Case, Exercise, Gradient, Part, arguments, outputs, same_as,
                                   wrong_only_where)
from minicnn.teach.specs._shared import fits, forward, with_grads, without_stride
from minicnn.utils.conv_arithmetic import conv_output_size


def pool_cases(rng, fixed, padding=False):
    geometries = list(fixed)
    while len(geometries) < len(fixed) + 2:
        N, C = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        H, W = int(rng.choice([5, 7, 9])), int(rng.choice([4, 6, 7, 9]))
        kh, kw, s = int(rng.integers(2, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        p = int(rng.integers(0, min(kh, kw) // 2 + 1)) if padding else 0
        if fits(H, kh, p) and fits(W, kw, p):
            geometries.append((N, C, H, W, kh, kw, s, p))
    cases = []
    for N, C, H, W, kh, kw, s, p in geometries:
        # a permutation of spaced values: no ties, so every window has one clear maximum and
        # the gradient check never moves across a switch of the maximum
        x = (rng.permutation(N * C * H * W).reshape(N, C, H, W) - N * C * H * W / 2) / 8
        oh, ow = conv_output_size(H, kh, s, p), conv_output_size(W, kw, s, p)
        cases.append(Case(f"x {N}x{C}x{H}x{W}, window {kh}x{kw}, stride {s}"
                          + (f", padding {p}" if padding else ""),
                          {"x": x, "x_shape": x.shape, "pool_height": kh, "pool_width": kw,
                           "stride": s, "padding": p,
                           "dout": rng.standard_normal((N, C, oh, ow))}))
    return cases


def pool_window(values):
    return (values["pool_height"], values["pool_width"])


def _max_pool(values, stride=None):
    stride = values["stride"] if stride is None else stride
    return forward(lambda x: F.max_pool2d(x, pool_window(values), stride), values["x"])


def _max_pool_dx(values, dout=None):
    dout = values["dout"] if dout is None else dout
    return with_grads(lambda x: F.max_pool2d(x, pool_window(values), values["stride"]),
                       [values["x"]], dout)[1][0]


def _max_pool_all_window(values, scale=1.0):
    """What routing each window's gradient to ALL its elements gives (times ``scale``)."""
    kh, kw = pool_window(values)
    return with_grads(lambda x: F.avg_pool2d(x, (kh, kw), values["stride"]), [values["x"]],
                       values["dout"])[1][0] * kh * kw * scale


OVERWRITE_HINT = ("overwrote instead of accumulated: an element that is the max of several "
                  "overlapping windows gets the SUM of their gradients (dx[...] += ..., not "
                  "dx[window] = mask * dout, which erases what an earlier window put there)")


EXERCISE = Exercise("max_pool", (
    Part("max_pool_forward", lambda v: {"y": _max_pool(v)},
         arguments("x", "pool_height", "pool_width", "stride"), outputs("y"), (
             without_stride("y", lambda v: _max_pool(v)),
         )),
    Part("max_pool_backward", lambda v: {"dx": _max_pool_dx(v)},
         arguments("dout", "x", "pool_height", "pool_width", "stride"), outputs("dx"), (
             wrong_only_where("dx", OVERWRITE_HINT,
                              lambda v: _max_pool_all_window(dict(
                                  v, dout=np.ones_like(v["dout"]))) > 1),
             same_as("dx", "the gradient of a max goes only to the element that won the "
                           "window, not to every element of it", _max_pool_all_window),
             same_as("dx", "this is average pooling's backward (dout / (kh*kw) to every "
                           "element): the gradient of a max goes, whole, only to the element "
                           "that won the window",
                     lambda v: _max_pool_all_window(v, 1 / (v["pool_height"] * v["pool_width"]))),
         ),
         Gradient(("x",), _max_pool, lambda function, v, up: (
             function(up, v["x"], v["pool_height"], v["pool_width"], v["stride"]),))),
), lambda rng: pool_cases(rng, [(1, 1, 4, 4, 2, 2, 2, 0), (2, 3, 9, 9, 3, 3, 2, 0),
                                 (1, 2, 7, 5, 3, 3, 1, 0), (2, 2, 6, 9, 2, 3, 2, 0)]))
