"""The C convolutions on the GEMM (csrc/conv2d_gemm.c) against the plain loops of their
definition (csrc/conv2d_direct.c), both through cffi, in float32 and float64: strides, padding,
dilation, groups, non-square kernels, and shapes that take each of the GEMM code's algorithms
(forward from copies of an image or from packed im2col panels; input gradient as a convolution
or through col2im; weight gradient by rows or by columns), with every GEMM micro-kernel this CPU
runs.

Tolerance, per element: the direct loops sum in double and round once; the GEMM code sums the n
products of an element (n = C/G*kh*kw for y, F/G*kh*kw for dx, N*oh*ow for dW) in the element
type, in its own order, fused or not. Summed in any order in a precision whose machine epsilon is
eps, n terms err by at most n eps sum|terms| (for n eps < 1: Higham, Accuracy and Stability of
Numerical Algorithms, 2nd ed., section 3.1), and the direct loop's rounding adds eps/2 |result|.
So an element must lie within (n + 1) eps sum|terms| of the direct loop's, with sum|terms| taken
by the same direct loop on |x|, |W| and |dy|. Where each element is at most one product (a 1x1
kernel with one channel and one filter a group; one output position for dW) no order is left
to differ: the results are equal bit for bit.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minicnn.backend import ckernels, reference
from minicnn.backend.geometry import Window

pytestmark = pytest.mark.skipif(not ckernels.available(),
                                reason="C kernels not built: " + ckernels.unavailable_reason())

DTYPES = [np.float32, np.float64]


def lib():
    return ckernels._ckernels.lib


def pointer(array):
    return ckernels._ckernels.ffi.from_buffer(
        "float[]" if array.dtype == np.float32 else "double[]", array)


def direct(kernel, a, b, out_shape, shape, groups, window):
    """conv2d_direct_<kernel> on arrays a, b: the result of out_shape. shape = (N, C, H, W, F)."""
    out = np.empty(out_shape, a.dtype)
    suffix = "_f32" if a.dtype == np.float32 else "_f64"
    status = getattr(lib(), f"conv2d_direct_{kernel}{suffix}")(
        pointer(a), pointer(b), pointer(out), *shape, groups, *window)
    assert status == 0, status
    return out


def directs(x, weight, grad_y, groups, window):
    """(y, dx, dW) of the direct loops, and the number of terms of each element's sum."""
    (N, C, H, W), F = x.shape, weight.shape[0]
    shape = (N, C, H, W, F)
    return ((direct("forward", x, weight, grad_y.shape, shape, groups, window),
             direct("backward_input", grad_y, weight, x.shape, shape, groups, window),
             direct("backward_weight", x, grad_y, weight.shape, shape, groups, window)),
            (weight[0].size, F // groups * window.kh * window.kw, grad_y[:, 0].size))


def gemm_family(x, weight, grad_y, groups, window):
    return (ckernels.conv2d_forward(x, weight, groups, window),
            ckernels.conv2d_backward_input(grad_y, weight, groups, window, x.shape[2:]),
            ckernels.conv2d_backward_weight(x, grad_y, groups, window))


def inputs(N, C, H, W, F, groups, window, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weight = rng.standard_normal((F, C // groups, window.kh, window.kw)).astype(dtype)
    grad_y = rng.standard_normal((N, F, *window.output_hw(H, W))).astype(dtype)
    return x, weight, grad_y


def assert_within_the_bound(x, weight, grad_y, groups, window):
    expected, terms = directs(x, weight, grad_y, groups, window)
    magnitudes, _ = directs(np.abs(x), np.abs(weight), np.abs(grad_y), groups, window)
    eps = float(np.finfo(x.dtype).eps)
    names = ("forward", "input gradient", "weight gradient")
    for name, actual, exact, size, n in zip(names, gemm_family(x, weight, grad_y, groups, window),
                                            expected, magnitudes, terms):
        assert actual.shape == exact.shape and actual.dtype == exact.dtype, name
        error = np.abs(actual.astype(np.float64) - exact)
        bound = (n + 1) * eps * size.astype(np.float64)
        worst = np.unravel_index(np.argmax(error - bound), error.shape)
        assert np.all(error <= bound), (f"{name}: error {error[worst]:.3g} > bound "
                                        f"{bound[worst]:.3g} at {worst}")


@pytest.fixture(params=["portable", "avx2", "avx512"])
def gemm_kernel(request):
    if lib().minicnn_set_gemm_kernel(request.param.encode()) != 0:
        pytest.skip(f"this CPU does not run the {request.param} micro-kernel")
    yield request.param
    assert lib().minicnn_set_gemm_kernel(b"auto") == 0


# (N, C, H, W, F, groups, window) and the algorithms of conv2d_gemm.c they take
GEOMETRIES = {
    "stride 1: in place, dx as a convolution, dW by rows":
        (2, 16, 9, 8, 6, 1, Window(3, 3, 1, 1, 1, 1, 1, 1)),
    "stride 2, non-square: dx through col2im": (2, 3, 11, 9, 4, 1, Window(3, 2, 2, 1, 1, 0, 1, 1)),
    "dilation and groups": (2, 6, 10, 12, 9, 3, Window(2, 3, 1, 2, 1, 2, 2, 3)),
    "depthwise, stride > kernel": (3, 4, 9, 9, 8, 4, Window(2, 2, 3, 3, 1, 0, 1, 1)),
    "padding past the kernel's span: col2im": (2, 3, 5, 6, 4, 1, Window(1, 2, 1, 1, 1, 2, 1, 1)),
    "a phase per tap": (2, 3, 23, 35, 4, 1, Window(3, 3, 4, 4, 3, 1, 3, 3)),
    "rows wider than a slice: dW by columns": (1, 2, 2, 1100, 3, 1, Window(1, 3, 1, 1, 0, 1, 1, 1)),
    "an image's copies past 2^20 elements: packed panels":
        (1, 32, 200, 200, 2, 1, Window(3, 3, 1, 1, 1, 1, 1, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_gemm_convolutions_match_the_direct_loops(geometry, dtype, gemm_kernel):
    x, weight, grad_y = inputs(*geometry, dtype)
    assert_within_the_bound(x, weight, grad_y, *geometry[5:])


@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 3))
    N = draw(st.integers(1, 3))
    C, F = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    kh, kw, sh, sw = (draw(st.integers(1, 4)) for _ in range(4))
    ph, pw = draw(st.integers(0, kh)), draw(st.integers(0, kw))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    window = Window(kh, kw, sh, sw, ph, pw, dh, dw)
    assume(min(window.output_hw(H, W)) >= 1)
    return N, C, H, W, F, groups, window


@given(geometries(), st.sampled_from(DTYPES), st.integers(0, 2 ** 16))
def test_gemm_convolutions_match_the_direct_loops_on_drawn_shapes(geometry, dtype, seed):
    x, weight, grad_y = inputs(*geometry, dtype, seed)
    assert_within_the_bound(x, weight, grad_y, *geometry[5:])


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_product_an_element_is_equal_bit_for_bit(dtype, gemm_kernel):
    """A 1x1 kernel, one channel and one filter a group: each y and dx element is one product
    (or none: padding, and the dx elements that stride 2 skips); an input as large as the
    window and one image: each dW element is one product."""
    window = Window(1, 1, 2, 2, 1, 0, 1, 1)
    x, weight, grad_y = inputs(2, 4, 7, 6, 4, 4, window, dtype, seed=1)
    expected, _ = directs(x, weight, grad_y, 4, window)
    actual = gemm_family(x, weight, grad_y, 4, window)
    np.testing.assert_array_equal(actual[0], expected[0])
    np.testing.assert_array_equal(actual[1], expected[1])
    window = Window(3, 2, 1, 1, 0, 0, 1, 1)
    x, weight, grad_y = inputs(1, 3, 3, 2, 4, 1, window, dtype, seed=2)   # oh = ow = 1, N = 1
    expected, _ = directs(x, weight, grad_y, 1, window)
    np.testing.assert_array_equal(ckernels.conv2d_backward_weight(x, grad_y, 1, window),
                                  expected[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_direct_loops_match_the_reference(dtype):
    """The C reference itself against the specification (reference.py's im2col + matmul), with
    the same bound: so a wrong direct loop cannot agree with the GEMM code by accident."""
    groups, window = 2, Window(3, 2, 2, 1, 1, 0, 2, 1)
    x, weight, grad_y = inputs(2, 4, 9, 7, 6, groups, window, dtype, seed=3)
    expected, terms = directs(x, weight, grad_y, groups, window)
    magnitudes, _ = directs(np.abs(x), np.abs(weight), np.abs(grad_y), groups, window)
    spec = (reference.conv2d_forward(x, weight, groups, window),
            reference.conv2d_backward_input(grad_y, weight, groups, window, x.shape[2:]),
            reference.conv2d_backward_weight(x, grad_y, groups, window))
    eps = float(np.finfo(dtype).eps)
    for actual, exact, size, n in zip(spec, expected, magnitudes, terms):
        assert np.all(np.abs(actual.astype(np.float64) - exact) <= (n + 1) * eps * size)

