"""The NumPy reference kernels: the specification every other kernel set matches.

Each kernel takes and returns raw arrays (NumPy, or CuPy: only the array API the two share is
used) and states its math. The C kernels (``csrc/``) and CUDA kernels (``kernels/``) take the
same arguments and return the same results.
"""

import math

import numpy as np

from minicnn.backend.arrays import fma, get_array_module, index_add, lerp_
from minicnn.backend import tiling
from minicnn.backend import validate as check
from minicnn.backend.geometry import Window

NAME = "numpy"


# ----- ReLU ---------------------------------------------------------------------------------

def relu_forward(x):
    """y = max(x, 0)"""
    return get_array_module(x).maximum(x, 0)


def relu_backward(grad_y, y):
    """dx = dy * [y > 0]   (the gradient at 0 is taken as 0, as in PyTorch)"""
    return grad_y * (y > 0)


def leaky_relu_forward(x, negative_slope):
    """y = x if x > 0 else negative_slope * x"""
    return get_array_module(x).where(x > 0, x, x * negative_slope)


def leaky_relu_backward(grad_y, x, negative_slope):
    """dx = dy * (1 if x > 0 else negative_slope)"""
    return get_array_module(x).where(x > 0, grad_y, grad_y * negative_slope)


# ----- GELU (Hendrycks & Gimpel 2016) -------------------------------------------------------

# Abramowitz and Stegun 7.1.26: erf(x) = 1 - t (a1 + t (a2 + ... + t a5)) e^(-x^2),
# t = 1 / (1 + p x) for x >= 0, odd in x; |error| <= 1.5e-7 exactly, 6e-7 evaluated in float32
ERF_P, ERF_A = 0.3275911, (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(x):
    """The error function elementwise. NumPy has none: float32 takes Abramowitz and Stegun
    7.1.26 in float32, float64 math.erf per element (exact, for gradient checks); CuPy its own."""
    xp = get_array_module(x)
    if xp is not np:
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(x)
    if x.dtype != np.float32:
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=x.dtype)
    a, poly = np.abs(x), np.float32(ERF_A[4])
    t = np.float32(1) / (np.float32(1) + np.float32(ERF_P) * a)
    for coefficient in ERF_A[3::-1]:
        poly = poly * t + np.float32(coefficient)
    return np.copysign(np.float32(1) - poly * t * np.exp(-a * a), x)


def _gelu_tanh(x):
    """t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3)"""
    return get_array_module(x).tanh(x.dtype.type(math.sqrt(2 / math.pi)) * (x + 0.044715 * x ** 3))


def gelu_forward(x, approximate):
    """exact ("none"): y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2;  "tanh": y = x (1 + t) / 2"""
    if approximate == "tanh":
        return 0.5 * x * (1 + _gelu_tanh(x))
    return x * (0.5 * (1 + _erf(x * x.dtype.type(math.sqrt(0.5)))))


def gelu_backward(grad_y, x, approximate):
    """exact: dx = dy (Phi(x) + x phi(x)), phi(x) = e^(-x^2/2) / sqrt(2 pi);
    tanh: dx = dy ((1 + t) / 2 + x (1 - t^2) / 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2))"""
    xp = get_array_module(x)
    if approximate == "tanh":
        t, du = _gelu_tanh(x), math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
        return grad_y * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    cdf = 0.5 * (1 + _erf(x * x.dtype.type(math.sqrt(0.5))))
    return grad_y * (cdf + x * xp.exp(-0.5 * x * x) * x.dtype.type(1 / math.sqrt(2 * math.pi)))


# ----- softmax along an axis (dim None: a 0-d x) --------------------------------------------

def _shifted(x, dim):
    """x - max(x) along dim, so that exp cannot overflow (an empty x has no max, and needs none)."""
    return x - x.max(axis=dim, keepdims=True) if x.size else x


def softmax_forward(x, dim):
    """y = exp(x) / sum(exp(x)), computed on x - max(x)."""
    e = get_array_module(x).exp(_shifted(x, dim))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(grad_y, y, dim):
    """dx = y * (dy - sum(dy * y))"""
    return y * (grad_y - (grad_y * y).sum(axis=dim, keepdims=True))


