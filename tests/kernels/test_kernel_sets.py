"""Every kernel set against the NumPy reference (the specification), one suite run once per set
(the ``kernel_set`` fixture of tests/kernels/conftest.py: C, the CUDA kernels emulated on the CPU,
the same behind the CuPy stand-in, a real GPU), on shapes and hyper-parameters that hypothesis
draws: data movement (im2col, col2im, max-pool values and indices and its backward, dropout,
ReLU) bit for bit; arithmetic within 1e-12 (float64) and 1e-5 (float32) of the reference,
relative to the largest magnitude of the result.

The C set's outputs come from its buffer pool, poisoned with NaN / -1 when reused, and the
emulated CUDA launches use 37 threads a block and at most 3 blocks (every grid-stride loop
wraps), so a kernel that leaves an element unwritten fails. Also: float64 gradient checks of the
layers and a small network's gradients with the set selected, and bad calls raising Python
exceptions before any kernel runs.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn import backend
from minicnn.backend import reference
from minicnn.backend.geometry import Window, output_size
from minicnn.utils.gradcheck import gradcheck

from kernel_sets import DEVICE_SETS

DTYPES = [np.float32, np.float64]


def assert_close(actual, expected):
    """Within 1e-12 (float64) / 1e-5 (float32) of expected, relative to its largest magnitude."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    tolerance = 1e-12 if expected.dtype == np.float64 else 1e-5
    scale = max(float(np.max(np.abs(expected), initial=0.0)), np.finfo(expected.dtype).tiny)
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


def assert_same(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def each(assertion, actual, expected):
    actual = actual if isinstance(actual, tuple) else (actual,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assertion(a, e)


# ----- drawn configurations -----------------------------------------------------------------

@st.composite
def windows(draw, dilation=True, max_channels=3):
    """x of shape (N, C, H, W) and a window (kh, kw, sh, sw, ph, pw, dh, dw) that fits."""
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, max_channels))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    assume(output_size(H, kh, sh, ph, dh) >= 1 and output_size(W, kw, sw, pw, dw) >= 1)
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2 ** 16))
    return (N, C, H, W), (kh, kw, sh, sw, ph, pw, dh, dw), dtype, np.random.default_rng(seed)


