"""What ``minicnn check`` runs for exercise conv_im2col (a convolution layer as im2col and one
matrix product, both ways): the cases, the reference (minicnn's own ops, never the solution) and
the mistakes it recognises. The skeleton is ``minicnn/teach/exercises/conv_im2col.py``, the
solution (source tree only) ``minicnn/teach/solutions/conv_im2col.py``."""

import numpy as np

from minicnn.teach.checker import Exercise, Part, arguments, outputs, same_as
from minicnn.teach.specs._shared import conv_cases
from minicnn.teach.specs.conv_backward import (CONV_GRADIENT, conv_backward_mistakes,
                                               conv_backward_reference)
from minicnn.teach.specs.conv_forward_naive import CONV_FIXED, KERNEL_HINT, conv_forward, flipped


EXERCISE = Exercise("conv_im2col", (
    Part("conv_forward_im2col", lambda v: {"y": conv_forward(v)},
         arguments("x", "w", "b", "stride", "padding"), outputs("y"), (
             same_as("y", "the columns of Y come in (n, r, q) order: reshape Y (F, N*oh*ow) to "
                          "(F, N, oh, ow), then transpose to (N, F, oh, ow)",
                     lambda v: conv_forward(v).transpose(1, 0, 2, 3).reshape(v["dout"].shape)),
             same_as("y", KERNEL_HINT, lambda v: conv_forward(v, w=flipped(v["w"]))),
             same_as("y", "forgot the bias: Y = W @ cols + b[:, None]",
                     lambda v: conv_forward(v, b=np.zeros_like(v["b"]))),
         )),
    Part("conv_backward_im2col", conv_backward_reference,
         arguments("dout", "x", "w", "stride", "padding"), outputs("dx", "dw", "db"),
         conv_backward_mistakes(), CONV_GRADIENT),
), lambda rng: conv_cases(rng, CONV_FIXED), allowed=("minicnn.teach.given",))
