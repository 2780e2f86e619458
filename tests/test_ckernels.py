"""The C kernels against the NumPy reference (the specification), on shapes and
hyper-parameters that hypothesis draws: data movement (max-pool values and indices and its
backward, dropout, ReLU) bit for bit; arithmetic within 1e-12 (float64) and
1e-5 (float32) of the reference, relative to the largest magnitude of the result.

Every output here comes from the buffer pool, poisoned with NaN / -1 when reused, so a kernel
that leaves an element unwritten fails. Also: the pool never hands out an array still in use,
gradchecks of the layers with the C backend selected, and bad calls raising Python exceptions.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.backend import ckernels, reference
from minicnn.backend.geometry import Window, output_size
from minicnn.utils.gradcheck import gradcheck

pytestmark = pytest.mark.skipif(not ckernels.available(),
                                reason="C kernels not built: " + ckernels.unavailable_reason())

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def poisoned_pool(monkeypatch):
    """Pool every output, however small, and fill reused buffers with NaN / -1."""
    monkeypatch.setattr(ckernels.buffer_pool, "MIN_BYTES", 0)
    monkeypatch.setattr(ckernels.buffer_pool, "poison", True)
    yield
    ckernels.buffer_pool.clear()


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

@given(windows(), st.integers(1, 3), st.integers(1, 3))
def test_conv_family_matches_reference(config, groups, f_per_group):
    """conv2d_forward, conv2d_backward_input and conv2d_backward_weight, arithmetic: 1e-12 / 1e-5."""
    (N, C, H, W), window, dtype, rng = config
    window = Window(*window)
    x = normal(rng, (N, C * groups, H, W), dtype)
    weight = normal(rng, (f_per_group * groups, C, window.kh, window.kw), dtype)
    y = reference.conv2d_forward(x, weight, groups, window)
    each(assert_close, ckernels.conv2d_forward(x, weight, groups, window), y)
    grad_y = normal(rng, y.shape, dtype)
    each(assert_close, ckernels.conv2d_backward_input(grad_y, weight, groups, window, (H, W)),
         reference.conv2d_backward_input(grad_y, weight, groups, window, (H, W)))
    each(assert_close, ckernels.conv2d_backward_weight(x, grad_y, groups, window),
         reference.conv2d_backward_weight(x, grad_y, groups, window))


# ----- pooling ------------------------------------------------------------------------------

@given(windows(), st.booleans(), st.booleans())
def test_max_pool_matches_reference_bit_for_bit(config, ceil_mode, with_ties):
    (N, C, H, W), (kh, kw, sh, sw, ph, pw, dh, dw), dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    if with_ties:  # ties, -inf and NaN: the tie-breaking rules must agree too
        x = np.round(x).astype(dtype)
        x.flat[rng.integers(0, x.size, 2)] = [-np.inf, np.nan]
    oh, ow = output_size(H, kh, sh, ph, dh, ceil_mode), output_size(W, kw, sw, pw, dw, ceil_mode)
    args = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    y, indices = reference.max_pool2d_forward(x, *args)
    each(assert_same, ckernels.max_pool2d_forward(x, *args), (y, indices))
    grad_y = normal(rng, y.shape, dtype)
    each(assert_same, ckernels.max_pool2d_backward(grad_y, indices, H, W),
         reference.max_pool2d_backward(grad_y, indices, H, W))


@given(windows(dilation=False), st.booleans(), st.booleans())
def test_avg_pool_matches_reference(config, ceil_mode, count_include_pad):
    (N, C, H, W), (kh, kw, sh, sw, ph, pw, _, _), dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    oh, ow = output_size(H, kh, sh, ph, 1, ceil_mode), output_size(W, kw, sw, pw, 1, ceil_mode)
    # PyTorch's ceil_mode rule: the last window starts inside the image or its left padding
    assume((oh - 1) * sh < H + ph)
    args = (kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad)
    each(assert_close, ckernels.avg_pool2d_forward(x, *args), reference.avg_pool2d_forward(x, *args))
    grad_y = normal(rng, (N, C, oh, ow), dtype)
    args = (H, W, kh, kw, sh, sw, ph, pw, count_include_pad)
    each(assert_close, ckernels.avg_pool2d_backward(grad_y, *args),
         reference.avg_pool2d_backward(grad_y, *args))


# ----- normalisation ------------------------------------------------------------------------

@given(windows(max_channels=6), st.booleans(), st.floats(-3, 3), st.floats(0.2, 5))
def test_batch_norm_matches_reference(config, affine, shift, spread):
    (N, C, H, W), _, dtype, rng = config
    assume(N * H * W > 1)
    x = (shift + spread * rng.standard_normal((N, C, H, W))).astype(dtype)
    weight = normal(rng, C, dtype) if affine else None
    bias = normal(rng, C, dtype) if affine else None
    y, mean, var, invstd = reference.batch_norm_forward(x, weight, bias, 1e-5)
    each(assert_close, ckernels.batch_norm_forward(x, weight, bias, 1e-5), (y, mean, var, invstd))
    grad_y = normal(rng, x.shape, dtype)
    each(assert_close, ckernels.batch_norm_backward(grad_y, x, weight, mean, invstd),
         reference.batch_norm_backward(grad_y, x, weight, mean, invstd))


@given(windows(max_channels=6), st.booleans(), st.sampled_from([np.float32, np.float64]))
def test_batch_norm_inference_matches_reference_bit_for_bit(config, affine, statistics_dtype):
    """The same operations in the same order, and statistics of either dtype."""
    (N, C, H, W), _, dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    running_mean = normal(rng, C, statistics_dtype)
    running_var = np.abs(normal(rng, C, statistics_dtype)) + 0.1
    weight = normal(rng, C, dtype) if affine else None
    bias = normal(rng, C, dtype) if affine else None
    each(assert_same,
         ckernels.batch_norm_inference_forward(x, running_mean, running_var, weight, bias, 1e-5),
         reference.batch_norm_inference_forward(x, running_mean, running_var, weight, bias, 1e-5))


@given(windows(max_channels=7), st.integers(1, 6), st.sampled_from([1e-4, 1e-2, 1.0]),
       st.sampled_from([0.5, 0.75, 1.0]), st.sampled_from([1.0, 2.0]))
def test_lrn_matches_reference(config, size, alpha, beta, k):
    (N, C, H, W), _, dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    y, scale = reference.lrn_forward(x, size, alpha, beta, k)
    each(assert_close, ckernels.lrn_forward(x, size, alpha, beta, k), (y, scale))
    grad_y = normal(rng, x.shape, dtype)
    each(assert_close, ckernels.lrn_backward(grad_y, x, y, scale, size, alpha, beta, k),
         reference.lrn_backward(grad_y, x, y, scale, size, alpha, beta, k))


# ----- elementwise: ReLU, dropout -----------------------------------------------------------

shapes = st.lists(st.integers(1, 7), min_size=0, max_size=4).map(tuple)


@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2 ** 16))
def test_relu_matches_reference_bit_for_bit(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype)
    y = reference.relu_forward(x)
    each(assert_same, ckernels.relu_forward(x), y)
    grad_y = normal(rng, shape, dtype)
    each(assert_same, ckernels.relu_backward(grad_y, y), reference.relu_backward(grad_y, y))


@given(shapes, st.sampled_from(DTYPES), st.sampled_from([0.0, 0.3, 0.9, 1.0]), st.integers(0, 99))
def test_dropout_matches_reference_bit_for_bit(shape, dtype, p, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype)
    mask = reference.dropout_mask(shape, p, dtype, np.random.default_rng(seed))
    assert_same(ckernels.dropout_mask(shape, p, dtype, np.random.default_rng(seed)), mask)
    each(assert_same, ckernels.dropout_apply(x, mask), reference.dropout_apply(x, mask))


# ----- softmax cross-entropy ----------------------------------------------------------------

@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from(DTYPES), st.booleans(),
       st.sampled_from([0.0, 0.1, 1.0]), st.integers(0, 2 ** 16), st.floats(0.1, 30))
def test_softmax_cross_entropy_matches_reference(M, C, dtype, weighted, smoothing, seed, spread):
    rng = np.random.default_rng(seed)
    logits = (spread * rng.standard_normal((M, C))).astype(dtype)
    target = rng.integers(0, C, M)
    target[rng.random(M) < 0.2] = -100
    weight = rng.random(C).astype(dtype) + 0.1 if weighted else None
    args = (target, weight, -100, smoothing)
    loss, log_probs = reference.softmax_cross_entropy_forward(logits, *args)
    each(assert_close, ckernels.softmax_cross_entropy_forward(logits, *args), (loss, log_probs))
    grad_loss = normal(rng, M, dtype)
    each(assert_close, ckernels.softmax_cross_entropy_backward(grad_loss, log_probs, *args),
         reference.softmax_cross_entropy_backward(grad_loss, log_probs, *args))


# ----- optimizer updates --------------------------------------------------------------------

def run_update(step, state_names, arrays, options):
    """Run ``step`` of both kernel sets on copies of ``arrays``; return both results."""
    results = []
    for kernels in (ckernels, reference):
        copies = {name: (None if a is None else a.copy()) for name, a in arrays.items()}
        getattr(kernels, step)(*copies.values(), **options)
        results.append(tuple(copies[name] for name in state_names if copies[name] is not None))
    return results


@given(st.sampled_from(DTYPES), st.integers(0, 2 ** 16), st.booleans(), st.booleans(),
       st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 0.1]), st.sampled_from([0.0, 1e-2]))
def test_sgd_step_matches_reference(dtype, seed, nesterov, maximize, momentum, dampening, decay):
    rng = np.random.default_rng(seed)
    arrays = {"param": normal(rng, (3, 4), dtype), "grad": normal(rng, (3, 4), dtype),
              "momentum_buffer": normal(rng, (3, 4), dtype) if momentum else None}
    options = dict(lr=0.1, momentum=momentum, dampening=dampening, weight_decay=decay,
                   nesterov=nesterov and momentum > 0 and dampening == 0, maximize=maximize,
                   first_step=bool(seed % 2))
    ours, spec = run_update("sgd_step", ("param", "momentum_buffer"), arrays, options)
    each(assert_close, ours, spec)


@given(st.sampled_from(DTYPES), st.integers(0, 2 ** 16), st.booleans(), st.booleans(),
       st.booleans(), st.sampled_from([0.0, 1e-2]), st.integers(1, 50))
def test_adam_step_matches_reference(dtype, seed, amsgrad, decoupled, maximize, decay, step):
    rng = np.random.default_rng(seed)
    arrays = {"param": normal(rng, (5,), dtype), "grad": normal(rng, (5,), dtype),
              "exp_avg": normal(rng, (5,), dtype) * 0.1,
              "exp_avg_sq": rng.random(5).astype(dtype) * 0.1,
              "max_exp_avg_sq": rng.random(5).astype(dtype) * 0.1 if amsgrad else None}
    options = dict(step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=decay,
                   decoupled_weight_decay=decoupled, amsgrad=amsgrad, maximize=maximize)
    ours, spec = run_update("adam_step", ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                            arrays, options)
    each(assert_close, ours, spec)


@given(st.sampled_from(DTYPES), st.integers(0, 2 ** 16), st.booleans(), st.booleans(),
       st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 1e-2]))
def test_rmsprop_step_matches_reference(dtype, seed, centered, maximize, momentum, decay):
    rng = np.random.default_rng(seed)
    arrays = {"param": normal(rng, (4, 2), dtype), "grad": normal(rng, (4, 2), dtype),
              "square_avg": rng.random((4, 2)).astype(dtype) + 0.5,
              "grad_avg": normal(rng, (4, 2), dtype) * 0.1 if centered else None,
              "momentum_buffer": normal(rng, (4, 2), dtype) if momentum else None}
    options = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=decay, momentum=momentum,
                   centered=centered, maximize=maximize)
    ours, spec = run_update("rmsprop_step",
                            ("param", "square_avg", "grad_avg", "momentum_buffer"), arrays, options)
    each(assert_close, ours, spec)


def test_update_of_a_non_contiguous_parameter_lands_in_it():
    param = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]
    grad = np.ones((3, 2))
    expected = param - 0.5 * grad
    ckernels.sgd_step(param, grad, None, 0.5, 0.0, 0.0, 0.0, False, False, True)
    assert_same(param, expected)


# ----- the buffer pool ----------------------------------------------------------------------

def test_pool_reuses_a_released_array_and_never_one_in_use():
    x = np.ones((2, 3, 4, 4))
    held = ckernels.relu_forward(x)
    second = ckernels.relu_forward(x)
    assert second is not held                       # held is still referenced
    view = second[0]
    del second
    third = ckernels.relu_forward(x)
    assert third.base is not view.base and third is not view.base   # a view keeps its base busy
    address = third.ctypes.data
    del third
    assert ckernels.relu_forward(x).ctypes.data == address          # released: reused
    assert_same(held, x)


def test_conv_layers_sharing_a_shape_keep_their_saved_arrays():
    rng = np.random.default_rng(3)
    x = mc.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    weights = [mc.tensor(rng.standard_normal((3, 3, 3, 3)) * 0.3, requires_grad=True)
               for _ in range(3)]

    def net(x, *weights):
        for w in weights:
            x = F.relu(F.conv2d(x, w, padding=1))
        return x

    with mc.backend("c"):
        y_c = net(x, *weights)
        y_c.sum().backward()
        grads_c = [t.grad.numpy().copy() for t in (x, *weights)]
    for t in (x, *weights):
        t.grad = None
    with mc.backend("numpy"):
        y_ref = net(x, *weights)
        y_ref.sum().backward()
    each(assert_close, y_c.numpy(), y_ref.numpy())
    for grad_c, t in zip(grads_c, (x, *weights)):
        assert_close(grad_c, t.grad.numpy())


# ----- gradient checks with the C kernels selected ------------------------------------------

def away_from_ties(rng, shape):
    """Distinct values in (-1, 1), 2/n apart and at least 1/n from 0 (n elements, far more
    than the gradcheck's step): no ties in a max-pool window, no ReLU kink."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + 0.5) * (2 / n)).reshape(shape)


LAYERS = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
               [(2, 3, 7, 6), (4, 3, 3, 2), (4,)]),
    "conv2d_groups": (lambda x, w: F.conv2d(x, w, stride=1, padding=(0, 1), groups=2),
                      [(2, 4, 5, 5), (6, 2, 2, 3)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                   [(2, 2, 7, 6)]),
    "max_pool2d_stride1": (lambda x: F.max_pool2d(x, 3, stride=1), [(1, 2, 5, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                          count_include_pad=False), [(2, 2, 7, 6)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(F.relu(x * 1.5), None, None, w, b, training=True),
                   [(3, 4, 3, 2), (4,), (4,)]),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3, alpha=0.1, beta=0.75, k=2.0),
                            [(2, 5, 3, 3)]),
    "relu": (lambda x: F.relu(x), [(3, 4, 5)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2, -100]),
                                                label_smoothing=0.1), [(5, 3)]),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradcheck_with_c_kernels(name):
    fn, shapes = LAYERS[name]
    rng = np.random.default_rng(7)
    inputs = [mc.tensor(away_from_ties(rng, shape), dtype=np.float64, requires_grad=True)
              for shape in shapes]
    with mc.backend("c"):
        assert mc.backend.kernels_for(inputs[0].array) is ckernels
        result = gradcheck(fn, inputs)
    assert result, str(result)


