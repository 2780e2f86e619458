"""The GEMM of csrc/gemm.c and the convolutions built on it (csrc/conv2d_gemm.c), called through the
extension's ffi: the product against numpy.matmul on drawn shapes (edge sizes, transposed
operands, leading dimensions, accumulation), the convolutions against the reference with every
micro-kernel this CPU can run (the portable one forced, as on a CPU without AVX2), the same
bits whatever the thread count, the kernel choice refused or taken from the environment, and
the thread pool after a fork, beside PyTorch's OpenMP runtime and (slow) under ThreadSanitizer.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.backend import ckernels, reference
from minicnn.backend.geometry import Window

pytestmark = pytest.mark.skipif(not ckernels.available(),
                                reason="C kernels not built: " + ckernels.unavailable_reason())

ROOT = Path(__file__).resolve().parents[1]
ISAS = ["portable", "avx2", "avx512"]
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def lib():
    return ckernels._ckernels.lib


def ffi():
    return ckernels._ckernels.ffi


def supported_kernels():
    """The micro-kernels this CPU runs: setting one that it cannot run is refused."""
    names = [name for name in ISAS if lib().minicnn_set_gemm_kernel(name.encode()) == 0]
    assert lib().minicnn_set_gemm_kernel(b"auto") == 0
    return names


KERNELS = supported_kernels() if ckernels.available() else []


@pytest.fixture(params=KERNELS)
def gemm_kernel(request):
    assert lib().minicnn_set_gemm_kernel(request.param.encode()) == 0
    assert ckernels.gemm_kernel() == request.param
    yield request.param
    lib().minicnn_set_gemm_kernel(b"auto")


def pointer(array):
    return ffi().from_buffer("float[]" if array.dtype == np.float32 else "double[]", array)


def suffix(dtype):
    return "_f32" if np.dtype(dtype) == np.float32 else "_f64"


def assert_close(actual, expected):
    """Within 1e-5 (float32) / 1e-12 (float64) of expected, relative to its largest magnitude."""
    tolerance = TOLERANCE[expected.dtype]
    scale = max(float(np.max(np.abs(expected), initial=0.0)), np.finfo(expected.dtype).tiny)
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


# ----- the product ----------------------------------------------------------------------------

SIZES = st.one_of(st.sampled_from([1, 2, 5, 6, 7, 8, 9, 16, 17, 31, 32, 33, 48, 65]),
                  st.integers(1, 300))


def stored(rng, rows, columns, transposed, extra, dtype):
    """A (rows, columns) operand as BLAS stores it: its transpose when `transposed`, each stored
    row `extra` elements longer than it needs (the leading dimension). Returns the logical
    matrix, the storage and its leading dimension."""
    shape = (columns, rows) if transposed else (rows, columns)
    storage = rng.standard_normal((shape[0], shape[1] + extra)).astype(dtype)
    matrix = storage[:, :shape[1]]
    return (matrix.T if transposed else matrix), storage, storage.shape[1]


@settings(max_examples=60, deadline=None)
@given(SIZES, SIZES, SIZES, st.booleans(), st.booleans(), st.integers(0, 3), st.integers(0, 3),
       st.integers(0, 2), st.booleans(), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2 ** 16))
def test_gemm_matches_numpy_matmul(M, N, K, trans_a, trans_b, extra_a, extra_b, extra_c,
                                   accumulate, dtype, seed):
    rng = np.random.default_rng(seed)
    a, a_storage, lda = stored(rng, M, K, trans_a, extra_a, dtype)
    b, b_storage, ldb = stored(rng, K, N, trans_b, extra_b, dtype)
    c_storage = rng.standard_normal((M, N + extra_c)).astype(dtype)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    if accumulate:
        expected += c_storage[:, :N]
    untouched = c_storage[:, N:].copy()
    for kernel in KERNELS:
        c = c_storage.copy()
        assert lib().minicnn_set_gemm_kernel(kernel.encode()) == 0
        status = getattr(lib(), "gemm" + suffix(dtype))(
            int(trans_a), int(trans_b), M, N, K, pointer(a_storage), lda, pointer(b_storage), ldb,
            int(accumulate), pointer(c), c.shape[1])
        assert status == 0
        assert_close(c[:, :N], expected.astype(dtype))
        np.testing.assert_array_equal(c[:, N:], untouched)   # past N: the leading dimension
    lib().minicnn_set_gemm_kernel(b"auto")


def test_gemm_refuses_leading_dimensions_shorter_than_a_row():
    a = np.ones((4, 4), np.float32)
    call = lib().gemm_f32
    assert call(0, 0, 4, 4, 4, pointer(a), 3, pointer(a), 4, 0, pointer(a), 4) != 0   # lda < K
    assert call(1, 0, 4, 4, 4, pointer(a), 4, pointer(a), 4, 0, pointer(a), 3) != 0   # ldc < N
    assert call(0, 0, 0, 4, 4, pointer(a), 4, pointer(a), 4, 0, pointer(a), 4) != 0   # M = 0


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


def test_a_kernel_the_cpu_cannot_run_or_an_unknown_name_is_refused():
    assert "portable" in KERNELS
    assert lib().minicnn_set_gemm_kernel(b"sse9") != 0
    for name in set(ISAS) - set(KERNELS):
        assert lib().minicnn_set_gemm_kernel(name.encode()) != 0
    assert lib().minicnn_set_gemm_kernel(b"auto") == 0


def run_python(code, env=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_environment_forces_the_portable_kernel():
    result = run_python("""
        import minicnn as mc
        print(mc.info(quiet=True)["gemm_kernel"])
    """, env=dict(os.environ, MINICNN_GEMM_KERNEL="portable"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["portable"]


CONV_CHECK = """
    import numpy as np
    from minicnn.backend import ckernels, reference
    from minicnn.backend.geometry import Window
    ckernels.set_num_threads(2)
    window = Window(3, 3, 1, 1, 1, 1, 1, 1)
    def check():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 16, 16, 16)).astype(np.float32)
        w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
        for name, args in (("conv2d_forward", (x, w)), ("conv2d_backward_weight", (x, x))):
            actual = getattr(ckernels, name)(*args, 1, window)
            expected = getattr(reference, name)(*args, 1, window)
            assert np.abs(actual - expected).max() <= 1e-5 * np.abs(expected).max(), name
