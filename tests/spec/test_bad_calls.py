"""Bad calls: each gets PyTorch's result or a clear error that names the argument, the same on
every kernel set; kernel-set entry points refuse sizes that do not match their arrays."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn.backend import ckernels, reference

KERNEL_SETS = ["numpy"] + (["c"] if ckernels.available() else [])
KERNEL_MODULES = [reference] + ([ckernels] if ckernels.available() else [])


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_convolutions_without_channels_are_refused(kernel_set):
    with mc.backend(kernel_set):
        with pytest.raises(ValueError, match="channel"):
            F.conv2d(mc.zeros(1, 0, 5, 5), mc.zeros(2, 0, 3, 3))
        with pytest.raises(ValueError, match="channel"):
            F.conv_transpose2d(mc.zeros(1, 0, 5, 5), mc.zeros(0, 2, 3, 3))


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_cross_entropy_refuses_no_classes_and_plain_arrays(kernel_set):
    with mc.backend(kernel_set):
        with pytest.raises(ValueError, match="class"):
            F.cross_entropy(mc.zeros(2, 0), np.zeros((2, 0), np.float32))
        with pytest.raises(TypeError, match="input must be a Tensor"):
            F.cross_entropy(np.zeros((2, 3)), np.zeros(2, np.int64))


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_dropout_of_a_0d_tensor(kernel_set):
    with mc.backend(kernel_set):
        mc.manual_seed(0)
        x = mc.tensor(3.0, requires_grad=True)
        y = F.dropout(x, 0.5, training=True)
        assert y.shape == () and float(y.item()) in (0.0, 6.0)
        y.backward()
        assert float(x.grad.item()) == float(y.item()) / 3.0
        assert F.dropout(x, 0.5, training=False).item() == 3.0


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_linear_with_a_0d_bias_broadcasts_as_pytorch(kernel_set):
    with mc.backend(kernel_set), pytest.raises(TypeError, match="bias dtype float32"):
        F.linear(mc.tensor(np.ones((2, 3))), mc.tensor(np.ones((4, 3))), mc.tensor(1.0))
    with mc.backend(kernel_set):
        x = mc.tensor(np.ones((2, 3)), requires_grad=True)
        weight = mc.tensor(np.ones((4, 3)), requires_grad=True)
        bias = mc.tensor(np.array(1.0), requires_grad=True)            # float64, as x
        y = F.linear(x, weight, bias)
        np.testing.assert_array_equal(y.numpy(), np.full((2, 4), 4.0))
        y.sum().backward()
        assert bias.grad.shape == () and bias.grad.item() == 8.0


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_batch_norm_refuses_mixed_dtypes_and_bad_eps(kernel_set):
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    with mc.backend(kernel_set):
        with pytest.raises(TypeError, match="dtype"):
            nn.BatchNorm2d(3)(mc.tensor(x))                    # float64 input, float32 weights
        for eps in (-1.0, 0.0, float("nan")):
            with pytest.raises(ValueError, match="eps"):
                F.batch_norm(mc.tensor(x), None, None, training=True, eps=eps)
        with pytest.raises(ValueError, match="eps"):
            F.batch_norm(mc.tensor(x), mc.zeros(3).double(), mc.ones(3).double(), eps=-1.0)


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_window_sizes_past_32_bits_are_refused_by_name(kernel_set):
    with mc.backend(kernel_set):
        with pytest.raises(ValueError, match="stride"):
            F.conv2d(mc.zeros(1, 1, 5, 5), mc.zeros(1, 1, 3, 3), stride=2 ** 31)
        with pytest.raises(ValueError, match="stride"):
            F.max_pool2d(mc.zeros(1, 1, 5, 5), 2, stride=2 ** 31)


@pytest.mark.parametrize("kernels", KERNEL_MODULES, ids=lambda k: k.NAME)
def test_kernel_entry_points_check_sizes_against_their_arrays(kernels):
    with pytest.raises(ValueError, match="oh"):     # a 3x3 output claimed for a 2x2 input
        kernels.avg_pool2d_forward(np.ones((1, 1, 2, 2)), 2, 2, 2, 2, 0, 0, 3, 3, True)
    with pytest.raises(ValueError, match="kh"):     # a window larger than the padded input
        kernels.avg_pool2d_backward(np.ones((1, 1, 1, 1)), 2, 2, 2 ** 31 - 1, 2 ** 31 - 1,
                                    1, 1, 0, 0, True)
    with pytest.raises(ValueError, match="oh"):
        kernels.max_pool2d_forward(np.ones((1, 1, 4, 4)), 2, 2, 2, 2, 0, 0, 1, 1, 5, 2)


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
def test_local_response_norm_with_a_window_wider_than_the_channels(kernel_set):
    x = np.random.default_rng(1).random((1, 3, 2, 2))
    with mc.backend(kernel_set):
        huge = F.local_response_norm(mc.tensor(x), 2 ** 22).numpy()
    expected = x / (1.0 + 1e-4 / 2 ** 22 * (x * x).sum(axis=1, keepdims=True)) ** 0.75
    np.testing.assert_allclose(huge, expected, rtol=1e-14)


# ----- the two kernel sets accept and refuse the same calls -----------------------------------

def _outcome(call):
    """The kind of what a call gives: a result's shape, or the type of the exception raised."""
    try:
        result = call()
    except (TypeError, ValueError, IndexError, RuntimeError) as error:
        return type(error).__name__
    return ("result", tuple(result.shape))


