"""What ``minicnn check`` runs for exercise conv_forward_naive (a convolution layer's forward pass,
with plain loops): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/conv_forward_naive.py``, the
solution (source tree only) ``minicnn/teach/solutions/conv_forward_naive.py``."""

import numpy as np

import minicnn.nn.functional as F
from minicnn.teach.checker import Exercise, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import conv_cases, forward, without_stride


def conv_forward(values, w=None, b=None):
    w = values["w"] if w is None else w
    b = values["b"] if b is None else b
    return forward(lambda x, w, b: F.conv2d(x, w, b, stride=values["stride"],
                                             padding=values["padding"]), values["x"], w, b)


def flipped(w):
    return w[:, :, ::-1, ::-1]


def transposed(w):
    return w.transpose(0, 1, 3, 2)


KERNEL_HINT = ("transposed or flipped kernel: in the layer w[f, c, i, j] meets xp[n, c, r*stride "
               "+ i, q*stride + j] (a cross-correlation, no flip); in dx the same pairs meet again "
               "(written as a convolution of dout, the kernel is rotated by 180 degrees exactly "
               "once)")


# a square kernel, a batch with overlapping windows, a 3x5 kernel on a rectangular input
CONV_FIXED = [(1, 1, 4, 4, 1, 3, 3, 1, 0, 1), (2, 3, 5, 5, 4, 3, 3, 2, 1, 1),
              (3, 2, 6, 9, 3, 3, 5, 1, 1, 1), (1, 2, 7, 6, 3, 2, 2, 3, 2, 1)]


EXERCISE = Exercise("conv_forward_naive", (
    Part("conv_forward_naive", lambda v: {"y": conv_forward(v)},
         arguments("x", "w", "b", "stride", "padding"), outputs("y"), (
             same_as("y", KERNEL_HINT, lambda v: conv_forward(v, w=flipped(v["w"]))),
             same_as("y", KERNEL_HINT, lambda v: conv_forward(v, w=transposed(v["w"]))),
             same_as("y", "forgot the bias: y[n, f] = b[f] + ...",
                     lambda v: conv_forward(v, b=np.zeros_like(v["b"]))),
             without_stride("y", conv_forward),
         )),
), lambda rng: conv_cases(rng, CONV_FIXED))