"""


def test_pool_threads_work_again_in_a_forked_child():
    """The parent's pool threads do not exist in a fork; the child makes its own."""
    result = run_python(CONV_CHECK + """
    import os
    check()                                  # the parent's pool threads now exist
    pid = os.fork()
    if pid == 0:
        try:
            check()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "child 0" in result.stdout


def test_convolutions_run_on_their_own_threads_after_torch_loaded_its_openmp():
    """torch loads its own libgomp first; the convolutions do not use OpenMP at all."""
    pytest.importorskip("torch")
    result = run_python("import torch\n" + textwrap.dedent(CONV_CHECK) + "check(); print('ok')")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok" in result.stdout


THREADED_CALLS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "minicnn.h"

int main(void) {
    minicnn_set_num_threads(3);
    const int64_t N = 4, C = 8, H = 9, W = 9, F = 8;
    float *x = malloc(sizeof(float) * N * C * H * W), *w = malloc(sizeof(float) * F * C * 9);
    float *y = malloc(sizeof(float) * N * F * H * W), *dx = malloc(sizeof(float) * N * C * H * W);
    float *dw = malloc(sizeof(float) * F * C * 9);
    for (int i = 0; i < N * C * H * W; i++) x[i] = (float)(i % 7) - 3;
    for (int i = 0; i < F * C * 9; i++) w[i] = (float)(i % 5) - 2;
    for (int round = 0; round < 20; round++) {
        if (conv2d_forward_f32(x, w, y, N, C, H, W, F, 1, 3, 3, 1, 1, 1, 1, 1, 1)
            || conv2d_backward_input_f32(y, w, dx, N, C, H, W, F, 1, 3, 3, 1, 1, 1, 1, 1, 1)
            || conv2d_backward_weight_f32(x, y, dw, N, C, H, W, F, 1, 3, 3, 1, 1, 1, 1, 1, 1)
            || batch_norm_forward_f32(y, NULL, NULL, 1e-5, y, w, w + F, w + 2 * F, N, F, H, W)
            || relu_backward_f32(y, y, y, N * F * H * W))
            return 1;
    }
    pid_t pid = fork();  /* the child makes a pool of its own */
    if (pid == 0)
        _exit(conv2d_backward_weight_f32(x, y, dw, N, C, H, W, F, 1, 3, 3, 1, 1, 1, 1, 1, 1));
    int status;
    waitpid(pid, &status, 0);
    printf("child %d\n", WEXITSTATUS(status));
    return 0;
}
"""


@pytest.mark.slow
def test_thread_pool_under_thread_sanitizer(tmp_path):
    """The kernels that run on the pool, called from C on three threads and after a fork,
    built with -fsanitize=thread: no data race, no lock misuse."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "calls.c").write_text(THREADED_CALLS)
    csrc = ROOT / "csrc"
    built = subprocess.run([compiler, "-O1", "-g", "-std=c11", "-pthread", "-fsanitize=thread",
                            f"-I{csrc}", f"-I{ROOT / 'kernels'}", str(tmp_path / "calls.c"),
                            *map(str, sorted(csrc.glob("*.c"))), "-lm", "-o",
                            str(tmp_path / "calls")], capture_output=True, text=True)
    if built.returncode != 0 and "tsan" in built.stderr:
        pytest.skip("gcc's ThreadSanitizer runtime (libtsan) is not installed")
    assert built.returncode == 0, built.stderr[-3000:]
    ran = subprocess.run([str(tmp_path / "calls")], capture_output=True, text=True, timeout=300)
    assert "ThreadSanitizer" not in ran.stderr, ran.stderr[-5000:]
    assert ran.returncode == 0 and "child 0" in ran.stdout, ran.stdout + ran.stderr[-3000:]
