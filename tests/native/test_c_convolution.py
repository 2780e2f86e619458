"""The C convolutions (csrc/conv2d_gemm.c, on the GEMM of csrc/gemm.c), called through
minicnn.backend.ckernels: forward, input gradient and weight gradient against the reference with
every micro-kernel this CPU can run, an inf reaching only the gradients that read it, the same
bits whatever the thread count, and a float64 gradient check through F.conv2d.
"""

import numpy as np
import pytest

from c_extension import assert_close, lib
from minicnn.backend import ckernels, reference
from minicnn.backend.geometry import Window

pytestmark = pytest.mark.skipif(not ckernels.available(),
                                reason="C kernels not built: " + ckernels.unavailable_reason())


# ----- the convolutions on it -----------------------------------------------------------------

# (N, C, H, W, F, groups, window): ResNet-like layers (several panels, images that share a tile,
# k split into blocks: 32*9 = 288 > 256, weight-gradient chunks), odd sizes, stride > kernel,
# padding, dilation, groups, batch 1, channels 1; the input gradient runs as a convolution at
# stride 1 and through col2im otherwise (stride > 1, or padding past the kernel's span), the
# weight gradient on phase copies of the input rows (one copy at stride 1) and on im2col's rows
# when an output row is wider than a slice; the forward reads phase copies of an image (one per
# row phase and column phase; at stride 1 one copy) when a row is whole panels (32 wide) or one
# vector (8 or 16 wide, depending on the kernel), else a copy per kernel column and row phase.
# The phases: every phase of the stride (3x3, stride 2), only some (dilation 2 at stride 2:
# one), or one per tap (kernel 3, dilation 3, stride 4: 3 different phases of 4)
GEOMETRIES = [
    (2, 16, 32, 32, 16, 1, Window(3, 3, 1, 1, 1, 1, 1, 1)),
    (3, 32, 8, 8, 32, 1, Window(3, 3, 1, 1, 1, 1, 1, 1)),
    (2, 16, 16, 16, 32, 1, Window(3, 3, 2, 2, 1, 1, 1, 1)),
    (2, 16, 16, 16, 32, 1, Window(1, 1, 2, 2, 0, 0, 1, 1)),
    (3, 3, 7, 9, 5, 1, Window(3, 2, 1, 2, 1, 1, 2, 1)),
    (1, 1, 1, 1, 1, 1, Window(1, 1, 1, 1, 0, 0, 1, 1)),
    (5, 6, 5, 5, 9, 3, Window(5, 5, 4, 4, 2, 2, 1, 1)),
    (4, 8, 11, 6, 8, 8, Window(3, 3, 1, 1, 1, 1, 1, 1)),
    (1, 3, 17, 7, 5, 1, Window(4, 1, 3, 1, 0, 0, 1, 1)),
    (40, 2, 3, 3, 3, 1, Window(3, 3, 1, 1, 1, 1, 1, 1)),
    (2, 3, 5, 6, 4, 1, Window(1, 2, 1, 1, 1, 2, 1, 1)),   # padding past the kernel: col2im
    (2, 4, 9, 10, 6, 2, Window(2, 3, 1, 1, 1, 0, 2, 1)),
    (3, 5, 7, 10, 4, 1, Window(3, 2, 1, 1, 0, 1, 1, 3)),
    (1, 2, 2, 1100, 3, 1, Window(1, 3, 1, 1, 0, 1, 1, 1)),  # rows wider than a slice
    (2, 8, 16, 16, 8, 1, Window(3, 3, 1, 1, 1, 1, 1, 1)),
    (2, 8, 32, 32, 16, 1, Window(3, 3, 2, 2, 1, 1, 1, 1)),   # ow 16
    (2, 6, 19, 16, 10, 2, Window(3, 3, 2, 2, 2, 2, 2, 2)),   # dilation 2 at stride 2: one phase
    (2, 3, 23, 35, 4, 1, Window(3, 3, 4, 4, 3, 1, 3, 3)),    # a phase per tap
    (1, 4, 12, 31, 5, 1, Window(2, 3, 3, 2, 0, 1, 1, 1)),    # different strides, ow 16
    (1, 2, 2, 8300, 3, 1, Window(1, 3, 1, 2, 0, 1, 1, 1)),   # stride-2 rows wider than a slice
]