def log_softmax_forward(x, dim):
    """y = x - log(sum(exp(x))), computed on x - max(x) (log-sum-exp); an empty x stays empty."""
    xp = get_array_module(x)
    shifted = _shifted(x, dim)
    return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True)) if x.size else x.copy()


def log_softmax_backward(grad_y, y, dim):
    """dx = dy - softmax(x) * sum(dy), with softmax(x) = exp(y)"""
    return grad_y - get_array_module(y).exp(y) * grad_y.sum(axis=dim, keepdims=True)


# ----- linear: x (..., in), weight (out, in), y (..., out) ----------------------------------

def linear_forward(x, weight, bias):
    """y = x @ W^T + b   (bias (out,) or None)"""
    y = x @ weight.T
    return y + bias if bias is not None else y


def linear_backward_input(grad_y, weight):
    """dx = dy @ W   (..., in)"""
    return grad_y @ weight


def linear_backward_weight(grad_y, x):
    """dW = dy^T @ x, summed over every leading dimension   (out, in); in or out may be 0"""
    return get_array_module(x).tensordot(grad_y, x, ([*range(x.ndim - 1)],) * 2)


# ----- softmax cross-entropy ----------------------------------------------------------------

def softmax_cross_entropy_forward(logits, target, weight, ignore_index, label_smoothing):
    """Per-sample loss of softmax + cross-entropy, fused, from logits (M, C) and targets (M,).

    log p = z - max(z) - log(sum(exp(z - max(z))))          (log-sum-exp: no overflow)
    loss_i = (1 - eps) * w[y_i] * (-log p_i[y_i]) + eps / C * sum_c w[c] * (-log p_i[c])
    with w = 1 when no class weights are given, and loss_i = 0 where y_i == ignore_index.
    Returns (loss (M,), log_probs (M, C)); backward needs log_probs.
    """
    xp = get_array_module(logits)
    M, C = logits.shape
    log_probs = log_softmax_forward(logits, 1)
    valid = target != ignore_index
    safe_target = xp.where(valid, target, 0)
    w = xp.ones(C, dtype=logits.dtype) if weight is None else weight
    loss = -log_probs[xp.arange(M), safe_target] * w[safe_target]
    if label_smoothing > 0:     # as in PyTorch, no smoothing term at all otherwise (0 * inf)
        smooth = -(log_probs * w).sum(axis=1)
        loss = (1 - label_smoothing) * loss + label_smoothing / C * smooth
    loss = xp.where(valid, loss, 0)
    return loss.astype(logits.dtype, copy=False), log_probs


def softmax_cross_entropy_backward(grad_loss, log_probs, target, weight, ignore_index,
                                   label_smoothing):
    """dz_ic = dloss_i * ((1 - eps) * w[y_i] * (p_ic - [c == y_i]) + eps / C * (p_ic * sum(w) - w[c]))
    shapes: grad_loss (M,), log_probs (M, C) -> dz (M, C); rows with y_i == ignore_index get 0."""
    xp = get_array_module(log_probs)
    M, C = log_probs.shape
    probs = xp.exp(log_probs)
    valid = target != ignore_index
    safe_target = xp.where(valid, target, 0)
    w = xp.ones(C, dtype=log_probs.dtype) if weight is None else weight
    one_hot = xp.zeros_like(probs)
    one_hot[xp.arange(M), safe_target] = 1
    grad_nll = w[safe_target][:, None] * (probs - one_hot)
    grad_smooth = probs * w.sum() - w
    grad = (1 - label_smoothing) * grad_nll + label_smoothing / C * grad_smooth
    grad = xp.where(valid[:, None], grad * grad_loss[:, None], 0)
    return grad.astype(log_probs.dtype, copy=False)


# ----- pooling ------------------------------------------------------------------------------
# Input x (N, C, H, W) -> output (N, C, oh, ow). Window (a, b) covers input rows
# a*sh - ph + i*dh for i < kh and columns b*sw - pw + j*dw for j < kw. The caller computes
# oh, ow (ceil_mode decides them); the last windows may then run past the padded image.

