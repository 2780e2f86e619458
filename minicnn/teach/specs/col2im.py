"""What ``minicnn check`` runs for exercise col2im (put columns back onto the image, adding where
windows overlap): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/col2im.py``, the solution
(source tree only) ``minicnn/teach/solutions/col2im.py``."""

import numpy as np

from minicnn.backend import reference
from minicnn.teach.checker import Exercise, Mistake, Part, outputs, wrong_only_where
from minicnn.teach.specs._shared import conv_cases
from minicnn.teach.specs.im2col import IM2COL_FIXED, geometry


def _col2im(values, cols=None):
    N, C, H, W = values["x"].shape
    return reference.col2im(values["cols"] if cols is None else cols, N, C, H, W,
                            *geometry(values))


def _overlap(values):
    """Input pixels that more than one window reads (where col2im must add)."""
    ones = np.ones_like(values["cols"])
    return _col2im(values, ones) > 1


EXERCISE = Exercise("col2im", (
    Part("col2im", lambda v: {"x": _col2im(v)},
         lambda v: {"cols": v["cols"], "x_shape": v["x"].shape, "kh": v["kh"], "kw": v["kw"],
                    "stride": v["stride"], "padding": v["padding"], "dilation": v["dilation"]},
         outputs("x"), (
             wrong_only_where("x", "overwrote instead of accumulated: where windows overlap, a "
                                   "pixel gets the SUM of every column entry read from it (+=, "
                                   "not =)", _overlap),
             Mistake("x", "returned the padded image: drop `padding` rows and columns on each "
                          "side", lambda v, e, g: np.shape(g["x"]) == (
                              *v["x"].shape[:2], v["x"].shape[2] + 2 * v["padding"],
                              v["x"].shape[3] + 2 * v["padding"]) and v["padding"] > 0),
         )),
), lambda rng: conv_cases(rng, IM2COL_FIXED, dilation=True))