def normal(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


# ----- convolution --------------------------------------------------------------------------

@given(config=windows())
def test_im2col_and_col2im_match_reference_bit_for_bit(kernel_set, config):
    (N, C, H, W), window, dtype, rng = config
    k = kernel_set.kernels
    x = normal(rng, (N, C, H, W), dtype)
    each(assert_same, k.im2col(x, *window), reference.im2col(x, *window))
    cols = normal(rng, reference.im2col(x, *window).shape, dtype)
    each(assert_same, k.col2im(cols, N, C, H, W, *window),
         reference.col2im(cols, N, C, H, W, *window))


@given(config=windows(), groups=st.integers(1, 3), f_per_group=st.integers(1, 3))
def test_conv_family_matches_reference(kernel_set, config, groups, f_per_group):
    """conv2d_forward, conv2d_backward_input and conv2d_backward_weight, arithmetic: 1e-12 / 1e-5."""
    (N, C, H, W), window, dtype, rng = config
    k = kernel_set.kernels
    window = Window(*window)
    x = normal(rng, (N, C * groups, H, W), dtype)
    weight = normal(rng, (f_per_group * groups, C, window.kh, window.kw), dtype)
    y = reference.conv2d_forward(x, weight, groups, window)
    each(assert_close, k.conv2d_forward(x, weight, groups, window), y)
    grad_y = normal(rng, y.shape, dtype)
    each(assert_close, k.conv2d_backward_input(grad_y, weight, groups, window, (H, W)),
         reference.conv2d_backward_input(grad_y, weight, groups, window, (H, W)))
    each(assert_close, k.conv2d_backward_weight(x, grad_y, groups, window),
         reference.conv2d_backward_weight(x, grad_y, groups, window))


def test_non_contiguous_input_is_read_as_it_is(kernel_set):
    x = np.arange(2 * 3 * 6 * 5, dtype=np.float64).reshape(2, 3, 6, 5)[:, ::2, :, ::-1]
    assert_same(kernel_set.kernels.im2col(x, 3, 2, 1, 2, 1, 0, 1, 1),
                reference.im2col(x, 3, 2, 1, 2, 1, 0, 1, 1))


# ----- pooling ------------------------------------------------------------------------------

@given(config=windows(), ceil_mode=st.booleans(), with_ties=st.booleans())
def test_max_pool_matches_reference_bit_for_bit(kernel_set, config, ceil_mode, with_ties):
    (N, C, H, W), (kh, kw, sh, sw, ph, pw, dh, dw), dtype, rng = config
    k = kernel_set.kernels
    x = normal(rng, (N, C, H, W), dtype)
    if with_ties:  # ties, -inf and NaN: the tie-breaking rules must agree too
        x = np.round(x).astype(dtype)
        x.flat[rng.integers(0, x.size, 2)] = [-np.inf, np.nan]
    oh, ow = output_size(H, kh, sh, ph, dh, ceil_mode), output_size(W, kw, sw, pw, dw, ceil_mode)
    args = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    y, indices = reference.max_pool2d_forward(x, *args)
    each(assert_same, k.max_pool2d_forward(x, *args), (y, indices))
    grad_y = normal(rng, y.shape, dtype)
    each(assert_same, k.max_pool2d_backward(grad_y, indices, H, W),
         reference.max_pool2d_backward(grad_y, indices, H, W))


@given(H=st.integers(2, 9), W=st.integers(2, 9), ceil_mode=st.booleans(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_max_pool_2x2_matches_reference_bit_for_bit(kernel_set, H, W, ceil_mode, dtype, seed):
    """The 2x2 window at stride 2 (the C set's unrolled path), odd sizes, ceil mode (a last
    window past the edge: the general path), ties, -inf and NaN."""
    rng = np.random.default_rng(seed)
    x = np.round(normal(rng, (2, 3, H, W), dtype))
    x.flat[rng.integers(0, x.size, 3)] = [-np.inf, np.nan, np.nan]
    oh, ow = output_size(H, 2, 2, 0, 1, ceil_mode), output_size(W, 2, 2, 0, 1, ceil_mode)
    args = (2, 2, 2, 2, 0, 0, 1, 1, oh, ow)
    y, indices = reference.max_pool2d_forward(x, *args)
    each(assert_same, kernel_set.kernels.max_pool2d_forward(x, *args), (y, indices))


@given(config=windows(dilation=False), ceil_mode=st.booleans(), count_include_pad=st.booleans())
def test_avg_pool_matches_reference(kernel_set, config, ceil_mode, count_include_pad):
    (N, C, H, W), (kh, kw, sh, sw, ph, pw, _, _), dtype, rng = config
    k = kernel_set.kernels
    x = normal(rng, (N, C, H, W), dtype)
    oh, ow = output_size(H, kh, sh, ph, 1, ceil_mode), output_size(W, kw, sw, pw, 1, ceil_mode)
    # PyTorch's ceil_mode rule: the last window starts inside the image or its left padding
    assume((oh - 1) * sh < H + ph)
    args = (kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad)
    each(assert_close, k.avg_pool2d_forward(x, *args), reference.avg_pool2d_forward(x, *args))
    grad_y = normal(rng, (N, C, oh, ow), dtype)
    args = (H, W, kh, kw, sh, sw, ph, pw, count_include_pad)
    each(assert_close, k.avg_pool2d_backward(grad_y, *args),
         reference.avg_pool2d_backward(grad_y, *args))


# ----- normalisation ------------------------------------------------------------------------

@given(config=windows(max_channels=6), affine=st.booleans(), shift=st.floats(-3, 3),
       spread=st.floats(0.2, 5))
def test_batch_norm_matches_reference(kernel_set, config, affine, shift, spread):
    """The kernels sum in double; the float32 reference sums in float32, which with a few values
    per channel loses digits to the cancellation in dx. So float32 is held to the reference run
    in float64 (and rounded to float32)."""
    (N, C, H, W), _, dtype, rng = config
    assume(N * H * W > 1)
    k = kernel_set.kernels
    x = (shift + spread * rng.standard_normal((N, C, H, W))).astype(dtype)
    weight = normal(rng, C, dtype) if affine else None
    bias = normal(rng, C, dtype) if affine else None
    grad_y = normal(rng, x.shape, dtype)
    wide = [None if a is None else a.astype(np.float64) for a in (x, weight, bias, grad_y)]
    y, mean, var, invstd = reference.batch_norm_forward(*wide[:3], 1e-5)
    expected = reference.batch_norm_backward(wide[3], wide[0], wide[1], mean, invstd)
    narrow = lambda arrays: tuple(a.astype(dtype) for a in arrays)  # noqa: E731
    each(assert_close, k.batch_norm_forward(x, weight, bias, 1e-5), narrow((y, mean, var, invstd)))
    mean, invstd = mean.astype(dtype), invstd.astype(dtype)
    if dtype == np.float64:
        expected = reference.batch_norm_backward(grad_y, x, weight, mean, invstd)
    each(assert_close, k.batch_norm_backward(grad_y, x, weight, mean, invstd), narrow(expected))


def test_batch_norm_variance_survives_a_large_mean(kernel_set):
    """1e4 + small noise in float32: E[x^2] - E[x]^2 would lose every digit of the variance."""
    x = (1e4 + np.random.default_rng(1).standard_normal((4, 2, 5, 5))).astype(np.float32)
    each(assert_close, kernel_set.kernels.batch_norm_forward(x, None, None, 1e-5),
         reference.batch_norm_forward(x, None, None, 1e-5))


@given(config=windows(max_channels=6), affine=st.booleans(),
       statistics_dtype=st.sampled_from([np.float32, np.float64]))
def test_batch_norm_inference_matches_reference_bit_for_bit(kernel_set, config, affine,
                                                            statistics_dtype):
    """The same operations in the same order, and statistics of either dtype."""
    (N, C, H, W), _, dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    running_mean = normal(rng, C, statistics_dtype)
    running_var = np.abs(normal(rng, C, statistics_dtype)) + 0.1
    weight = normal(rng, C, dtype) if affine else None
    bias = normal(rng, C, dtype) if affine else None
    each(assert_same, kernel_set.kernels.batch_norm_inference_forward(
        x, running_mean, running_var, weight, bias, 1e-5),
         reference.batch_norm_inference_forward(x, running_mean, running_var, weight, bias, 1e-5))


@given(config=windows(max_channels=7), size=st.integers(1, 6),
       alpha=st.sampled_from([1e-4, 1e-2, 1.0]), beta=st.sampled_from([0.5, 0.75, 1.0]),
       k=st.sampled_from([1.0, 2.0]))
def test_lrn_matches_reference(kernel_set, config, size, alpha, beta, k):
    (N, C, H, W), _, dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    y, scale = reference.lrn_forward(x, size, alpha, beta, k)
    each(assert_close, kernel_set.kernels.lrn_forward(x, size, alpha, beta, k), (y, scale))
    grad_y = normal(rng, x.shape, dtype)
    each(assert_close, kernel_set.kernels.lrn_backward(grad_y, x, y, scale, size, alpha, beta, k),
         reference.lrn_backward(grad_y, x, y, scale, size, alpha, beta, k))


# ----- elementwise: ReLU, GELU, dropout -------------------------------------------------------

shapes = st.lists(st.integers(1, 7), min_size=0, max_size=4).map(tuple)


@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_relu_matches_reference_bit_for_bit(kernel_set, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype)
    y = reference.relu_forward(x)
    each(assert_same, kernel_set.kernels.relu_forward(x), y)
    grad_y = normal(rng, shape, dtype)
    each(assert_same, kernel_set.kernels.relu_backward(grad_y, y),
         reference.relu_backward(grad_y, y))


@given(shape=shapes, dtype=st.sampled_from(DTYPES), approximate=st.sampled_from(["none", "tanh"]),
       seed=st.integers(0, 2 ** 16))
def test_gelu_matches_reference(kernel_set, shape, dtype, approximate, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(normal(rng, shape, dtype) * 4, dtype)  # into the tails: erf, tanh saturate
    each(assert_close, kernel_set.kernels.gelu_forward(x, approximate),
         reference.gelu_forward(x, approximate))
    grad_y = normal(rng, shape, dtype)
    each(assert_close, kernel_set.kernels.gelu_backward(grad_y, x, approximate),
         reference.gelu_backward(grad_y, x, approximate))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_of_special_values_matches_reference(kernel_set, dtype, approximate):
    """Infinities and NaN (inf * e^-inf is NaN in the backward), the far tails (where the C
    set's float32 e^v underflows to 0), signed zeros."""
    x = np.array([np.inf, -np.inf, np.nan, -100, -13.3, 13.3, -0.0, 0.0, 1e-30], dtype)
    with np.errstate(invalid="ignore"):
        forward, backward = (reference.gelu_forward(x, approximate),
                             reference.gelu_backward(np.ones_like(x), x, approximate))
    k = kernel_set.kernels
    for actual, expected in ((k.gelu_forward(x, approximate), forward),
                             (k.gelu_backward(np.ones_like(x), x, approximate), backward)):
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-30)


@given(shape=shapes, dtype=st.sampled_from(DTYPES), p=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
       seed=st.integers(0, 99))
def test_dropout_matches_reference_bit_for_bit(kernel_set, shape, dtype, p, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype)
    mask = reference.dropout_mask(shape, p, dtype, np.random.default_rng(seed))
    assert_same(kernel_set.kernels.dropout_mask(shape, p, dtype, np.random.default_rng(seed)),
                mask)
    each(assert_same, kernel_set.kernels.dropout_apply(x, mask), reference.dropout_apply(x, mask))


# ----- softmax cross-entropy ----------------------------------------------------------------

@given(M=st.integers(1, 6), C=st.integers(1, 80), dtype=st.sampled_from(DTYPES),
       weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 1.0]),
       seed=st.integers(0, 2 ** 16), spread=st.floats(0.1, 30))
def test_softmax_cross_entropy_matches_reference(kernel_set, M, C, dtype, weighted, smoothing,
                                                 seed, spread):
    rng = np.random.default_rng(seed)
    logits = (spread * rng.standard_normal((M, C))).astype(dtype)
    target = rng.integers(0, C, M)
    target[rng.random(M) < 0.2] = -100
    weight = rng.random(C).astype(dtype) + 0.1 if weighted else None
    args = (target, weight, -100, smoothing)
    loss, log_probs = reference.softmax_cross_entropy_forward(logits, *args)
    each(assert_close, kernel_set.kernels.softmax_cross_entropy_forward(logits, *args),
         (loss, log_probs))
    grad_loss = normal(rng, M, dtype)
    each(assert_close,
         kernel_set.kernels.softmax_cross_entropy_backward(grad_loss, log_probs, *args),
         reference.softmax_cross_entropy_backward(grad_loss, log_probs, *args))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_softmax_cross_entropy_with_infinite_logits_matches_reference(kernel_set):
    """A -inf logit, an ignored row, and float32 logits of 3e38: PyTorch's finite losses."""
    cases = [(np.array([[0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]]), np.array([0, 2])),
             (np.array([[0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]]), np.array([-100, 2])),
             (np.array([[3e38, -3e38, 0.0, 1.0]], np.float32), np.array([0]))]
    for logits, target in cases:
        args = (target, None, -100, 0.0)
        loss, log_probs = reference.softmax_cross_entropy_forward(logits, *args)
        assert np.isfinite(loss).all()
        assert_same(kernel_set.kernels.softmax_cross_entropy_forward(logits, *args)[0], loss)


# ----- optimizer updates --------------------------------------------------------------------

def run_update(kernel_set, step, arrays, options):
    """Run ``step`` of the kernel set and of the reference on copies of ``arrays`` (name ->
    array or None); return both sets' arrays after the step, the gradient and Nones left out."""
    results = []
    for kernels in (kernel_set.kernels, reference):
        copies = {name: (None if a is None else a.copy()) for name, a in arrays.items()}
        getattr(kernels, step)(*copies.values(), **options)
        results.append(tuple(a for name, a in copies.items() if name != "grad" and a is not None))
    return results


@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16), nesterov=st.booleans(),
       maximize=st.booleans(), momentum=st.sampled_from([0.0, 0.9]),
       dampening=st.sampled_from([0.0, 0.1]), decay=st.sampled_from([0.0, 1e-2]))
