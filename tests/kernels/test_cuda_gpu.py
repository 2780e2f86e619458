"""On a GPU (skipped without one): the CUDA kernels through CuPy against the NumPy reference,
with the very tests of test_cuda_emulation.py (inputs made on the CPU, moved to the GPU, results
moved back), float64 gradient checks of the ops on the CUDA kernel set, and the gradients of a
small network on the CUDA kernel set against the reference on the CPU. benchmarks/gpu_check.sh runs this file.
"""

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from cuda_emulation import OnDevice
from minicnn.backend import cuda as cuda_kernels

pytestmark = pytest.mark.skipif(not cuda_kernels.available(),
                                reason="no GPU: " + cuda_kernels.unavailable_reason())

from test_cuda_emulation import (  # noqa: E402,F401  (collected here with the GPU's fixture)
    test_avg_pool_matches_reference, test_bad_arguments_raise_before_any_launch,
    test_batch_norm_matches_reference, test_batch_norm_variance_survives_a_large_mean,
    test_conv_family_matches_reference, test_im2col_and_col2im_match_reference_bit_for_bit,
    test_lrn_matches_reference, test_max_pool_matches_reference_bit_for_bit,
    test_non_contiguous_input_is_copied, test_optimizer_updates_match_reference,
    test_relu_and_dropout_match_reference_bit_for_bit,
    test_softmax_cross_entropy_matches_reference)


@pytest.fixture(scope="module")
def cuda():
    return OnDevice()


def test_network_gradients_on_the_cuda_kernels_match_the_reference():
    """conv, batch norm, ReLU, max / avg pooling, LRN, dropout (p = 0), linear, cross-entropy:
    every parameter's gradient in float64 on the GPU equals the CPU reference's within 1e-10 of
    the largest gradient of the network. Not of each parameter's own largest: conv1's bias
    gradient is zero in exact arithmetic (a batch norm follows), so both sides hold rounding
    noise of about 1e-17 there, which differs between cuBLAS and NumPy."""
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(3),
                          nn.Conv2d(6, 8, 3, stride=2, groups=2), nn.AvgPool2d(2, ceil_mode=True),
                          nn.Dropout(0.0), nn.Flatten(), nn.Linear(8, 5)).double()
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 3, 12, 12)), np.array([0, 4, 2, 2])
    gradients = {}
    for device, backend in (("cpu", "numpy"), ("cuda", "cuda")):
        model.to(device)
        model.zero_grad()
        with mc.backend(backend):
            loss = F.cross_entropy(model(mc.tensor(x, device=device)), labels, label_smoothing=0.1)
            loss.backward()
        gradients[device] = [p.grad.numpy().copy() for p in model.parameters()]
    scale = max(np.abs(spec).max() for spec in gradients["cpu"])
    for ours, spec in zip(gradients["cuda"], gradients["cpu"]):
        np.testing.assert_allclose(ours, spec, rtol=0, atol=1e-10 * scale)


def _on_gpu(rng, *shape):
    return mc.tensor(rng.standard_normal(shape), requires_grad=True, device="cuda")


GRADCHECKS = {
    "conv2d": (lambda x, w: F.conv2d(x, w, stride=2, padding=1, dilation=2, groups=2),
               [(2, 4, 9, 8), (6, 2, 3, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True), [(2, 3, 7, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True,
                                          count_include_pad=False), [(2, 3, 7, 6)]),
    # times x: the sum of a batch norm's outputs barely depends on x, which leaves its
    # gradient to rounding noise
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) * x,
                   [(3, 4, 5, 5), (4,), (4,)]),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3, alpha=1e-1, k=2.0),
                            [(2, 5, 4, 4)]),
    "relu": (lambda x: F.relu(x), [(3, 7)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([1, 0, 3]), label_smoothing=0.1),
                      [(3, 5)]),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck_on_the_cuda_kernels(name):
    """Central differences in float64 on the GPU, the ops running on the CUDA kernel set."""
    from minicnn.utils.gradcheck import gradcheck
    fn, shapes = GRADCHECKS[name]
    rng = np.random.default_rng(0)
    inputs = [_on_gpu(rng, *shape) for shape in shapes]
    with mc.backend("cuda"):
        result = gradcheck(fn, inputs, max_elements=30)
    assert result, str(result)


def test_kernels_for_picks_the_cuda_set_for_cupy_arrays():
    import cupy
    from minicnn.backend import kernels_for, reference
    array = cupy.ones(3, cupy.float32)
    with mc.backend("auto"):
        assert kernels_for(array) is cuda_kernels
    with mc.backend("numpy"):
        assert kernels_for(array) is reference
    with mc.backend("c"), pytest.raises(RuntimeError, match="backend 'c' cannot run"):
        kernels_for(array)


def test_a_numpy_operand_with_cupy_arrays_is_refused_by_name():
    import cupy
    with pytest.raises(TypeError, match="grad_y must be a cupy.ndarray"):
        cuda_kernels.relu_backward(np.ones(3, np.float32), cupy.ones(3, cupy.float32))