def conv_inputs(geometry, dtype, seed=3):
    N, C, H, W, F, groups, window = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weight = rng.standard_normal((F, C // groups, window.kh, window.kw)).astype(dtype)
    grad_y = rng.standard_normal((N, F, *window.output_hw(H, W))).astype(dtype)
    return x, weight, grad_y


def conv_family(module, geometry, x, weight, grad_y):
    groups, window = geometry[5], geometry[6]
    return (module.conv2d_forward(x, weight, groups, window),
            module.conv2d_backward_input(grad_y, weight, groups, window, x.shape[2:]),
            module.conv2d_backward_weight(x, grad_y, groups, window))


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_convolutions_match_reference_with_every_kernel(geometry, dtype, gemm_kernel):
    x, weight, grad_y = conv_inputs(geometry, dtype)
    for actual, expected in zip(conv_family(ckernels, geometry, x, weight, grad_y),
                                conv_family(reference, geometry, x, weight, grad_y)):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        assert_close(actual, expected)


@pytest.mark.parametrize("window", [Window(1, 3, 1, 1, 0, 0, 1, 1), Window(1, 3, 1, 2, 0, 0, 1, 1),
                                    Window(3, 3, 2, 2, 1, 1, 1, 1)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_inf_in_x_reaches_only_the_weight_gradients_of_taps_that_read_it(window, dtype,
                                                                           gemm_kernel):
    """The weight gradient's views of shared row copies also read x where dy is the zero
    between output rows; an inf there must not turn other taps' gradients into NaN."""
    rng = np.random.default_rng(7)
    for column in (0, 7, 8, 9):    # read by one tap, by several, by none (past the last window)
        x = rng.standard_normal((2, 2, 5, 10)).astype(dtype)
        x[1, 0, 2, column] = np.inf
        grad_y = rng.standard_normal((2, 3, *window.output_hw(5, 10))).astype(dtype)
        actual = ckernels.conv2d_backward_weight(x, grad_y, 1, window)
        expected = reference.conv2d_backward_weight(x, grad_y, 1, window)
        np.testing.assert_array_equal(np.isfinite(actual), np.isfinite(expected))
        np.testing.assert_array_equal(actual[~np.isfinite(expected)],
                                      expected[~np.isfinite(expected)])
        assert_close(actual[np.isfinite(expected)], expected[np.isfinite(expected)])


@pytest.mark.parametrize("geometry", GEOMETRIES[:3] + GEOMETRIES[6:8], ids=str)
def test_same_bits_on_one_thread_and_three(geometry):
    """Items own disjoint outputs and the weight gradient's chunks are fixed by the shapes, so
    the thread count changes no bit."""
    x, weight, grad_y = conv_inputs(geometry, np.float32)
    threads = ckernels.num_threads()
    try:
        ckernels.set_num_threads(1)
        one = [a.copy() for a in conv_family(ckernels, geometry, x, weight, grad_y)]
        ckernels.set_num_threads(3)
        three = conv_family(ckernels, geometry, x, weight, grad_y)
    finally:
        lib().minicnn_set_num_threads(threads)
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_gradcheck_on_the_fused_kernels(stride, gemm_kernel):
    """float64 central differences through F.conv2d on the C set: at stride 1 with more channels
    a group than a panel's rows, the input gradient runs as a convolution and the weight
    gradient on padded rows; at stride 2 through col2im and the rows of phase copies."""
    import minicnn as mc
    import minicnn.nn.functional as F
    from minicnn.utils.gradcheck import gradcheck

    rng = np.random.default_rng(5)
    x, w = (mc.tensor(rng.standard_normal(shape), dtype=np.float64, requires_grad=True)
            for shape in ((2, 16, 5, 6), (16, 8, 3, 3)))
    with mc.backend("c"):
        result = gradcheck(lambda x, w: F.conv2d(x, w, stride=stride, padding=1, groups=2),
                           [x, w], max_elements=120)
    assert result, str(result)