def test_sgd_step_matches_reference(kernel_set, dtype, seed, nesterov, maximize, momentum,
                                    dampening, decay):
    rng = np.random.default_rng(seed)
    arrays = {"param": normal(rng, (3, 4), dtype), "grad": normal(rng, (3, 4), dtype),
              "momentum_buffer": normal(rng, (3, 4), dtype) if momentum else None}
    options = dict(lr=0.1, momentum=momentum, dampening=dampening, weight_decay=decay,
                   nesterov=nesterov and momentum > 0 and dampening == 0, maximize=maximize,
                   first_step=bool(seed % 2))
    each(assert_close, *run_update(kernel_set, "sgd_step", arrays, options))


@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16), amsgrad=st.booleans(),
       decoupled=st.booleans(), maximize=st.booleans(), decay=st.sampled_from([0.0, 1e-2]),
       step=st.integers(1, 50))
def test_adam_step_matches_reference(kernel_set, dtype, seed, amsgrad, decoupled, maximize,
                                     decay, step):
    rng = np.random.default_rng(seed)
    arrays = {"param": normal(rng, (5,), dtype), "grad": normal(rng, (5,), dtype),
              "exp_avg": normal(rng, (5,), dtype) * 0.1,
              "exp_avg_sq": rng.random(5).astype(dtype) * 0.1,
              "max_exp_avg_sq": rng.random(5).astype(dtype) * 0.1 if amsgrad else None}
    options = dict(step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay,
                   decoupled_weight_decay=decoupled, amsgrad=amsgrad, maximize=maximize)
    each(assert_close, *run_update(kernel_set, "adam_step", arrays, options))


