"""What the checker runs for each exercise: the cases, the reference (minicnn's own kernels and
functional ops, never the exercise solutions) and the mistakes it can recognise."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.autograd import Tensor
from minicnn.backend import reference
from minicnn.teach.checker import (Case, Exercise, Gradient, Mistake, Part, arguments, close,
                                   outputs, same_as, scaled, wrong_only_where)
from minicnn.utils.conv_arithmetic import conv_output_size


def _with_grads(fn, arrays, upstream):
    """fn(*tensors) through minicnn's autograd: (output array, [gradient of each array]) for
    the upstream gradient ``upstream``."""
    tensors = [mc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    y = fn(*tensors)
    (y * Tensor(np.asarray(upstream, dtype=np.float64))).sum().backward()
    return y.numpy(), [t.grad.numpy() for t in tensors]


def _forward(fn, *arrays):
    return fn(*[mc.tensor(np.asarray(a, dtype=np.float64)) for a in arrays]).numpy()


def _fits(size, kernel, padding, dilation=1):
    """Whether a window fits in the padded input (at least one output)."""
    return size + 2 * padding >= dilation * (kernel - 1) + 1


def _without_stride(output, reference):
    """The mistake of windows that start at r instead of r * stride: the stride-1 output,
    cropped to the right size."""
    def test(values, expected, got):
        if values["stride"] == 1:
            return False
        shape = np.shape(expected[output])
        stride_one = reference(dict(values, stride=1))
        return close(got[output], stride_one[..., :shape[-2], :shape[-1]])
    return Mistake(output, STRIDE_HINT, test)


STRIDE_HINT = ("window r starts at row r * stride (and column q * stride): you moved the "
               "window by one, not by the stride")
# ----- geometry of the convolution and pooling cases ---------------------------------------

def _conv_cases(rng, fixed, draws=2, dilation=False):
    """Cases (x, w, b, dout and the geometry): the fixed ones, then ``draws`` random ones with
    odd and rectangular sizes, non-square kernels, stride up to 3 and padding up to 2."""
    cases = []
    geometries = list(fixed)
    while len(geometries) < len(fixed) + draws:
        N, C, F_ = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        H, W = int(rng.choice([5, 7, 9])), int(rng.choice([4, 6, 7, 9]))
        stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        d = int(rng.integers(1, 3)) if dilation else 1
        if _fits(H, kh, padding, d) and _fits(W, kw, padding, d):
            geometries.append((N, C, H, W, F_, kh, kw, stride, padding, d))
    for N, C, H, W, F_, kh, kw, stride, padding, d in geometries:
        oh = conv_output_size(H, kh, stride, padding, d)
        ow = conv_output_size(W, kw, stride, padding, d)
        values = {"x": rng.standard_normal((N, C, H, W)),
                  "w": rng.standard_normal((F_, C, kh, kw)),
                  "b": rng.standard_normal(F_), "dout": rng.standard_normal((N, F_, oh, ow)),
                  "kh": kh, "kw": kw, "stride": stride, "padding": padding, "dilation": d}
        values["cols"] = rng.standard_normal((C * kh * kw, N * oh * ow))
        label = f"x {N}x{C}x{H}x{W}, {F_} filters {kh}x{kw}, stride {stride}, padding {padding}"
        cases.append(Case(label + (f", dilation {d}" if dilation else ""), values))
    return cases


def _conv(values, w=None, b=None):
    w = values["w"] if w is None else w
    b = values["b"] if b is None else b
    return _forward(lambda x, w, b: F.conv2d(x, w, b, stride=values["stride"],
                                             padding=values["padding"]), values["x"], w, b)


def _conv_grads(values, x=None, w=None):
    """(dx, dw, db) of the reference convolution for dout."""
    x = values["x"] if x is None else x
    w = values["w"] if w is None else w
    dout = values["dout"][:len(x)]
    _, grads = _with_grads(lambda x, w, b: F.conv2d(x, w, b, stride=values["stride"],
                                                    padding=values["padding"]),
                           [x, w, values["b"]], dout)
    return grads


def _flipped(w):
    return w[:, :, ::-1, ::-1]


def _transposed(w):
    return w.transpose(0, 1, 3, 2)


KERNEL_HINT = ("transposed or flipped kernel: in the layer w[f, c, i, j] meets xp[n, c, r*stride "
               "+ i, q*stride + j] (a cross-correlation, no flip); in dx the same pairs meet again "
               "(written as a convolution of dout, the kernel is rotated by 180 degrees exactly "
               "once)")
BATCH_HINT = ("forgot to sum over the batch: every image n contributes to dw and db, so sum over "
              "n as well as over the output positions r, q")
BATCH_MEAN_HINT = ("divided by the batch size: the loss's 1/N is already inside dout, so dw and "
                   "db are plain sums")


def _conv_backward_mistakes():
    return (
        same_as("dx", KERNEL_HINT, lambda v: _conv_grads(v, w=_flipped(v["w"]))[0]),
        same_as("dx", KERNEL_HINT, lambda v: _conv_grads(v, w=_transposed(v["w"]))[0]),
        Mistake("db", BATCH_HINT, lambda v, e, g: np.shape(g["db"]) == v["dout"].shape[:2]
                or any(np.allclose(g["db"], v["dout"][n].sum(axis=(1, 2)))
                       for n in (0, -1))),
        same_as("dw", BATCH_HINT, lambda v: _conv_grads(
            dict(v, dout=v["dout"][-1:]), x=v["x"][-1:])[1]),
        same_as("dw", BATCH_HINT, lambda v: _conv_grads(v, x=v["x"][:1])[1]),
        scaled("dw", BATCH_MEAN_HINT, lambda v: 1 / len(v["x"])),
        scaled("db", BATCH_MEAN_HINT, lambda v: 1 / len(v["x"])),
    )


def _conv_backward_student(function, values, upstream):
    return function(upstream, values["x"], values["w"], values["stride"], values["padding"])


CONV_GRADIENT = Gradient(("x", "w", "b"), _conv, _conv_backward_student)
# a square kernel, a batch with overlapping windows, a 3x5 kernel on a rectangular input
CONV_FIXED = [(1, 1, 4, 4, 1, 3, 3, 1, 0, 1), (2, 3, 5, 5, 4, 3, 3, 2, 1, 1),
              (3, 2, 6, 9, 3, 3, 5, 1, 1, 1), (1, 2, 7, 6, 3, 2, 2, 3, 2, 1)]


def _conv_backward_reference(values):
    dx, dw, db = _conv_grads(values)
    return {"dx": dx, "dw": dw, "db": db}


# ----- im2col / col2im ---------------------------------------------------------------------

def _geometry(values):
    s, p, d = values["stride"], values["padding"], values["dilation"]
    return values["kh"], values["kw"], s, s, p, p, d, d


def _im2col(values):
    return reference.im2col(values["x"], *_geometry(values))


def _col2im(values, cols=None):
    N, C, H, W = values["x"].shape
    return reference.col2im(values["cols"] if cols is None else cols, N, C, H, W,
                            *_geometry(values))


def _im2col_permuted(values, rows, columns):
    """The im2col matrix with rows laid out in the axis order ``rows`` of (c, i, j) and columns
    in the order ``columns`` of (n, r, q)."""
    N, C, H, W = values["x"].shape
    kh, kw, sh, sw, ph, pw, dh, dw = _geometry(values)
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    cols = _im2col(values).reshape(C, kh, kw, N, oh, ow)
    cols = cols.transpose(*rows, *[3 + axis for axis in columns])
    return cols.reshape(C * kh * kw, N * oh * ow)


def _im2col_cols_off_by_one(values, expected, got):
    N, C, H, W = values["x"].shape
    kh, kw, sh, sw, ph, pw, dh, dw = _geometry(values)
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    wrong_sizes = {N * (oh + a) * (ow + b) for a in (-1, 0, 1) for b in (-1, 0, 1)} - {N * oh * ow}
    return np.shape(got["cols"]) in {(C * kh * kw, size) for size in wrong_sizes}


def _im2col_without_stride(values, expected, got):
    """cols whose windows start at r instead of r * stride."""
    if values["stride"] == 1:
        return False
    N, C, H, W = values["x"].shape
    kh, kw, sh, sw, ph, pw, dh, dw = _geometry(values)
    oh, ow = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    ones = dict(values, stride=1)
    oh1, ow1 = conv_output_size(H, kh, 1, ph, dh), conv_output_size(W, kw, 1, pw, dw)
    cols = _im2col(ones).reshape(C * kh * kw, N, oh1, ow1)[:, :, :oh, :ow]
    return close(got["cols"], cols.reshape(C * kh * kw, N * oh * ow))


IM2COL_TRANSPOSED = ("your cols is the transpose, (N*oh*ow, C*kh*kw): here each COLUMN is one "
                     "window (C*kh*kw rows, N*oh*ow columns), so that the convolution is "
                     "W (F, C*kh*kw) @ cols")


def _overlap(values):
    """Input pixels that more than one window reads (where col2im must add)."""
    ones = np.ones_like(values["cols"])
    return _col2im(values, ones) > 1


IM2COL_FIXED = [(1, 1, 3, 3, 1, 2, 2, 1, 0, 1), (2, 2, 5, 5, 1, 3, 3, 2, 1, 1),
                (1, 2, 6, 7, 1, 3, 3, 1, 1, 2), (2, 2, 5, 8, 1, 2, 4, 1, 1, 1)]

IM2COL = Exercise("im2col", (
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
), lambda rng: _conv_cases(rng, IM2COL_FIXED, dilation=True))

COL2IM = Exercise("col2im", (
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
), lambda rng: _conv_cases(rng, IM2COL_FIXED, dilation=True))


# ----- the convolution ---------------------------------------------------------------------

CONV_FORWARD_NAIVE = Exercise("conv_forward_naive", (
    Part("conv_forward_naive", lambda v: {"y": _conv(v)},
         arguments("x", "w", "b", "stride", "padding"), outputs("y"), (
             same_as("y", KERNEL_HINT, lambda v: _conv(v, w=_flipped(v["w"]))),
             same_as("y", KERNEL_HINT, lambda v: _conv(v, w=_transposed(v["w"]))),
             same_as("y", "forgot the bias: y[n, f] = b[f] + ...",
                     lambda v: _conv(v, b=np.zeros_like(v["b"]))),
             _without_stride("y", _conv),
         )),
), lambda rng: _conv_cases(rng, CONV_FIXED))

CONV_BACKWARD = Exercise("conv_backward", (
    Part("conv_backward", _conv_backward_reference,
         arguments("dout", "x", "w", "stride", "padding"), outputs("dx", "dw", "db"),
         _conv_backward_mistakes(), CONV_GRADIENT),
), lambda rng: _conv_cases(rng, CONV_FIXED))

CONV_IM2COL = Exercise("conv_im2col", (
    Part("conv_forward_im2col", lambda v: {"y": _conv(v)},
         arguments("x", "w", "b", "stride", "padding"), outputs("y"), (
             same_as("y", "the columns of Y come in (n, r, q) order: reshape Y (F, N*oh*ow) to "
                          "(F, N, oh, ow), then transpose to (N, F, oh, ow)",
                     lambda v: _conv(v).transpose(1, 0, 2, 3).reshape(v["dout"].shape)),
             same_as("y", KERNEL_HINT, lambda v: _conv(v, w=_flipped(v["w"]))),
             same_as("y", "forgot the bias: Y = W @ cols + b[:, None]",
                     lambda v: _conv(v, b=np.zeros_like(v["b"]))),
         )),
    Part("conv_backward_im2col", _conv_backward_reference,
         arguments("dout", "x", "w", "stride", "padding"), outputs("dx", "dw", "db"),
         _conv_backward_mistakes(), CONV_GRADIENT),
), lambda rng: _conv_cases(rng, CONV_FIXED), allowed=("minicnn.teach.given",))


# ----- pooling -----------------------------------------------------------------------------

def _pool_cases(rng, fixed, padding=False):
    geometries = list(fixed)
    while len(geometries) < len(fixed) + 2:
        N, C = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        H, W = int(rng.choice([5, 7, 9])), int(rng.choice([4, 6, 7, 9]))
        kh, kw, s = int(rng.integers(2, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        p = int(rng.integers(0, min(kh, kw) // 2 + 1)) if padding else 0
        if _fits(H, kh, p) and _fits(W, kw, p):
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


def _window(values):
    return (values["pool_height"], values["pool_width"])


def _max_pool(values, stride=None):
    stride = values["stride"] if stride is None else stride
    return _forward(lambda x: F.max_pool2d(x, _window(values), stride), values["x"])


def _max_pool_dx(values, dout=None):
    dout = values["dout"] if dout is None else dout
    return _with_grads(lambda x: F.max_pool2d(x, _window(values), values["stride"]),
                       [values["x"]], dout)[1][0]


def _max_pool_all_window(values, scale=1.0):
    """What routing each window's gradient to ALL its elements gives (times ``scale``)."""
    kh, kw = _window(values)
    return _with_grads(lambda x: F.avg_pool2d(x, (kh, kw), values["stride"]), [values["x"]],
                       values["dout"])[1][0] * kh * kw * scale