sizes = st.integers(-1, 5) | st.sampled_from([0, 2 ** 31, 2 ** 63])
dtypes = st.sampled_from([np.float32, np.float64, np.int64])


@pytest.mark.skipif(not ckernels.available(), reason="the C kernels are not built")
@settings(max_examples=400)
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 6), k=sizes, s=sizes,
       p=sizes, d=sizes, dtype=dtypes, x_dtype=st.sampled_from([np.float32, np.float64]),
       eps=st.sampled_from([1e-5, 0.0, -1.0, float("nan")]),
       op=st.sampled_from(["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
                           "batch_norm", "local_response_norm", "dropout", "relu",
                           "cross_entropy"]))
def test_both_kernel_sets_give_the_same_outcome_kind(N, C, H, k, s, p, d, dtype, x_dtype, eps,
                                                     op):
    """Random hyper-parameters (zero, negative, past 32 or 64 bits) and dtypes on non-empty float
    inputs, the arrays a forced "c" runs (it refuses integer and empty arrays by name, see
    test_backend.py)."""
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((N, C, H, H)).astype(x_dtype))
    w = mc.tensor(rng.standard_normal((2, max(C, 0), 2, 2)).astype(dtype))
    calls = {
        "conv2d": lambda: F.conv2d(x, w, stride=s, padding=p, dilation=d),
        "conv_transpose2d": lambda: F.conv_transpose2d(x, w.permute(1, 0, 2, 3), stride=s,
                                                       padding=p, dilation=d),
        "max_pool2d": lambda: F.max_pool2d(x, k, stride=s, padding=p, dilation=d),
        "avg_pool2d": lambda: F.avg_pool2d(x, k, stride=s, padding=p),
        "batch_norm": lambda: F.batch_norm(x, None, None, training=True, eps=eps),
        "local_response_norm": lambda: F.local_response_norm(x, k),
        "dropout": lambda: F.dropout(x, 0.5, training=True),
        "relu": lambda: F.relu(x),
        "cross_entropy": lambda: F.cross_entropy(x.reshape(N, -1), np.zeros(N, np.int64)),
    }
    outcomes = {}
    for kernel_set in ("numpy", "c"):
        with mc.backend(kernel_set):
            outcomes[kernel_set] = _outcome(calls[op])
    assert outcomes["numpy"] == outcomes["c"]


@pytest.mark.parametrize("kernel_set", KERNEL_SETS)
@pytest.mark.parametrize("weight_shape", [(4, 3, 3), (3,), (1, 4, 3)])
def test_linear_refuses_a_weight_that_is_not_2d(kernel_set, weight_shape):
    with mc.backend(kernel_set), pytest.raises(RuntimeError, match="linear: weight must be "
                                                                   r"\(out_features, in_features"):
        F.linear(mc.tensor(np.ones((2, 3))), mc.tensor(np.ones(weight_shape)))


# (input, weight) shapes with no input features or no output features, and PyTorch's results:
# a product of nothing is 0, so y = bias and every gradient of the empty side is empty
@pytest.mark.parametrize("x_shape, weight_shape", [((2, 0), (4, 0)), ((2, 5, 0), (4, 0)),
                                                   ((2, 3), (0, 3)), ((2, 4, 3), (0, 3))])