@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16), centered=st.booleans(),
       maximize=st.booleans(), momentum=st.sampled_from([0.0, 0.9]),
       decay=st.sampled_from([0.0, 1e-2]))
def test_rmsprop_step_matches_reference(kernel_set, dtype, seed, centered, maximize, momentum,
                                        decay):
    rng = np.random.default_rng(seed)
    arrays = {"param": normal(rng, (4, 2), dtype), "grad": normal(rng, (4, 2), dtype),
              "square_avg": rng.random((4, 2)).astype(dtype) + 0.5,
              "grad_avg": normal(rng, (4, 2), dtype) * 0.1 if centered else None,
              "momentum_buffer": normal(rng, (4, 2), dtype) if momentum else None}
    options = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=decay, momentum=momentum,
                   centered=centered, maximize=maximize)
    each(assert_close, *run_update(kernel_set, "rmsprop_step", arrays, options))


@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16), nesterov=st.booleans(),
       amsgrad=st.booleans(), decoupled=st.booleans(), centered=st.booleans(),
       step=st.integers(1, 30))
def test_updates_of_wide_state_match_reference(kernel_set, dtype, seed, nesterov, amsgrad,
                                               decoupled, centered, step):
    """Each update on (3, 13) arrays (39 elements: more than an emulated block's 37 threads),
    its state drawn at its own scale and at least half of it (so that RMSprop's centred
    variance square_avg - grad_avg**2 stays positive)."""
    rng = np.random.default_rng(seed)
    updates = {
        "sgd_step": (["momentum_buffer"], [1.0],
                     dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-2,
                          nesterov=nesterov, maximize=False, first_step=step == 1)),
        "adam_step": (["exp_avg", "exp_avg_sq", "max_exp_avg_sq"], [0.1, 0.1, 0.1 if amsgrad else None],
                      dict(step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                           weight_decay=1e-2, decoupled_weight_decay=decoupled,
                           amsgrad=amsgrad, maximize=bool(seed % 2))),
        "rmsprop_step": (["square_avg", "grad_avg", "momentum_buffer"],
                         [1.0, 0.1 if centered else None, 0.5],
                         dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9,
                              centered=centered, maximize=False)),
    }
    for name, (state, scales, options) in updates.items():
        arrays = {"param": normal(rng, (3, 13), dtype), "grad": normal(rng, (3, 13), dtype)}
        arrays.update({s: None if scale is None else
                       (scale * (0.5 + np.abs(rng.standard_normal((3, 13))))).astype(dtype)
                       for s, scale in zip(state, scales)})
        each(assert_close, *run_update(kernel_set, name, arrays, options))