OVERWRITE_HINT = ("overwrote instead of accumulated: an element that is the max of several "
                  "overlapping windows gets the SUM of their gradients (dx[...] += ..., not "
                  "dx[window] = mask * dout, which erases what an earlier window put there)")


MAX_POOL = Exercise("max_pool", (
    Part("max_pool_forward", lambda v: {"y": _max_pool(v)},
         arguments("x", "pool_height", "pool_width", "stride"), outputs("y"), (
             _without_stride("y", lambda v: _max_pool(v)),
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
), lambda rng: _pool_cases(rng, [(1, 1, 4, 4, 2, 2, 2, 0), (2, 3, 9, 9, 3, 3, 2, 0),
                                 (1, 2, 7, 5, 3, 3, 1, 0), (2, 2, 6, 9, 2, 3, 2, 0)]))


def _avg_pool_op(values, stride=None, count_include_pad=True):
    stride = values["stride"] if stride is None else stride
    return lambda x: F.avg_pool2d(x, _window(values), stride, values["padding"],
                                  count_include_pad=count_include_pad)


def _avg_pool_dx(values, dout=None):
    dout = values["dout"] if dout is None else dout
    return _with_grads(_avg_pool_op(values), [values["x"]], dout)[1][0]


AVG_POOL = Exercise("avg_pool", (
    Part("avg_pool_forward", lambda v: {"y": _forward(_avg_pool_op(v), v["x"])},
         arguments("x", "pool_height", "pool_width", "stride", "padding"), outputs("y"), (
             same_as("y", "the zeros of the padding count in the mean (count_include_pad): "
                          "divide every window by pool_height * pool_width",
                     lambda v: _forward(_avg_pool_op(v, count_include_pad=False), v["x"])),
             _without_stride("y", lambda v: _forward(_avg_pool_op(v), v["x"])),
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
         Gradient(("x",), lambda v: _forward(_avg_pool_op(v), v["x"]),
                  lambda function, v, up: (function(up, v["x"].shape, v["pool_height"],
                                                    v["pool_width"], v["stride"],
                                                    v["padding"]),))),
), lambda rng: _pool_cases(rng, [(1, 1, 4, 4, 2, 2, 2, 0), (2, 3, 9, 9, 3, 3, 2, 1),
                                 (1, 2, 7, 5, 3, 3, 1, 1), (2, 1, 6, 9, 2, 3, 2, 1)],
                           padding=True))


# ----- batch norm --------------------------------------------------------------------------

def _bn_cases(rng):
    cases = []
    for N, C, H, W in [(2, 3, 4, 4), (1, 2, 3, 5), (int(rng.integers(1, 4)),
                                                      int(rng.integers(1, 4)), 3, 3)]:
        x = rng.standard_normal((N, C, H, W)) * rng.uniform(0.5, 3, (1, C, 1, 1)) \
            + rng.standard_normal((1, C, 1, 1))
        cases.append(Case(f"x {N}x{C}x{H}x{W}", {
            "x": x, "gamma": rng.uniform(0.5, 1.5, C), "beta": rng.standard_normal(C),
            "running_mean": rng.standard_normal(C) * 0.1, "running_var": rng.uniform(0.5, 2, C),
            "momentum": 0.1, "eps": 1e-5, "dout": rng.standard_normal((N, C, H, W))}))
    return cases


def _bn(values, training):
    """(y, new running mean, new running var) of minicnn's batch norm."""
    mean, var = values["running_mean"].copy(), values["running_var"].copy()
    running = (mc.tensor(mean), mc.tensor(var))
    y = _forward(lambda x, g, b: F.batch_norm(x, running[0], running[1], g, b, training=training,
                                              momentum=values["momentum"], eps=values["eps"]),
                 values["x"], values["gamma"], values["beta"])
    return {"y": y, "new_running_mean": running[0].numpy(), "new_running_var": running[1].numpy()}


def _bn_forward_reference(values):
    return _bn(values, values["training"])


def _bn_grads(values):
    _, grads = _with_grads(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True,
                                                         eps=values["eps"]),
                           [values["x"], values["gamma"], values["beta"]], values["dout"])
    return grads


def _bn_dx_without(values, term):
    """dx with the mean term or the variance term of the chain rule left out."""
    x, dout, eps = values["x"], values["dout"], values["eps"]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    xhat = (x - mean) * invstd
    gamma = values["gamma"][:, None, None]
    mean_term = dout.mean(axis=(0, 2, 3), keepdims=True)
    variance_term = xhat * (dout * xhat).mean(axis=(0, 2, 3), keepdims=True)
    kept = {"mean": variance_term, "variance": mean_term}[term]
    return gamma * invstd * (dout - kept)


CS231N_RUNNING_HINT = ("the running average with CS231n's convention, momentum * running + "
                       "(1 - momentum) * batch (momentum 0.9 there): here, as in PyTorch, "
                       "momentum is the weight of the NEW batch: (1 - momentum) * running + "
                       "momentum * batch (momentum 0.1)")
BN_AXES_HINT = ("statistics over axis 0 only, as for a fully connected layer's (N, D) input: "
                "spatial batch norm takes each channel's mean and variance over N, H and W "
                "together (axis=(0, 2, 3)), M = N*H*W values")


def _bn_over_batch_only(values):
    """Training-mode y with the statistics of batch norm on (N, D): over axis 0 alone."""
    x = values["x"]
    if not values["training"] or x.shape[2] * x.shape[3] == 1:
        return np.full_like(x, np.nan)
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + values["eps"])
    return values["gamma"][:, None, None] * xhat + values["beta"][:, None, None]


def _bn_dx_over_batch_only(values, output="dx"):
    """dx (or dgamma) of batch norm with the (N, D) axes: every (c, h, w) on its own."""
    x, dout, eps, N = values["x"], values["dout"], values["eps"], values["x"].shape[0]
    if N == 1 and output == "dx":
        return np.full_like(x, np.nan)
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    if output == "dgamma":
        return (dout * xhat).sum(axis=0)
    gamma = values["gamma"][:, None, None]
    return gamma / np.sqrt(x.var(axis=0) + eps) / N * (
        N * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0))