def _zero_padded(x, ph, pw, rows, cols):
    """x (N, C, H, W) inside zeros, with ph, pw before and enough after for rows x cols."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    padded = xp.zeros((N, C, max(rows, H + ph), max(cols, W + pw)), dtype=x.dtype)
    padded[:, :, ph:ph + H, pw:pw + W] = x
    return padded


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """y[n,c,a,b] = max of x[n,c] over window (a, b); positions outside the image (padding)
    never win, as if they held -inf.
    indices[n,c,a,b] = h*W + w of that max in its input plane (int64), the first in scan order
    (rows, then columns) on ties, NaN winning as in PyTorch; -1 for a window that holds no input
    element (possible only with dilation), whose y is -inf.
    Returns (y, indices)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    check.pooled_hw(H, W, Window(kh, kw, sh, sw, ph, pw, dh, dw), oh, ow)
    span_h, span_w = (oh - 1) * sh + 1, (ow - 1) * sw + 1
    padded = _zero_padded(x, ph, pw, span_h + (kh - 1) * dh, span_w + (kw - 1) * dw)
    rows = xp.arange(oh, dtype=xp.int64) * sh - ph
    cols = xp.arange(ow, dtype=xp.int64) * sw - pw
    y = xp.full((N, C, oh, ow), -xp.inf, dtype=x.dtype)
    indices = xp.full((N, C, oh, ow), -1, dtype=xp.int64)
    for i in range(kh):
        r = rows + i * dh
        for j in range(kw):
            c = cols + j * dw
            inside = ((r >= 0) & (r < H))[:, None] & ((c >= 0) & (c < W))[None, :]
            value = padded[:, :, i * dh:i * dh + span_h:sh, j * dw:j * dw + span_w:sw]
            take = inside & ((value > y) | xp.isnan(value) | (indices < 0))
            y = xp.where(take, value, y)
            indices = xp.where(take, r[:, None] * W + c[None, :], indices)
    return y, indices


def max_pool2d_backward(grad_y, indices, H, W):
    """dx[n,c,h,w] = sum of dy[n,c,a,b] over the windows (a, b) whose max was x[n,c,h,w]
    (overlapping windows accumulate). grad_y, indices (N, C, oh, ow) -> dx (N, C, H, W)."""
    xp = get_array_module(grad_y)
    N, C = grad_y.shape[:2]
    grad_x = xp.zeros(N * C * H * W, dtype=grad_y.dtype)
    plane_start = (xp.arange(N * C, dtype=xp.int64) * (H * W)).reshape(N, C, 1, 1)
    found = indices >= 0
    index_add(grad_x, (plane_start + indices)[found], grad_y[found])
    return grad_x.reshape(N, C, H, W)


def avg_pool2d_divisor(H, W, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, xp):
    """The divisor of every window (oh, ow), PyTorch's rule: with count_include_pad the window
    clipped to the padded image [-p, size + p), otherwise clipped to the image [0, size)."""
    def extents(out_size, stride, padding, kernel, size):
        start = xp.arange(out_size, dtype=xp.int64) * stride - padding
        end = xp.minimum(start + kernel, size + padding)
        if count_include_pad:
            return end - start
        return xp.minimum(end, size) - xp.maximum(start, 0)
    return extents(oh, sh, ph, kh, H)[:, None] * extents(ow, sw, pw, kw, W)[None, :]