def test_update_of_a_non_contiguous_parameter_lands_in_it(kernel_set):
    param = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]
    grad = np.ones((3, 2))
    expected = param - 0.5 * grad
    kernel_set.kernels.sgd_step(param, grad, None, 0.5, 0.0, 0.0, 0.0, False, False, True)
    assert_same(param, expected)


# ----- layers and a network with the kernel set selected ------------------------------------

def away_from_ties(rng, shape):
    """Distinct values in (-1, 1), 2/n apart and at least 1/n from 0 (n elements, far more
    than the gradcheck's step): no ties in a max-pool window, no ReLU kink."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + 0.5) * (2 / n)).reshape(shape)


# name -> (function, input shapes, elements checked per input: None for all)
LAYERS = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
               [(2, 3, 7, 6), (4, 3, 3, 2), (4,)], None),
    "conv2d_groups": (lambda x, w: F.conv2d(x, w, stride=1, padding=(0, 1), groups=2),
                      [(2, 4, 5, 5), (6, 2, 2, 3)], None),
    "conv2d_dilated_groups": (lambda x, w: F.conv2d(x, w, stride=2, padding=1, dilation=2,
                                                    groups=2), [(2, 4, 9, 8), (6, 2, 3, 2)], 30),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                   [(2, 2, 7, 6)], None),
    "max_pool2d_stride1": (lambda x: F.max_pool2d(x, 3, stride=1), [(1, 2, 5, 6)], None),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                          count_include_pad=False), [(2, 2, 7, 6)], None),
    "batch_norm": (lambda x, w, b: F.batch_norm(F.relu(x * 1.5), None, None, w, b, training=True),
                   [(3, 4, 3, 2), (4,), (4,)], None),
    # times x: the sum of a batch norm's outputs barely depends on x, which leaves its
    # gradient to rounding noise
    "batch_norm_times_x": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) * x,
                           [(3, 4, 5, 5), (4,), (4,)], 30),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3, alpha=0.1, beta=0.75, k=2.0),
                            [(2, 5, 3, 3)], None),
    "relu": (lambda x: F.relu(x), [(3, 4, 5)], None),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2, -100]),
                                                label_smoothing=0.1), [(5, 3)], None),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradcheck_on_the_kernel_set(kernel_set, name):
    """Central differences in float64, the layers' ops running on the kernel set."""
    fn, shapes, max_elements = LAYERS[name]
    rng = np.random.default_rng(7)
    inputs = [kernel_set.tensor(away_from_ties(rng, shape), requires_grad=True)
              for shape in shapes]
    with kernel_set.selected():
        assert backend.kernels_for(inputs[0].array) is kernel_set.module
        result = gradcheck(fn, inputs, max_elements=max_elements)
    assert result, str(result)