def _bn_forward_cases(rng):
    cases = []
    for case in _bn_cases(rng):
        for training in (True, False):
            mode = "training" if training else "eval"
            cases.append(Case(f"{case.label}, {mode}", dict(case.values, training=training)))
    return cases


BATCH_NORM = Exercise("batch_norm", (
    Part("batch_norm_forward", _bn_forward_reference,
         arguments("x", "gamma", "beta", "running_mean", "running_var", "training", "momentum",
                   "eps"), outputs("y", "new_running_mean", "new_running_var"), (
             same_as("new_running_var", "the running variance takes the unbiased batch "
                                        "variance, var * M / (M - 1) with M = N*H*W",
                     lambda v: (1 - v["momentum"]) * v["running_var"]
                     + v["momentum"] * v["x"].var(axis=(0, 2, 3))),
             same_as("new_running_mean", CS231N_RUNNING_HINT,
                     lambda v: v["momentum"] * v["running_mean"]
                     + (1 - v["momentum"]) * v["x"].mean(axis=(0, 2, 3))),
             same_as("y", BN_AXES_HINT, lambda v: _bn_over_batch_only(v)),
             same_as("y", "in eval mode normalise with the running statistics, not the batch's",
                     lambda v: _bn(v, True)["y"]),
             same_as("y", "normalise with the batch statistics in training mode",
                     lambda v: _bn(v, False)["y"]),
         )),
    Part("batch_norm_backward", lambda v: dict(zip(("dx", "dgamma", "dbeta"), _bn_grads(v))),
         arguments("dout", "x", "gamma", "eps"), outputs("dx", "dgamma", "dbeta"), (
             same_as("dx", BN_AXES_HINT, lambda v: _bn_dx_over_batch_only(v)),
             same_as("dgamma", BN_AXES_HINT, lambda v: _bn_dx_over_batch_only(v, "dgamma")),
             same_as("dx", "missing the variance's chain term: var depends on every x, which "
                           "adds - xhat * mean(dout * xhat) inside the parentheses",
                     lambda v: _bn_dx_without(v, "variance")),
             same_as("dx", "missing the mean's chain term: the mean depends on every x, which "
                           "adds - mean(dout) inside the parentheses",
                     lambda v: _bn_dx_without(v, "mean")),
         ),
         Gradient(("x", "gamma", "beta"),
                  lambda v: _forward(lambda x, g, b: F.batch_norm(
                      x, None, None, g, b, training=True, eps=v["eps"]),
                      v["x"], v["gamma"], v["beta"]),
                  lambda function, v, up: function(up, v["x"], v["gamma"], v["eps"])),
         when=lambda v: v["training"]),
), _bn_forward_cases)