def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad):
    """y[n,c,a,b] = (sum of x[n,c] over window (a, b), padding counting 0) / divisor[a,b]
    (see avg_pool2d_divisor)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    check.pooled_hw(H, W, Window(kh, kw, sh, sw, ph, pw), oh, ow)
    span_h, span_w = (oh - 1) * sh + 1, (ow - 1) * sw + 1
    padded = _zero_padded(x, ph, pw, span_h + kh - 1, span_w + kw - 1)
    total = xp.zeros((N, C, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            total += padded[:, :, i:i + span_h:sh, j:j + span_w:sw]
    divisor = avg_pool2d_divisor(H, W, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, xp)
    return total / divisor.astype(x.dtype)


def avg_pool2d_backward(grad_y, H, W, kh, kw, sh, sw, ph, pw, count_include_pad):
    """dx[n,c,h,w] = sum of dy[n,c,a,b] / divisor[a,b] over the windows (a, b) that hold (h, w).
    grad_y (N, C, oh, ow) -> dx (N, C, H, W)."""
    xp = get_array_module(grad_y)
    N, C, oh, ow = grad_y.shape
    check.pooled_hw(H, W, Window(kh, kw, sh, sw, ph, pw), oh, ow)
    divisor = avg_pool2d_divisor(H, W, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad, xp)
    share = grad_y / divisor.astype(grad_y.dtype)
    span_h, span_w = (oh - 1) * sh + 1, (ow - 1) * sw + 1
    grad_padded = xp.zeros((N, C, max(span_h + kh - 1, H + ph), max(span_w + kw - 1, W + pw)),
                           dtype=grad_y.dtype)
    for i in range(kh):
        for j in range(kw):
            grad_padded[:, :, i:i + span_h:sh, j:j + span_w:sw] += share
    return grad_padded[:, :, ph:ph + H, pw:pw + W].copy()


# ----- adaptive pooling: output (a, b) pools the input rows [floor(a H / oh), ceil((a+1) H / oh))
# and the columns [floor(b W / ow), ceil((b+1) W / ow)), PyTorch's windows

def _adaptive_windows(size, out_size):
    return [(a * size // out_size, -(-(a + 1) * size // out_size)) for a in range(out_size)]


def _averaging_matrix(size, out_size, dtype, xp):
    """A (out_size, size): row a holds 1 / window length over window a, zeros elsewhere."""
    matrix = np.zeros((out_size, size))
    for a, (start, end) in enumerate(_adaptive_windows(size, out_size)):
        matrix[a, start:end] = 1.0 / (end - start)
    return xp.asarray(matrix.astype(dtype))


def adaptive_avg_pool2d_forward(x, oh, ow):
    """y = A_h @ x @ A_w^T with the averaging matrices A_h (oh, H), A_w (ow, W), per plane."""
    xp = get_array_module(x)
    H, W = x.shape[-2:]
    return _averaging_matrix(H, oh, x.dtype, xp) @ x @ _averaging_matrix(W, ow, x.dtype, xp).T


def adaptive_avg_pool2d_backward(grad_y, H, W):
    """dx = A_h^T @ dy @ A_w   (N, C, oh, ow) -> (N, C, H, W)"""
    xp = get_array_module(grad_y)
    oh, ow = grad_y.shape[-2:]
    return (_averaging_matrix(H, oh, grad_y.dtype, xp).T @ grad_y
            @ _averaging_matrix(W, ow, grad_y.dtype, xp))


def adaptive_max_pool2d_forward(x, oh, ow):
    """y[n,c,a,b] = max of x[n,c] over window (a, b); indices by max_pool2d_forward's rule (the
    first max in scan order, the last NaN when there are NaNs, as in PyTorch; max_pool2d_backward
    is the backward). Returns (y, indices)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    y = xp.empty((N, C, oh, ow), dtype=x.dtype)
    indices = xp.empty((N, C, oh, ow), dtype=xp.int64)
    for a, (top, bottom) in enumerate(_adaptive_windows(H, oh)):
        for b, (left, right) in enumerate(_adaptive_windows(W, ow)):
            window = x[:, :, top:bottom, left:right].reshape(N, C, -1)
            nan = xp.isnan(window)
            last_nan = window.shape[2] - 1 - nan[:, :, ::-1].argmax(axis=2)
            best = xp.where(nan.any(axis=2), last_nan, window.argmax(axis=2))
            y[:, :, a, b] = xp.take_along_axis(window, best[:, :, None], axis=2)[:, :, 0]
            width = right - left
            indices[:, :, a, b] = (top + best // width) * W + left + best % width
    return y, indices


# ----- batch norm ---------------------------------------------------------------------------
# x (N, C, H, W); statistics per channel over the M = N*H*W values of that channel.

CHANNEL_AXES = (0, 2, 3)   # the axes a per-channel statistic sums over


def _per_channel_affine(y, weight, bias):
    """y * weight + bias per channel c of y (N, C, H, W); weight, bias (C,) or None for 1 and 0."""
    y = y if weight is None else y * weight[:, None, None]
    return y if bias is None else y + bias[:, None, None]


def batch_norm_forward(x, weight, bias, eps):
    """mean_c = sum x / M ; var_c = sum (x - mean)^2 / M (biased) ; invstd = 1 / sqrt(var + eps)
    y = (x - mean) * invstd * weight + bias   (weight, bias (C,) or None for 1 and 0)
    The sums accumulate in float64, as in the C kernel.
    Returns (y, mean (C,), var (C,), invstd (C,))."""
    xp = get_array_module(x)
    mean = x.mean(axis=CHANNEL_AXES, dtype=xp.float64)
    centered = x - mean[:, None, None]
    var = (centered * centered).mean(axis=CHANNEL_AXES)
    invstd = 1 / xp.sqrt(var + eps)
    mean, var, invstd = (a.astype(x.dtype) for a in (mean, var, invstd))
    y = _per_channel_affine((x - mean[:, None, None]) * invstd[:, None, None], weight, bias)
    return y, mean, var, invstd


def batch_norm_backward(grad_y, x, weight, mean, invstd):
    """With xhat = (x - mean) * invstd and sums over N, H, W per channel:
    dx = (invstd / M) * weight * (M * dy - sum(dy) - xhat * sum(dy * xhat))   (N, C, H, W)
    dweight = sum(dy * xhat) (C,) ; dbias = sum(dy) (C,)
    Returns (grad_x, grad_weight, grad_bias); weight None counts as 1."""
    N, C, H, W = x.shape
    M = N * H * W
    xhat = (x - mean[:, None, None]) * invstd[:, None, None]
    sum_dy = grad_y.sum(axis=CHANNEL_AXES)
    sum_dy_xhat = (grad_y * xhat).sum(axis=CHANNEL_AXES)
    scale = invstd / M if weight is None else invstd * weight / M
    grad_x = scale[:, None, None] * (M * grad_y - sum_dy[:, None, None]
                                     - xhat * sum_dy_xhat[:, None, None])
    return grad_x, sum_dy_xhat, sum_dy


def batch_norm_inference_forward(x, running_mean, running_var, weight, bias, eps):
    """y = (x - running_mean) * invstd * weight + bias, invstd = 1 / sqrt(running_var + eps)
    (the running statistics taken in x's dtype). Returns (y, invstd (C,))."""
    xp = get_array_module(x)
    invstd = 1 / xp.sqrt(running_var.astype(x.dtype) + eps)
    centered = x - running_mean.astype(x.dtype)[:, None, None]
    return _per_channel_affine(centered * invstd[:, None, None], weight, bias), invstd


def batch_norm_inference_backward(grad_y, x, running_mean, invstd, weight):
    """A fixed affine map per channel: dx = dy * weight * invstd (N, C, H, W);
    dweight = sum(dy * xhat) (C,) with xhat = (x - running_mean) * invstd ; dbias = sum(dy) (C,).
    Returns (grad_x, grad_weight, grad_bias); weight None counts as 1."""
    scaled = grad_y if weight is None else grad_y * weight[:, None, None]
    xhat = (x - running_mean.astype(x.dtype)[:, None, None]) * invstd[:, None, None]
    return (scaled * invstd[:, None, None], (grad_y * xhat).sum(axis=CHANNEL_AXES),
            grad_y.sum(axis=CHANNEL_AXES))


# ----- local response norm ------------------------------------------------------------------
# Across channels of x (N, C, H, W), window [c - size//2, c + (size-1)//2] clipped to [0, C).

def _channel_window_sum(values, before, after):
    """s[:, c] = sum of values[:, c - before .. c + after] (channels outside count as 0)."""
    xp = get_array_module(values)
    N, C, H, W = values.shape
    before, after = min(before, C - 1), min(after, C - 1)   # a wider window adds only zeros
    padded = xp.zeros((N, C + before + after, H, W), dtype=values.dtype)
    padded[:, before:before + C] = values
    total = xp.zeros_like(values)
    for offset in range(before + after + 1):
        total += padded[:, offset:offset + C]
    return total


def lrn_forward(x, size, alpha, beta, k):
    """scale_c = k + alpha / size * sum of x_j^2 over the window of c ; y_c = x_c * scale_c^-beta
    Returns (y, scale)."""
    scale = k + alpha / size * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -beta, scale


def lrn_backward(grad_y, x, y, scale, size, alpha, beta, k):
    """dx_j = dy_j * scale_j^-beta - 2 * alpha * beta / size * x_j * sum_c (dy_c * y_c / scale_c)
    over the channels c whose window holds j, i.e. c in [j - (size-1)//2, j + size//2].
    All arrays (N, C, H, W)."""
    reach = _channel_window_sum(grad_y * y / scale, (size - 1) // 2, size // 2)
    return grad_y * scale ** -beta - (2 * alpha * beta / size) * x * reach


# ----- dropout ------------------------------------------------------------------------------

def dropout_mask(shape, p, dtype, generator):
    """A NumPy mask: each entry 1 / (1 - p) with probability 1 - p, else 0 (inverted dropout,
    so the expected value of x * mask is x); p = 1 gives all zeros. ``generator`` is a
    numpy.random.Generator, so every kernel set sees the same mask."""
    if p == 1:
        return np.zeros(shape, dtype=dtype)
    keep = generator.random(shape) < 1 - p
    return (keep / (1 - p)).astype(dtype)


def dropout_apply(x, mask):
    """y = x * mask (x and mask of the same shape)."""
    return x * mask


# ----- convolution --------------------------------------------------------------------------
# A convolution is a matrix product once every receptive field is laid out as a column
# (im2col); its input gradient puts the columns back, adding overlaps (col2im, the adjoint).
# The window (geometry.Window) gives the output size oh x ow.

def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw):
    """x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow), the receptive field of each output as a column:

        cols[(c*kh + i)*kw + j, (n*oh + y)*ow + x] = x[n, c, y*sh - ph + i*dh, x*sw - pw + j*dw]

    (0 where that position lies in the padding).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    oh, ow = Window(kh, kw, sh, sw, ph, pw, dh, dw).output_hw(H, W)
    padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = xp.empty((C, kh, kw, N, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # the pixels under kernel tap (i, j) for every output position: a strided slice
            window = padded[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                            j * dw: j * dw + sw * (ow - 1) + 1: sw]
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    return cols.reshape(C * kh * kw, N * oh * ow)


def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """cols (C*kh*kw, N*oh*ow) -> x (N, C, H, W), the adjoint of im2col: every column entry is
    added to the pixel it was read from (entries read from the padding are dropped),

        x[n, c, h, w] = sum over (i, j, y, x) with y*sh - ph + i*dh = h, x*sw - pw + j*dw = w
                        of cols[(c*kh + i)*kw + j, (n*oh + y)*ow + x]

    summed in increasing (i, j) order, starting from 0 (a gather in that order matches bit for bit).
    """
    xp = get_array_module(cols)
    oh, ow = Window(kh, kw, sh, sw, ph, pw, dh, dw).output_hw(H, W)
    if cols.shape != (C * kh * kw, N * oh * ow):
        raise ValueError(f"cols must have shape (C*kh*kw, N*oh*ow) = {(C * kh * kw, N * oh * ow)},"
                         f" got {cols.shape}")
    taps = cols.reshape(C, kh, kw, N, oh, ow)
    padded = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # a strided slice never hits the same pixel twice, so += adds every entry
            padded[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                   j * dw: j * dw + sw * (ow - 1) + 1: sw] += taps[:, i, j].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(padded[:, :, ph: ph + H, pw: pw + W])


# The convolution family: x (N, C, H, W), weight (F, C/G, kh, kw) for G groups, y (N, F, oh, ow).
#   forward            y  = W @ im2col(x)            per group (F/G, C/G*kh*kw) @ (C/G*kh*kw, N*oh*ow)
#   backward_input     dX = col2im(W^T @ dY)         per group (C/G*kh*kw, F/G) @ (F/G, N*oh*ow)
#   backward_weight    dW = dY @ im2col(x)^T         per group (F/G, N*oh*ow) @ (N*oh*ow, C/G*kh*kw)
# backward_input is also the forward pass of a transposed convolution.
#
# The C set replaces the whole family with its fused GEMM (csrc/conv2d_gemm.c); the reference and the
# CUDA set run it as tiled products around im2col / col2im (tiling.py).

def conv2d_forward(x, weight, groups, window):
    """y = W @ im2col(x) per group and tile: x (N, C, H, W), weight (F, C/G, kh, kw) ->
    y (N, F, oh, ow), no bias."""
    return tiling.conv2d_forward(x, weight, groups, window, im2col)


def conv2d_backward_input(grad_y, weight, groups, window, input_hw):
    """dX = col2im(W^T @ dY) per group and tile: grad_y (N, F, oh, ow), weight (F, C/G, kh, kw),
    input_hw = (H, W) -> grad_x (N, C, H, W)."""
    return tiling.conv2d_backward_input(grad_y, weight, groups, window, input_hw, col2im)


def conv2d_backward_weight(x, grad_y, groups, window):
    """dW = dY @ im2col(x)^T summed over the tiles: x (N, C, H, W), grad_y (N, F, oh, ow) ->
    grad_weight (F, C/G, kh, kw)."""
    return tiling.conv2d_backward_weight(x, grad_y, groups, window, im2col)


# ----- optimizer updates --------------------------------------------------------------------
# Each update runs in place on the arrays, in PyTorch's order of operations (its single-tensor
# loops in torch/optim), with each hyper-parameter first rounded to the parameter's dtype as
# PyTorch does, and `a + alpha * b` rounded once where PyTorch's CPU kernels round once
# (arrays.fma, arrays.lerp_).

def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             maximize, first_step):
    """One step of torch.optim.SGD on ``param``, in place; ``momentum_buffer`` (updated in place)
    is None when momentum == 0, and ``first_step`` says it holds nothing yet:

        g = -grad if maximize else grad
        g = g + weight_decay * param                                    (weight_decay != 0)
        buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov, else g = buf                   (momentum != 0)
        param = param - lr * g
    """
    scalar = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = fma(param, scalar(weight_decay), g)
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= scalar(momentum)
            momentum_buffer[...] = fma(g, scalar(1 - dampening), momentum_buffer)
        g = fma(momentum_buffer, scalar(momentum), g) if nesterov else momentum_buffer
    param[...] = fma(g, scalar(-lr), param)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, decoupled_weight_decay, amsgrad, maximize):
    """One step of torch.optim.Adam (AdamW with ``decoupled_weight_decay``) on ``param``, in
    place. ``step`` counts this step (1 on the first); the moments m = exp_avg, v = exp_avg_sq
    and, with amsgrad, v_max = max_exp_avg_sq (None otherwise) are updated in place:

        g = -grad if maximize else grad
        param = (1 - lr * weight_decay) * param if decoupled, else g = g + weight_decay * param
        m = m + (1 - beta1) * (g - m)                          (= beta1 * m + (1 - beta1) * g)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v), which replaces v below                               (amsgrad)
        param = param - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
    """
    xp = get_array_module(param)
    scalar = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= scalar(1 - lr * weight_decay)
        else:
            g = fma(param, scalar(weight_decay), g)
    lerp_(exp_avg, g, scalar(1 - beta1))
    exp_avg_sq *= scalar(beta2)
    exp_avg_sq[...] = fma(scalar(1 - beta2) * g, g, exp_avg_sq)
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    second_moment = max_exp_avg_sq if amsgrad else exp_avg_sq
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    denom = xp.sqrt(second_moment) / scalar(bias_correction2_sqrt) + scalar(eps)
    param += scalar(-step_size) * exp_avg / denom


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                 weight_decay, momentum, centered, maximize):
    """One step of torch.optim.RMSprop on ``param``, in place; the running averages s =
    square_avg, a = grad_avg (None unless centered) and buf = momentum_buffer (None unless
    momentum > 0) are updated in place:

        g = -grad if maximize else grad
        g = g + weight_decay * param                                    (weight_decay != 0)
        s = alpha * s + (1 - alpha) * g * g
        a = a + (1 - alpha) * (g - a) and d = sqrt(s - a * a) + eps if centered,
        else d = sqrt(s) + eps
        buf = momentum * buf + g / d and param = param - lr * buf if momentum > 0,
        else param = param - lr * g / d
    """
    xp = get_array_module(param)
    scalar = param.dtype.type
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = fma(param, scalar(weight_decay), g)
    square_avg *= scalar(alpha)
    square_avg[...] = fma(scalar(1 - alpha) * g, g, square_avg)
    if centered:
        lerp_(grad_avg, g, scalar(1 - alpha))
        denom = xp.sqrt(fma(-grad_avg, grad_avg, square_avg))
    else:
        denom = xp.sqrt(square_avg)
    denom += scalar(eps)
    if momentum > 0:
        momentum_buffer *= scalar(momentum)
        momentum_buffer += g / denom
        param[...] = fma(momentum_buffer, scalar(-lr), param)
    else:
        param += scalar(-lr) * g / denom