def test_dropout_gradcheck_on_the_kernel_set(kernel_set):
    x = kernel_set.tensor(np.random.default_rng(8).standard_normal((4, 6)), requires_grad=True)

    def fn(x):
        mc.manual_seed(5)  # the same mask on every evaluation
        return F.dropout(x, 0.4, training=True)

    with kernel_set.selected():
        result = gradcheck(fn, [x])
    assert result, str(result)


def test_conv_layers_sharing_a_shape_keep_their_saved_arrays(kernel_set):
    """Three convolutions of one shape: a kernel set that reuses an output buffer (the C set's
    pool) must not hand one out while a layer still holds it for its backward."""
    rng = np.random.default_rng(3)
    x = kernel_set.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    weights = [kernel_set.tensor(rng.standard_normal((3, 3, 3, 3)) * 0.3, requires_grad=True)
               for _ in range(3)]

    def net(x, *weights):
        for w in weights:
            x = F.relu(F.conv2d(x, w, padding=1))
        return x

    with kernel_set.selected():
        y_ours = net(x, *weights)
        y_ours.sum().backward()
        grads_ours = [t.grad.numpy().copy() for t in (x, *weights)]
    leaves = [mc.tensor(t.numpy(), requires_grad=True) for t in (x, *weights)]
    with mc.backend("numpy"):
        y_spec = net(*leaves)
        y_spec.sum().backward()
    each(assert_close, y_ours.numpy(), y_spec.numpy())
    for grad, leaf in zip(grads_ours, leaves):
        assert_close(grad, leaf.grad.numpy())


def test_network_gradients_on_the_kernel_set_match_the_reference(kernel_set):
    """conv, batch norm, ReLU, max / avg pooling, LRN, dropout (p = 0), linear, cross-entropy:
    every parameter's gradient in float64 on the kernel set equals the NumPy reference's on the
    CPU within 1e-10 of the largest gradient of the network. Not of each parameter's own
    largest: conv1's bias gradient is zero in exact arithmetic (a batch norm follows), so both
    sides hold rounding noise of about 1e-17 there, which differs between cuBLAS and NumPy."""
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(3),
                          nn.Conv2d(6, 8, 3, stride=2, groups=2), nn.AvgPool2d(2, ceil_mode=True),
                          nn.Dropout(0.0), nn.Flatten(), nn.Linear(8, 5)).double()
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 3, 12, 12)), np.array([0, 4, 2, 2])
    gradients = {}
    for run, device, selected in (("spec", "cpu", lambda: mc.backend("numpy")),
                                  ("ours", kernel_set.device, kernel_set.selected)):
        model.to(device)
        model.zero_grad()
        with selected():
            loss = F.cross_entropy(model(mc.tensor(x, device=device)), labels, label_smoothing=0.1)
            loss.backward()
        gradients[run] = [p.grad.numpy().copy() for p in model.parameters()]
    scale = max(np.abs(spec).max() for spec in gradients["spec"])
    for ours, spec in zip(gradients["ours"], gradients["spec"]):
        np.testing.assert_allclose(ours, spec, rtol=0, atol=1e-10 * scale)