# ----- LRN ---------------------------------------------------------------------------------

def _lrn_cases(rng):
    cases = []
    for N, C, size in [(1, 5, 3), (2, 6, 4), (int(rng.integers(1, 3)), int(rng.integers(3, 8)),
                                              int(rng.integers(2, 6)))]:
        values = {"x": rng.standard_normal((N, C, 3, 3)) * 2, "size": size, "alpha": 0.3,
                  "beta": 0.75, "k": 2.0}
        cases.append(Case(f"x {N}x{C}x3x3, size {size}, alpha 0.3, beta 0.75, k 2", values))
    return cases


def _lrn(values, alpha=None, squares=None, window=None):
    """LRN with a mistake: another alpha, other values than x^2 summed, another window."""
    x, size = values["x"], values["size"]
    alpha = values["alpha"] if alpha is None else alpha
    squares = x * x if squares is None else squares
    before, after = (size // 2, (size - 1) // 2) if window is None else window
    C = x.shape[1]
    total = np.stack([squares[:, max(c - before, 0):c + after + 1].sum(axis=1) for c in range(C)],
                     axis=1)
    return x * (values["k"] + alpha / size * total) ** -values["beta"]


LRN_FORWARD = Exercise("lrn_forward", (
    Part("lrn_forward", lambda v: {"y": _forward(lambda x: F.local_response_norm(
        x, v["size"], v["alpha"], v["beta"], v["k"]), v["x"])},
         arguments("x", "size", "alpha", "beta", "k"), outputs("y"), (
             same_as("y", "alpha is divided by the window size here, as in PyTorch and Caffe: "
                          "k + alpha / size * sum (the AlexNet paper's alpha already includes "
                          "the 1/size)", lambda v: _lrn(v, alpha=v["alpha"] * v["size"])),
             same_as("y", "sum the SQUARES of the neighbours, x_j^2",
                     lambda v: _lrn(v, squares=np.abs(v["x"]))),
             same_as("y", "the window of channel c is c - size//2 .. c + (size - 1)//2",
                     lambda v: _lrn(v, window=((v["size"] - 1) // 2, v["size"] // 2))),
         )),
), _lrn_cases)


# ----- dropout -----------------------------------------------------------------------------

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


DROPOUT = Exercise("dropout", (
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


# ----- softmax cross-entropy ---------------------------------------------------------------

def _ce_cases(rng):
    cases = []
    for N, K, spread in [(1, 3, 1.0), (4, 5, 3.0), (3, 10, 1000.0), (int(rng.integers(2, 6)),
                                                                     int(rng.integers(2, 8)), 2.0)]:
        label = f"{N} samples, {K} classes" + (", logits ~ 1000 (exp overflows)"
                                                if spread > 100 else "")
        cases.append(Case(label, {"logits": rng.standard_normal((N, K)) * spread,
                                  "labels": rng.integers(0, K, N)}))
    return cases


UNDERFLOW_HINT = ("-log(p) is inf: with logits near 1000 the right class's p underflows to 0 "
                  "even after subtracting the max, and log(0) = -inf. Compute log p directly, "
                  "as log-softmax: log_p = z - max(z) - log(sum(exp(z - max(z)))), never "
                  "log(softmax(z))")


def _ce(values):
    loss, (grad,) = _with_grads(lambda z: F.cross_entropy(z, values["labels"]),
                                [values["logits"]], 1.0)
    return {"loss": loss, "dlogits": grad}


SOFTMAX_CROSS_ENTROPY = Exercise("softmax_cross_entropy", (
    Part("softmax_cross_entropy", _ce, arguments("logits", "labels"), outputs("loss", "dlogits"), (
        scaled("dlogits", "forgot the 1/N: the loss is the mean over the batch, so each row of "
                          "dlogits carries 1/N", lambda v: len(v["labels"])),
        scaled("loss", "the loss is the MEAN over the batch, not the sum",
               lambda v: len(v["labels"])),
        Mistake("loss", "exp overflowed: subtract each row's max before exp (log-sum-exp); "
                        "the result does not change", lambda v, e, g: not np.isfinite(
                            np.asarray(g["loss"], dtype=np.float64)).all()
                and not close(g["dlogits"], e["dlogits"])),
        Mistake("loss", UNDERFLOW_HINT, lambda v, e, g: np.isposinf(
            np.asarray(g["loss"], dtype=np.float64)).all() and close(g["dlogits"], e["dlogits"])),
        Mistake("dlogits", "exp overflowed: subtract each row's max before exp",
                lambda v, e, g: not np.all(np.isfinite(np.asarray(g["dlogits"],
                                                                  dtype=np.float64)))),
    ), Gradient(("logits",), lambda v: _forward(lambda z: F.cross_entropy(z, v["labels"]),
                                                v["logits"]),
                lambda function, v, up: (function(v["logits"], v["labels"])[1] * up,))),
), _ce_cases)


# ----- SGD with momentum -------------------------------------------------------------------

def _sgd_cases(rng):
    cases = []
    for shape, lr, momentum, decay in [((3,), 0.1, 0.9, 0.0), ((4, 5), 0.05, 0.9, 5e-4),
                                       ((2, 3, 3), 0.5, 0.5, 0.1)]:
        cases.append(Case(f"w {'x'.join(map(str, shape))}, lr {lr}, momentum {momentum}, "
                          f"weight_decay {decay}", {
                              "w": rng.standard_normal(shape), "dw": rng.standard_normal(shape),
                              "velocity": rng.standard_normal(shape), "lr": lr,
                              "momentum": momentum, "weight_decay": decay}))
    return cases


def _sgd(values, weight_decay=None):
    w, velocity = values["w"].copy(), values["velocity"].copy()
    decay = values["weight_decay"] if weight_decay is None else weight_decay
    reference.sgd_step(w, values["dw"], velocity, values["lr"], values["momentum"], 0.0, decay,
                       False, False, first_step=False)
    return {"new_w": w, "new_velocity": velocity}


SGD_MOMENTUM = Exercise("sgd_momentum", (
    Part("sgd_momentum", _sgd, arguments("w", "dw", "velocity", "lr", "momentum", "weight_decay"),
         outputs("new_w", "new_velocity"), (
             same_as("new_velocity", "PyTorch's velocity is v = momentum * v + g and the step "
                                     "is w - lr * v (CS231n's v = mu * v - lr * dw is another "
                                     "quantity)", lambda v: v["momentum"] * v["velocity"]
                     - v["lr"] * (v["dw"] + v["weight_decay"] * v["w"])),
             same_as("new_w", "weight decay: g = dw + weight_decay * w, before the momentum",
                     lambda v: _sgd(v, weight_decay=0.0)["new_w"]),
             same_as("new_w", "step with the NEW velocity: w - lr * new_velocity",
                     lambda v: v["w"] - v["lr"] * v["velocity"]),
         )),
), _sgd_cases)


# ----- a two-layer conv net ----------------------------------------------------------------

PARAMS = ("conv.weight", "conv.bias", "fc.weight", "fc.bias")


def _net_cases(rng):
    cases = []
    for N, C, H, W, Fn, K in [(2, 1, 4, 4, 2, 3), (3, 2, 6, 4, 3, 4), (1, 3, 4, 6, 2, 5)]:
        params = {"conv.weight": rng.standard_normal((Fn, C, 3, 3)) * 0.5,
                  "conv.bias": rng.standard_normal(Fn) * 0.1,
                  "fc.weight": rng.standard_normal((K, Fn * H * W // 4)) * 0.5,
                  "fc.bias": rng.standard_normal(K) * 0.1}
        x = rng.standard_normal((N, C, H, W))
        # keep the ReLU and the max pool away from their kinks for the gradient check
        cases.append(Case(f"x {N}x{C}x{H}x{W}, {Fn} filters, {K} classes", {
            "params": params, "x": x, "labels": rng.integers(0, K, N), "lr": 0.1, **params}))
    return cases


def _net_loss(values, *arrays):
    params = dict(zip(PARAMS, arrays))
    h = F.max_pool2d(F.relu(F.conv2d(values["x"], params["conv.weight"], params["conv.bias"],
                                     padding=1)), 2)
    return F.cross_entropy(F.linear(F.flatten(h, 1), params["fc.weight"], params["fc.bias"]),
                           values["labels"])


def _net(values):
    x = mc.tensor(values["x"])
    loss, grads = _with_grads(lambda *p: _net_loss(dict(values, x=x), *p),
                              [values["params"][name] for name in PARAMS], 1.0)
    result = {"loss": loss}
    result.update({f"grads[{name}]": g for name, g in zip(PARAMS, grads)})
    result.update({f"new_params[{name}]": values["params"][name] - values["lr"] * g
                   for name, g in zip(PARAMS, grads)})
    return result


def _unpack_step(result):
    if not isinstance(result, tuple) or len(result) != 3 or not all(
            isinstance(d, dict) for d in result[1:]):
        raise TypeError("expected (loss, grads dict, new_params dict)")
    loss, grads, new_params = result
    unpacked = {"loss": loss}
    unpacked.update({f"grads[{name}]": grads.get(name) for name in PARAMS})
    unpacked.update({f"new_params[{name}]": new_params.get(name) for name in PARAMS})
    return unpacked


def _net_grads_right_below(values, expected, got):
    right = lambda name: np.allclose(got[name], expected[name], rtol=1e-7, atol=1e-10)  # noqa
    return right("grads[fc.weight]") and right("grads[fc.bias]")


TWO_LAYER_CONVNET = Exercise("two_layer_convnet", (
    Part("train_step", _net, arguments("params", "x", "labels", "lr"), _unpack_step, (
        *(scaled(f"grads[{name}]", "forgot the 1/N of the mean loss in dlogits: every gradient "
                                   "comes out N times too large", lambda v: len(v["labels"]))
          for name in PARAMS),
        *(Mistake(f"grads[{name}]", "the fc gradients are right but this one is not: the "
                                    "error is below the linear layer (the max-pool routing, the "
                                    "ReLU mask dconv = dpool * [conv > 0], or the conv's "
                                    "gradient)", _net_grads_right_below)
          for name in PARAMS[:2]),
        *(same_as(f"new_params[{name}]", "SGD steps downhill: p = p - lr * dp",
                  lambda v, name=name: v["params"][name] + v["lr"] * _net(v)[f"grads[{name}]"])
          for name in PARAMS),
    ), Gradient(PARAMS, lambda v: _forward(lambda x, *p: _net_loss(dict(v, x=x), *p), v["x"],
                                           *[v[n] for n in PARAMS]),
                lambda function, v, up: tuple(
                    function({n: v[n] for n in PARAMS}, v["x"], v["labels"], v["lr"])[1][n] * up
                    for n in PARAMS))),
), _net_cases, time_limit=120.0, allowed=("minicnn.teach.given",))


EXERCISES = {exercise.name: exercise for exercise in (
    IM2COL, COL2IM, CONV_FORWARD_NAIVE, CONV_BACKWARD, CONV_IM2COL, MAX_POOL, AVG_POOL, BATCH_NORM,
    LRN_FORWARD, DROPOUT, SOFTMAX_CROSS_ENTROPY, SGD_MOMENTUM, TWO_LAYER_CONVNET)}

# the exercises that complete CS231n's assignment 2 (imported last: they use the helpers above)
from minicnn.teach.specs_cs231n import EXERCISES as CS231N_EXERCISES  # noqa: E402

EXERCISES.update(CS231N_EXERCISES)