def test_dropout_gradcheck_with_c_kernels():
    x = mc.tensor(np.random.default_rng(8).standard_normal((4, 6)), requires_grad=True)

    def fn(x):
        mc.manual_seed(5)  # the same mask on every evaluation
        return F.dropout(x, 0.4, training=True)

    with mc.backend("c"):
        result = gradcheck(fn, [x])
    assert result, str(result)


# ----- bad calls raise Python exceptions ----------------------------------------------------

x4 = np.zeros((2, 3, 5, 5), np.float32)
window = (3, 3, 1, 1, 1, 1, 1, 1)
overlap = np.zeros(10)
read_only = np.zeros(3)
read_only.setflags(write=False)

BAD_CALLS = {
    "int dtype": (lambda: ckernels.max_pool2d_forward(x4.astype(np.int32), *window, 5, 5), TypeError,
                   "x must be float"),
    "float16": (lambda: ckernels.relu_forward(np.zeros(3, np.float16)), TypeError, "x must be float"),
    "list": (lambda: ckernels.relu_forward([1.0, 2.0]), TypeError, "numpy.ndarray"),
    "mixed dtypes": (lambda: ckernels.relu_backward(np.zeros(3), np.zeros(3, np.float32)),
                     TypeError, "grad_y must have the dtype"),
    "rank": (lambda: ckernels.max_pool2d_forward(np.zeros((3, 5, 5), np.float32), *window, 5, 5),
             ValueError,
             "4 dimensions"),
    "channels": (lambda: ckernels.batch_norm_forward(x4, np.ones(4, np.float32), None, 1e-5),
                 ValueError, r"weight must have shape \(3,\)"),
    "zero kernel": (lambda: ckernels.max_pool2d_forward(x4, 0, 3, 1, 1, 0, 0, 1, 1, 3, 3), ValueError,
                    "kh must be >= 1"),
    "negative padding": (lambda: ckernels.max_pool2d_forward(x4, 3, 3, 1, 1, -1, 0, 1, 1, 3, 3),
                         ValueError, "ph"),
    "zero stride": (lambda: ckernels.max_pool2d_forward(x4, 2, 2, 0, 1, 0, 0, 1, 1, 2, 2),
                    ValueError, "sh must be >= 1"),
    "window too big": (lambda: ckernels.max_pool2d_forward(x4, 9, 3, 1, 1, 0, 0, 1, 1, 3, 3), ValueError,
                       "does not fit"),
    "empty input": (lambda: ckernels.max_pool2d_forward(np.zeros((0, 3, 5, 5), np.float32), *window, 5, 5),
                    ValueError, "every size >= 1"),
    "zero output": (lambda: ckernels.max_pool2d_forward(x4, 2, 2, 1, 1, 0, 0, 1, 1, 0, 2),
                    ValueError, "oh must be >= 1"),
    "huge output": (lambda: ckernels.max_pool2d_forward(x4, 2, 2, 1, 1, 0, 0, 1, 1, 2 ** 40, 2 ** 40),
                    ValueError, "oh must be < 2"),
    "indices shape": (lambda: ckernels.max_pool2d_backward(np.zeros((1, 1, 2, 2)),
                                                           np.zeros((1, 1, 2, 1), np.int64), 4, 4),
                      ValueError, "indices must have shape"),
    "index outside the plane": (lambda: ckernels.max_pool2d_backward(
        np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16, np.int64), 4, 4), IndexError, "indices"),
    "float indices": (lambda: ckernels.max_pool2d_backward(np.zeros((1, 1, 2, 2)),
                                                           np.zeros((1, 1, 2, 2)), 4, 4),
                      TypeError, "indices must hold integers"),
    "target out of range": (lambda: ckernels.softmax_cross_entropy_forward(
        np.zeros((2, 3)), np.array([0, 3]), None, -100, 0.0), IndexError, "out of bounds"),
    "mask shape": (lambda: ckernels.dropout_apply(np.zeros((2, 3)), np.zeros((3, 2))), ValueError,
                   "mask must have the shape"),
    "read-only param": (lambda: ckernels.sgd_step(read_only, np.zeros(3), None, 0.1, 0.0, 0.0,
                                                  0.0, False, False, True),
                        ValueError, "read-only"),
    "overlapping state": (lambda: ckernels.adam_step(overlap[:5], np.zeros(5), overlap[3:8],
                                                     np.zeros(5), None, 1, 1e-3, 0.9, 0.999,
                                                     1e-8, 0.0, False, False, False),
                          ValueError, "overlap"),
    "grad is param": (lambda: ckernels.sgd_step(overlap, overlap, None, 0.1, 0.0, 0.0, 0.0,
                                                False, False, True), ValueError, "overlap"),
    "step 0": (lambda: ckernels.adam_step(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2),
                                          None, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False,
                                          False), ValueError, "step must be >= 1"),
    "float size": (lambda: ckernels.max_pool2d_forward(x4, 3.0, 3, 1, 1, 1, 1, 1, 1, 5, 5), TypeError,
                   "kh must be an integer"),
    "conv groups": (lambda: ckernels.conv2d_forward(x4, np.zeros((3, 1, 3, 3), np.float32), 2,
                                                    window), ValueError, "divisible by groups"),
    "conv channels": (lambda: ckernels.conv2d_forward(x4, np.zeros((4, 2, 3, 3), np.float32), 1,
                                                      window), ValueError, "x must have 2 channels"),
    "conv window kernel": (lambda: ckernels.conv2d_forward(x4, np.zeros((4, 3, 2, 2), np.float32),
                                                           1, window), ValueError, "window's kernel"),
    "conv window type": (lambda: ckernels.conv2d_forward(x4, np.zeros((4, 3, 3, 3), np.float32),
                                                         1, (3, 3)), TypeError, "window must be"),
    "conv grad_y size": (lambda: ckernels.conv2d_backward_input(
        np.zeros((2, 4, 4, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32), 1, window, (5, 5)),
        ValueError, "grad_y must have the shape"),
    "conv input_hw": (lambda: ckernels.conv2d_backward_input(
        np.zeros((2, 4, 5, 5), np.float32), np.zeros((4, 3, 3, 3), np.float32), 1, window, 5),
        TypeError, "input_hw"),
    "conv weight-gradient grad_y": (lambda: ckernels.conv2d_backward_weight(
        x4, np.zeros((2, 4, 5, 5)), 1, window), TypeError, "grad_y must have the dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_call_raises_a_python_exception(case):
    call, error, match = BAD_CALLS[case]
    with pytest.raises(error, match=match):
        call()