# ----- on a device: the arrays' type decides ------------------------------------------------

@pytest.mark.parametrize("kernel_set", DEVICE_SETS, indirect=True)
def test_kernels_for_picks_the_set_for_device_arrays(kernel_set):
    import cupy
    array = cupy.ones(3, cupy.float32)
    with mc.backend("auto"):
        assert backend.kernels_for(array) is kernel_set.module
    with mc.backend("numpy"):
        assert backend.kernels_for(array) is reference
    with mc.backend("c"), pytest.raises(RuntimeError, match="backend 'c' cannot run"):
        backend.kernels_for(array)


@pytest.mark.parametrize("kernel_set", DEVICE_SETS, indirect=True)
def test_a_numpy_operand_with_device_arrays_is_refused_by_name(kernel_set):
    import cupy
    with pytest.raises(TypeError, match=r"grad_y must be a cupy(_standin)?\.ndarray"):
        kernel_set.module.relu_backward(np.ones(3, np.float32), cupy.ones(3, cupy.float32))


# ----- bad calls raise Python exceptions before any kernel runs -----------------------------

x4 = np.zeros((2, 3, 5, 5), np.float32)
window = (3, 3, 1, 1, 1, 1, 1, 1)
read_only = np.zeros(3)
read_only.setflags(write=False)

