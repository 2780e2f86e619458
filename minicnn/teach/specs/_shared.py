"""What the specs of several exercises use: minicnn's autograd as the reference, the
geometry of the convolution cases, the stride mistake, the normalisation ops."""

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.autograd import Tensor
from minicnn.teach.checker import Case, Mistake, close
from minicnn.utils.conv_arithmetic import conv_output_size


def with_grads(fn, arrays, upstream):
    """fn(*tensors) through minicnn's autograd: (output array, [gradient of each array]) for
    the upstream gradient ``upstream``."""
    tensors = [mc.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    y = fn(*tensors)
    (y * Tensor(np.asarray(upstream, dtype=np.float64))).sum().backward()
    return y.numpy(), [t.grad.numpy() for t in tensors]


def forward(fn, *arrays):
    return fn(*[mc.tensor(np.asarray(a, dtype=np.float64)) for a in arrays]).numpy()


def fits(size, kernel, padding, dilation=1):
    """Whether a window fits in the padded input (at least one output)."""
    return size + 2 * padding >= dilation * (kernel - 1) + 1


def without_stride(output, reference):
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


def conv_cases(rng, fixed, draws=2, dilation=False):
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
        if fits(H, kh, padding, d) and fits(W, kw, padding, d):
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


def bn1d_op(values):
    return lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=values["eps"])


def ln_op(x, gamma, beta, eps):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return gamma * (x - mean) / (var + eps) ** 0.5 + beta
