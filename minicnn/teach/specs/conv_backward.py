"""What ``minicnn check`` runs for exercise conv_backward (the gradients of a convolution layer,
with plain loops): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/conv_backward.py``, the
solution (source tree only) ``minicnn/teach/solutions/conv_backward.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import (Exercise, Gradient, Mistake, Part, arguments, outputs, same_as,
                                   scaled)
from minicnn.teach.specs._shared import conv_cases, with_grads
from minicnn.teach.specs.conv_forward_naive import (CONV_FIXED, KERNEL_HINT, conv_forward,
                                                    flipped, transposed)


def conv_grads(values, x=None, w=None):
    """(dx, dw, db) of the reference convolution for dout."""
    x = values["x"] if x is None else x
    w = values["w"] if w is None else w
    dout = values["dout"][:len(x)]
    _, grads = with_grads(lambda x, w, b: F.conv2d(x, w, b, stride=values["stride"],
                                                    padding=values["padding"]),
                           [x, w, values["b"]], dout)
    return grads


BATCH_HINT = ("forgot to sum over the batch: every image n contributes to dw and db, so sum over "
              "n as well as over the output positions r, q")


BATCH_MEAN_HINT = ("divided by the batch size: the loss's 1/N is already inside dout, so dw and "
                   "db are plain sums")


def conv_backward_mistakes():
    return (
        same_as("dx", KERNEL_HINT, lambda v: conv_grads(v, w=flipped(v["w"]))[0]),
        same_as("dx", KERNEL_HINT, lambda v: conv_grads(v, w=transposed(v["w"]))[0]),
        Mistake("db", BATCH_HINT, lambda v, e, g: np.shape(g["db"]) == v["dout"].shape[:2]
                or any(np.allclose(g["db"], v["dout"][n].sum(axis=(1, 2)))
                       for n in (0, -1))),
        same_as("dw", BATCH_HINT, lambda v: conv_grads(
            dict(v, dout=v["dout"][-1:]), x=v["x"][-1:])[1]),
        same_as("dw", BATCH_HINT, lambda v: conv_grads(v, x=v["x"][:1])[1]),
        scaled("dw", BATCH_MEAN_HINT, lambda v: 1 / len(v["x"])),
        scaled("db", BATCH_MEAN_HINT, lambda v: 1 / len(v["x"])),
    )


def _conv_backward_student(function, values, upstream):
    return function(upstream, values["x"], values["w"], values["stride"], values["padding"])


CONV_GRADIENT = Gradient(("x", "w", "b"), conv_forward, _conv_backward_student)


def conv_backward_reference(values):
    dx, dw, db = conv_grads(values)
    return {"dx": dx, "dw": dw, "db": db}


EXERCISE = Exercise("conv_backward", (
    Part("conv_backward", conv_backward_reference,
         arguments("dout", "x", "w", "stride", "padding"), outputs("dx", "dw", "db"),
         conv_backward_mistakes(), CONV_GRADIENT),
), lambda rng: conv_cases(rng, CONV_FIXED))