# name -> (a call of the kernel set k, the exception, a pattern of its message)
BAD_CALLS = {
    "int dtype": (lambda k: k.max_pool2d_forward(x4.astype(np.int32), *window, 5, 5), TypeError,
                  "x must be float32 or float64"),
    "float16": (lambda k: k.relu_forward(np.zeros(3, np.float16)), TypeError, "x must be float"),
    "list": (lambda k: k.relu_forward([1.0, 2.0]), TypeError, r"x must be a \w+\.ndarray"),
    "mixed dtypes": (lambda k: k.relu_backward(np.zeros(3), np.zeros(3, np.float32)),
                     TypeError, "grad_y must have the dtype of y"),
    "gelu mode": (lambda k: k.gelu_forward(np.zeros(3, np.float32), "erf"), ValueError,
                  r"approximate must be one of \('none', 'tanh'\), got 'erf'"),
    "rank": (lambda k: k.max_pool2d_forward(np.zeros((3, 5, 5), np.float32), *window, 5, 5),
             ValueError, "x must have 4 dimensions"),
    "channels": (lambda k: k.batch_norm_forward(x4, np.ones(4, np.float32), None, 1e-5),
                 ValueError, r"weight must have shape \(3,\)"),
    "zero kernel": (lambda k: k.max_pool2d_forward(x4, 0, 3, 1, 1, 0, 0, 1, 1, 3, 3), ValueError,
                    "kh must be >= 1"),
    "negative padding": (lambda k: k.max_pool2d_forward(x4, 3, 3, 1, 1, -1, 0, 1, 1, 3, 3),
                         ValueError, "ph"),
    "zero stride": (lambda k: k.max_pool2d_forward(x4, 2, 2, 0, 1, 0, 0, 1, 1, 2, 2),
                    ValueError, "sh must be >= 1"),
    "window too big": (lambda k: k.max_pool2d_forward(x4, 9, 3, 1, 1, 0, 0, 1, 1, 3, 3), ValueError,
                       "does not fit"),
    "empty input": (lambda k: k.max_pool2d_forward(np.zeros((0, 3, 5, 5), np.float32), *window, 5, 5),
                    ValueError, "every size >= 1"),
    "zero output": (lambda k: k.max_pool2d_forward(x4, 2, 2, 1, 1, 0, 0, 1, 1, 0, 2),
                    ValueError, "oh must be >= 1"),
    "huge output": (lambda k: k.max_pool2d_forward(x4, 2, 2, 1, 1, 0, 0, 1, 1, 2 ** 40, 2 ** 40),
                    ValueError, "oh must be < 2"),
    "cols shape": (lambda k: k.col2im(np.zeros((27, 49), np.float32), 2, 3, 5, 5, *window),
                   ValueError, "cols must have shape"),
    "indices shape": (lambda k: k.max_pool2d_backward(np.zeros((1, 1, 2, 2)),
                                                      np.zeros((1, 1, 2, 1), np.int64), 4, 4),
                      ValueError, "indices must have shape"),
    "index outside the plane": (lambda k: k.max_pool2d_backward(
        np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16, np.int64), 4, 4), IndexError,
        "indices must be -1 or a position"),
    "float indices": (lambda k: k.max_pool2d_backward(np.zeros((1, 1, 2, 2)),
                                                      np.zeros((1, 1, 2, 2)), 4, 4),
                      TypeError, "indices must hold integers"),
    "target out of range": (lambda k: k.softmax_cross_entropy_forward(
        np.zeros((2, 3)), np.array([0, 3]), None, -100, 0.0), IndexError,
        "out of bounds for 3 classes"),
    "mask shape": (lambda k: k.dropout_apply(np.zeros((2, 3)), np.zeros((3, 2))), ValueError,
                   "mask must have the shape"),
    "read-only param": (lambda k: k.sgd_step(read_only, np.zeros(3), None, 0.1, 0.0, 0.0,
                                             0.0, False, False, True),
                        ValueError, "read-only"),
    "step 0": (lambda k: k.adam_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2),
                                     None, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False,
                                     False), ValueError, "step must be >= 1"),
    "float size": (lambda k: k.max_pool2d_forward(x4, 3.0, 3, 1, 1, 1, 1, 1, 1, 5, 5), TypeError,
                   "kh must be an integer"),
    "conv groups": (lambda k: k.conv2d_forward(x4, np.zeros((3, 1, 3, 3), np.float32), 2,
                                               window), ValueError, "divisible by groups"),
    "conv channels": (lambda k: k.conv2d_forward(x4, np.zeros((4, 2, 3, 3), np.float32), 1,
                                                 window), ValueError, "x must have 2 channels"),
    "conv window kernel": (lambda k: k.conv2d_forward(x4, np.zeros((4, 3, 2, 2), np.float32),
                                                      1, window), ValueError, "window's kernel"),
    "conv window type": (lambda k: k.conv2d_forward(x4, np.zeros((4, 3, 3, 3), np.float32),
                                                    1, (3, 3)), TypeError, "window must be"),
    "conv grad_y size": (lambda k: k.conv2d_backward_input(
        np.zeros((2, 4, 4, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32), 1, window, (5, 5)),
        ValueError, "grad_y must have the shape"),
    "conv input_hw": (lambda k: k.conv2d_backward_input(
        np.zeros((2, 4, 5, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32), 1, window, 5),
        TypeError, "input_hw"),
    "conv weight-gradient grad_y": (lambda k: k.conv2d_backward_weight(
        x4, np.zeros((2, 4, 5, 5)), 1, window), TypeError, "grad_y must have the dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_call_raises_a_python_exception(kernel_set, case):
    call, error, match = BAD_CALLS[case]
    with pytest.raises(error, match=match):
        call(kernel_set.kernels)




def adam_on_overlapping_state(k, on):
    state = on(np.zeros(10))
    k.adam_step(state[:5], on(np.zeros(5)), state[3:8], on(np.zeros(5)), None, 1, 1e-3, 0.9,
                0.999, 1e-8, 0.0, False, False, False)


def sgd_with_the_parameter_as_its_gradient(k, on):
    param = on(np.zeros(10))
    k.sgd_step(param, param, None, 0.1, 0.0, 0.0, 0.0, False, False, True)


# updates of the kernel set's module k on arrays that overlap, made where the set's arrays
# live by ``on`` (moved one by one, NumPy views would no longer overlap)
OVERLAPPING_UPDATES = {"overlapping state": adam_on_overlapping_state,
                       "grad is param": sgd_with_the_parameter_as_its_gradient}


@pytest.mark.parametrize("case", sorted(OVERLAPPING_UPDATES))
def test_an_update_on_overlapping_arrays_is_refused(kernel_set, case):
    with pytest.raises(ValueError, match="overlap"):
        OVERLAPPING_UPDATES[case](kernel_set.module, kernel_set.on_set)
