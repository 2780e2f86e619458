"""The GEMM of csrc/gemm.c and the thread pool, called through the extension's ffi: the product
against numpy.matmul on drawn shapes (edge sizes, transposed operands, leading dimensions,
accumulation) with every micro-kernel this CPU can run, the kernel choice refused or taken from
the environment, and the thread pool after a fork, beside PyTorch's OpenMP runtime and (slow)
under ThreadSanitizer. The convolutions built on the GEMM: test_c_convolution.py.
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

from c_extension import ISAS, KERNELS, assert_close, lib, pointer, suffix
from minicnn.backend import ckernels

pytestmark = pytest.mark.skipif(not ckernels.available(),
                                reason="C kernels not built: " + ckernels.unavailable_reason())

ROOT = Path(__file__).resolve().parents[2]


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
