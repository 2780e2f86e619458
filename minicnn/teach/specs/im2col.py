"""What ``minicnn check`` runs for exercise im2col (lay out every receptive field of an image batch
as one column): the cases, the reference (minicnn's own ops, never the solution) and the
mistakes it recognises. The skeleton is ``minicnn/teach/exercises/im2col.py``, the solution
(source tree only) ``minicnn/teach/solutions/im2col.py``."""

import numpy as np

from minicnn.backend import reference
from minicnn.teach.checker import Exercise, Mistake, Part, arguments, close, outputs, same_as
from minicnn.teach.specs._shared import STRIDE_HINT, conv_cases
from minicnn.utils.conv_arithmetic import conv_output_size


def geometry(values):
    s, p, d = values["stride"], values["padding"], values["dilation"]
    return values["kh"], values["kw"], s, s, p, p, d, d


def _im2col(values):
    return reference.im2col(values["x"], *geometry(values))


def _im2col_permuted(values, rows, columns):
    """The im2col matrix with rows laid out in the axis order ``rows`` of (c, i, j) and columns
    in the order ``columns`` of (n, r, q)."""
    N, C, H, W = values["x"].shape
    kh, kw, sh, sw, ph, pw, dh, dw = geometry(values)
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    cols = _im2col(values).reshape(C, kh, kw, N, oh, ow)
    cols = cols.transpose(*rows, *[3 + axis for axis in columns])
    return cols.reshape(C * kh * kw, N * oh * ow)


def _im2col_cols_off_by_one(values, expected, got):
    N, C, H, W = values["x"].shape
    kh, kw, sh, sw, ph, pw, dh, dw = geometry(values)
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    wrong_sizes = {N * (oh + a) * (ow + b) for a in (-1, 0, 1) for b in (-1, 0, 1)} - {N * oh * ow}
    return np.shape(got["cols"]) in {(C * kh * kw, size) for size in wrong_sizes}


def _im2col_without_stride(values, expected, got):
    """cols whose windows start at r instead of r * stride."""
    if values["stride"] == 1:
        return False
    N, C, H, W = values["x"].shape
    kh, kw, sh, sw, ph, pw, dh, dw = geometry(values)
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    ones = dict(values, stride=1)
    oh1, ow1 = conv_output_size(H, kh, 1, ph, dh), conv_output_size(W, kw, 1, pw, dw)
    cols = _im2col(ones).reshape(C * kh * kw, N, oh1, ow1)[:, :, :oh, :ow]
    return close(got["cols"], cols.reshape(C * kh * kw, N * oh * ow))


IM2COL_TRANSPOSED = ("your cols is the transpose, (N*oh*ow, C*kh*kw): here each COLUMN is one "
                     "window (C*kh*kw rows, N*oh*ow columns), so that the convolution is "
                     "W (F, C*kh*kw) @ cols")


IM2COL_FIXED = [(1, 1, 3, 3, 1, 2, 2, 1, 0, 1), (2, 2, 5, 5, 1, 3, 3, 2, 1, 1),
                (1, 2, 6, 7, 1, 3, 3, 1, 1, 2), (2, 2, 5, 8, 1, 2, 4, 1, 1, 1)]


EXERCISE = Exercise("im2col", (
    Part("im2col", lambda v: {"cols": _im2col(v)},
         arguments("x", "kh", "kw", "stride", "padding", "dilation"), outputs("cols"), (
             same_as("cols", "rows in the wrong order: the row of kernel tap (i, j) of channel c "
                             "is (c*kh + i)*kw + j (the channel varies slowest)",
                     lambda v: _im2col_permuted(v, (1, 2, 0), (0, 1, 2))),
             same_as("cols", "columns in the wrong order: the column of output (r, q) of image n "
                             "is (n*oh + r)*ow + q (the image varies slowest)",
                     lambda v: _im2col_permuted(v, (0, 1, 2), (1, 2, 0))),
             Mistake("cols", "off-by-one output size: oh = (H + 2*padding - dilation*(kh - 1) - 1)"
                             " // stride + 1", _im2col_cols_off_by_one),
             Mistake("cols", IM2COL_TRANSPOSED, lambda v, e, g: close(
                 np.asarray(g["cols"]).T, e["cols"])),
             Mistake("cols", STRIDE_HINT, _im2col_without_stride),
         )),
), lambda rng: conv_cases(rng, IM2COL_FIXED, dilation=True))