def test_linear_without_input_or_output_features_runs_forward_and_backward(x_shape,
                                                                            weight_shape):
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal(x_shape), rng.standard_normal(weight_shape)
    bias = rng.standard_normal(weight_shape[0])
    grad_y = rng.standard_normal(x_shape[:-1] + weight_shape[:1])
    for kernel_set in ("numpy", "auto"):
        with mc.backend(kernel_set):
            tensors = [mc.tensor(a, requires_grad=True) for a in (x, weight, bias)]
            y = F.linear(*tensors)
            y.backward(mc.tensor(grad_y))
        np.testing.assert_allclose(y.numpy(), x @ weight.T + bias)
        np.testing.assert_allclose(tensors[0].grad.numpy(), grad_y @ weight)
        assert tensors[1].grad.shape == weight_shape
        np.testing.assert_allclose(tensors[1].grad.numpy(),
                                   np.tensordot(grad_y, x, (list(range(x.ndim - 1)),) * 2))
        np.testing.assert_allclose(tensors[2].grad.numpy(),
                                   grad_y.sum(axis=tuple(range(grad_y.ndim - 1))))


@pytest.mark.parametrize("ignore_index, error, message", [
    (2 ** 63, ValueError, "ignore_index must fit in int64"),      # PyTorch: ValueError overflow
    (-2 ** 63 - 1, ValueError, "ignore_index must fit in int64"),
    (1.5, TypeError, "ignore_index must be an int, got 1.5"),     # PyTorch: must be int
    (True, TypeError, "ignore_index must be an int, got True"),
])
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
def test_ignore_index_out_of_range_is_refused_alike_by_every_kernel_set(loss, ignore_index,
                                                                        error, message):
    logits = mc.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    for kernel_set in KERNEL_SETS:
        with mc.backend(kernel_set), pytest.raises(error, match=message):
            loss(logits, np.array([0, 1, 2]), ignore_index=ignore_index)
    for kernel_set in KERNEL_SETS:         # the largest int64 ignores nothing, on every set
        with mc.backend(kernel_set):
            assert loss(logits, np.array([0, 1, 2]), ignore_index=2 ** 63 - 1).item() == \
                loss(logits, np.array([0, 1, 2])).item()


def _t(*shape, dtype=np.float32):
    return mc.tensor(np.random.default_rng(0).standard_normal(shape).astype(dtype),
                     requires_grad=True)


# refused calls, each with the error every kernel set must give alike
REFUSED = {
    "conv2d groups": lambda: F.conv2d(_t(1, 4, 5, 5), _t(2, 3, 3, 3), groups=2),
    "conv2d mixed dtypes": lambda: F.conv2d(_t(1, 3, 5, 5), _t(2, 3, 3, 3, dtype=np.float64)),
    "conv2d input too small": lambda: F.conv2d(_t(1, 3, 2, 2), _t(2, 3, 3, 3)),
    "conv2d stride 0": lambda: F.conv2d(_t(1, 3, 5, 5), _t(2, 3, 3, 3), stride=0),
    "conv_transpose2d output_padding": lambda: F.conv_transpose2d(
        _t(1, 3, 5, 5), _t(3, 2, 3, 3), stride=2, output_padding=2),
    "max_pool2d empty": lambda: F.max_pool2d(_t(1, 3, 0, 4), 2),
    "max_pool2d window too big": lambda: F.max_pool2d(_t(1, 3, 2, 2), 3),
    "batch_norm channels": lambda: F.batch_norm(_t(2, 3, 4, 4), None, None, _t(4), _t(4),
                                                training=True),
    "batch_norm one value": lambda: F.batch_norm(_t(1, 3, 1, 1), None, None, training=True),
    "batch_norm eps nan": lambda: F.batch_norm(_t(2, 3, 4, 4), None, None, training=True,
                                               eps=float("nan")),
    "local_response_norm size 0": lambda: F.local_response_norm(_t(2, 3, 4, 4), 0),
    "dropout p 2": lambda: F.dropout(_t(2, 3), 2.0),
    "cross_entropy class 4 of 4": lambda: F.cross_entropy(_t(3, 4), np.array([0, 1, 4])),
    "cross_entropy class -1": lambda: F.cross_entropy(_t(3, 4), np.array([0, -1, 2])),
    "cross_entropy label_smoothing 2": lambda: F.cross_entropy(_t(3, 4), np.array([0, 1, 2]),
                                                               label_smoothing=2.0),
    "linear sizes": lambda: F.linear(_t(2, 3), _t(4, 5)),
    "adaptive_avg_pool2d 0": lambda: F.adaptive_avg_pool2d(_t(1, 3, 4, 4), 0),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_every_kernel_set_refuses_a_bad_call_alike(name):
    errors = []
    for kernel_set in KERNEL_SETS:
        with mc.backend(kernel_set), pytest.raises(Exception) as raised:
            output = REFUSED[name]()
            output.sum().backward()
        errors.append((type(raised.value), str(raised.value)))
    assert all(error == errors[0] for error in errors), errors
