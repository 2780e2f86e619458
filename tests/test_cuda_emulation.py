"""The CUDA kernels of kernels/, compiled for the CPU (tests/cuda_emulation.h) and run through
minicnn.backend.cuda, against the NumPy reference on shapes that hypothesis draws: data movement
(im2col, col2im, max pooling, ReLU, dropout) bit for bit, arithmetic within 1e-12 (float64) /
1e-5 (float32) relative to the result's largest magnitude. The launches use 37 threads a block
and at most 3 blocks, so every grid-stride loop wraps and no block size is a multiple of 32.

Then the sanitizers, each in a subprocess of the real interpreter with gcc's runtime preloaded:
every kernel once under AddressSanitizer and once under ThreadSanitizer, and a deliberately
broken kernel for each (an off-by-one read, a missing __syncthreads) that it must report.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import cuda_emulation
from minicnn.backend import reference
from minicnn.backend.geometry import Window, output_size
from test_ckernels import assert_close, assert_same, each, normal, shapes, windows

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")

ROOT = Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def module():
    return cuda_emulation.EmulatedModule(cuda_emulation.build())


@pytest.fixture(scope="module")
def cuda(module):
    with cuda_emulation.emulated_cuda(module) as kernels:
        yield kernels


# ----- against the reference ----------------------------------------------------------------

@given(config=windows())
def test_im2col_and_col2im_match_reference_bit_for_bit(cuda, config):
    (N, C, H, W), window, dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    assert_same(cuda.im2col(x, *window), reference.im2col(x, *window))
    cols = normal(rng, reference.im2col(x, *window).shape, dtype)
    assert_same(cuda.col2im(cols, N, C, H, W, *window), reference.col2im(cols, N, C, H, W, *window))


@given(config=windows(), groups=st.integers(1, 3), f_per_group=st.integers(1, 2))
def test_conv_family_matches_reference(cuda, config, groups, f_per_group):
    (N, C, H, W), window, dtype, rng = config
    window = Window(*window)
    x = normal(rng, (N, C * groups, H, W), dtype)
    weight = normal(rng, (f_per_group * groups, C, window.kh, window.kw), dtype)
    y = reference.conv2d_forward(x, weight, groups, window)
    assert_close(cuda.conv2d_forward(x, weight, groups, window), y)
    grad_y = normal(rng, y.shape, dtype)
    assert_close(cuda.conv2d_backward_input(grad_y, weight, groups, window, (H, W)),
                 reference.conv2d_backward_input(grad_y, weight, groups, window, (H, W)))
    assert_close(cuda.conv2d_backward_weight(x, grad_y, groups, window),
                 reference.conv2d_backward_weight(x, grad_y, groups, window))


@given(config=windows(), ceil_mode=st.booleans(), with_ties=st.booleans())
def test_max_pool_matches_reference_bit_for_bit(cuda, config, ceil_mode, with_ties):
    (N, C, H, W), (kh, kw, sh, sw, ph, pw, dh, dw), dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    if with_ties:  # ties, -inf and NaN: the tie-breaking rules must agree too
        x = np.round(x).astype(dtype)
        x.flat[rng.integers(0, x.size, 2)] = [-np.inf, np.nan]
    oh, ow = output_size(H, kh, sh, ph, dh, ceil_mode), output_size(W, kw, sw, pw, dw, ceil_mode)
    args = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    y, indices = reference.max_pool2d_forward(x, *args)
    each(assert_same, cuda.max_pool2d_forward(x, *args), (y, indices))
    grad_y = normal(rng, y.shape, dtype)
    assert_same(cuda.max_pool2d_backward(grad_y, indices, H, W),
                reference.max_pool2d_backward(grad_y, indices, H, W))


@given(config=windows(dilation=False), ceil_mode=st.booleans(), count_include_pad=st.booleans())
def test_avg_pool_matches_reference(cuda, config, ceil_mode, count_include_pad):
    (N, C, H, W), (kh, kw, sh, sw, ph, pw, _, _), dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    oh, ow = output_size(H, kh, sh, ph, 1, ceil_mode), output_size(W, kw, sw, pw, 1, ceil_mode)
    assume((oh - 1) * sh < H + ph)  # PyTorch's ceil_mode rule
    args = (kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad)
    assert_close(cuda.avg_pool2d_forward(x, *args), reference.avg_pool2d_forward(x, *args))
    grad_y = normal(rng, (N, C, oh, ow), dtype)
    args = (H, W, kh, kw, sh, sw, ph, pw, count_include_pad)
    assert_close(cuda.avg_pool2d_backward(grad_y, *args),
                 reference.avg_pool2d_backward(grad_y, *args))


@given(config=windows(max_channels=5), affine=st.booleans(), shift=st.floats(-3, 3),
       spread=st.floats(0.2, 5))
def test_batch_norm_matches_reference(cuda, config, affine, shift, spread):
    """The kernels sum in double, as the C kernels do; the float32 reference sums in float32,
    which with a few values per channel loses digits to the cancellation in dx (the C and CUDA
    kernels agree with each other there). So float32 is held to the reference run in float64."""
    (N, C, H, W), _, dtype, rng = config
    assume(N * H * W > 1)
    x = (shift + spread * rng.standard_normal((N, C, H, W))).astype(dtype)
    weight = normal(rng, C, dtype) if affine else None
    bias = normal(rng, C, dtype) if affine else None
    grad_y = normal(rng, x.shape, dtype)
    wide = [None if a is None else a.astype(np.float64) for a in (x, weight, bias, grad_y)]
    y, mean, var, invstd = reference.batch_norm_forward(*wide[:3], 1e-5)
    expected = reference.batch_norm_backward(wide[3], wide[0], wide[1], mean, invstd)
    narrow = lambda arrays: tuple(a.astype(dtype) for a in arrays)  # noqa: E731
    each(assert_close, cuda.batch_norm_forward(x, weight, bias, 1e-5),
         narrow((y, mean, var, invstd)))
    mean, invstd = mean.astype(dtype), invstd.astype(dtype)
    if dtype == np.float64:
        expected = reference.batch_norm_backward(grad_y, x, weight, mean, invstd)
    each(assert_close, cuda.batch_norm_backward(grad_y, x, weight, mean, invstd), narrow(expected))


def test_batch_norm_variance_survives_a_large_mean(cuda):
    """1e4 + small noise in float32: E[x^2] - E[x]^2 would lose every digit of the variance."""
    x = (1e4 + np.random.default_rng(1).standard_normal((4, 2, 5, 5))).astype(np.float32)
    each(assert_close, cuda.batch_norm_forward(x, None, None, 1e-5),
         reference.batch_norm_forward(x, None, None, 1e-5))


@given(config=windows(max_channels=7), size=st.integers(1, 6),
       alpha=st.sampled_from([1e-4, 1e-2, 1.0]), beta=st.sampled_from([0.5, 0.75]),
       k=st.sampled_from([1.0, 2.0]))
def test_lrn_matches_reference(cuda, config, size, alpha, beta, k):
    (N, C, H, W), _, dtype, rng = config
    x = normal(rng, (N, C, H, W), dtype)
    y, scale = reference.lrn_forward(x, size, alpha, beta, k)
    each(assert_close, cuda.lrn_forward(x, size, alpha, beta, k), (y, scale))
    grad_y = normal(rng, x.shape, dtype)
    assert_close(cuda.lrn_backward(grad_y, x, y, scale, size, alpha, beta, k),
                 reference.lrn_backward(grad_y, x, y, scale, size, alpha, beta, k))


@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16),
       p=st.sampled_from([0.0, 0.3, 1.0]))
def test_relu_and_dropout_match_reference_bit_for_bit(cuda, shape, dtype, seed, p):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype)
    y = reference.relu_forward(x)
    assert_same(cuda.relu_forward(x), y)
    grad_y = normal(rng, shape, dtype)
    assert_same(cuda.relu_backward(grad_y, y), reference.relu_backward(grad_y, y))
    mask = cuda.dropout_mask(shape, p, dtype, np.random.default_rng(seed))
    assert_same(mask, reference.dropout_mask(shape, p, dtype, np.random.default_rng(seed)))
    assert_same(cuda.dropout_apply(x, mask), reference.dropout_apply(x, mask))


@given(M=st.integers(1, 5), C=st.integers(1, 80), dtype=st.sampled_from(DTYPES),
       weighted=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 1.0]),
       seed=st.integers(0, 2 ** 16), spread=st.floats(0.1, 30))
def test_softmax_cross_entropy_matches_reference(cuda, M, C, dtype, weighted, smoothing, seed,
                                                 spread):
    rng = np.random.default_rng(seed)
    logits = (spread * rng.standard_normal((M, C))).astype(dtype)
    target = rng.integers(0, C, M)
    target[rng.random(M) < 0.2] = -100
    weight = rng.random(C).astype(dtype) + 0.1 if weighted else None
    args = (target, weight, -100, smoothing)
    loss, log_probs = reference.softmax_cross_entropy_forward(logits, *args)
    each(assert_close, cuda.softmax_cross_entropy_forward(logits, *args), (loss, log_probs))
    grad_loss = normal(rng, M, dtype)
    assert_close(cuda.softmax_cross_entropy_backward(grad_loss, log_probs, *args),
                 reference.softmax_cross_entropy_backward(grad_loss, log_probs, *args))


def test_softmax_cross_entropy_with_infinite_logits_matches_reference(cuda):
    """A -inf logit, an ignored row, and float32 logits of 3e38: PyTorch's finite losses."""
    cases = [(np.array([[0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]]), np.array([0, 2])),
             (np.array([[0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]]), np.array([-100, 2])),
             (np.array([[3e38, -3e38, 0.0, 1.0]], np.float32), np.array([0]))]
    for logits, target in cases:
        args = (target, None, -100, 0.0)
        loss, log_probs = reference.softmax_cross_entropy_forward(logits, *args)
        assert np.isfinite(loss).all()
        assert_same(cuda.softmax_cross_entropy_forward(logits, *args)[0], loss)


@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16), nesterov=st.booleans(),
       amsgrad=st.booleans(), decoupled=st.booleans(), centered=st.booleans(),
       step=st.integers(1, 30))
def test_optimizer_updates_match_reference(cuda, dtype, seed, nesterov, amsgrad, decoupled,
                                           centered, step):
    rng = np.random.default_rng(seed)
    updates = {
        "sgd_step": ([1.0], dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-2,
                                 nesterov=nesterov, maximize=False, first_step=step == 1)),
        "adam_step": ([0.1, 0.1, 0.1 if amsgrad else None],
                      dict(step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                           weight_decay=1e-2, decoupled_weight_decay=decoupled,
                           amsgrad=amsgrad, maximize=bool(seed % 2))),
        "rmsprop_step": ([1.0, 0.1 if centered else None, 0.5],
                         dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9,
                              centered=centered, maximize=False)),
    }
    for name, (state_scales, options) in updates.items():
        arrays = [normal(rng, (3, 13), dtype), normal(rng, (3, 13), dtype)] + [
            None if s is None else (s * np.abs(rng.standard_normal((3, 13)))).astype(dtype)
            for s in state_scales]
        results = []
        for kernels in (cuda, reference):
            copies = [None if a is None else a.copy() for a in arrays]
            getattr(kernels, name)(*copies, **options)
            results.append(tuple(a for i, a in enumerate(copies) if i != 1 and a is not None))
        each(assert_close, *results)


# ----- a network trained through the CUDA kernel set ----------------------------------------

def test_training_steps_on_the_cuda_kernels_match_the_reference(module, monkeypatch):
    """Every op of a small network and the optimizers' updates, as the layers call them, go
    through minicnn.backend.cuda (the emulated kernels, chosen for every float NumPy array):
    forward, backward and three SGD (Nesterov) and Adam steps in
    float64 give the reference's parameters within 1e-10."""
    import minicnn as mc
    import minicnn.nn as nn
    import minicnn.nn.functional as F
    from minicnn import backend

    def train(kernel_set):
        mc.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                              nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(3),
                              nn.Conv2d(6, 8, 3, stride=2, groups=2),
                              nn.AvgPool2d(2, ceil_mode=True), nn.Dropout(0.3), nn.Flatten(),
                              nn.Linear(8, 5)).double()
        parameters = list(model.parameters())
        optimizers = [mc.optim.SGD(parameters[:4], lr=0.1, momentum=0.9, nesterov=True),
                      mc.optim.Adam(parameters[4:], lr=1e-2, weight_decay=1e-3)]
        rng = np.random.default_rng(0)
        x, labels = rng.standard_normal((4, 3, 10, 10)), np.array([0, 4, 2, 2])
        for _ in range(3):
            with backend.use(kernel_set):
                loss = F.cross_entropy(model(mc.tensor(x)), labels, label_smoothing=0.1)
                for optimizer in optimizers:
                    optimizer.zero_grad()
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
        return [p.numpy().copy() for p in parameters]

    expected = train("numpy")
    with cuda_emulation.emulated_cuda(module) as cuda:
        launched = cuda_emulation.RecordingModule(module)
        monkeypatch.setattr(cuda.runtime(), "kernels", launched)
        monkeypatch.setattr(backend.dispatch, "_choices", {})
        monkeypatch.setattr(backend.dispatch, "_choose", lambda name, array: (
            cuda if array.dtype in (np.float32, np.float64) and array.size > 0 else reference))
        ours = train("auto")
    assert {"im2col_f64", "col2im_f64", "batch_norm_backward_f64", "lrn_backward_f64",
            "max_pool2d_backward_f64", "avg_pool2d_backward_f64", "dropout_apply_f64",
            "softmax_cross_entropy_backward_f64", "sgd_step_f64", "adam_step_f64"} <= launched.used
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


# ----- the wrappers' checks and launch errors -----------------------------------------------

def test_the_cuda_set_has_every_kernel_of_the_reference():
    from minicnn.backend import cuda
    names = [name for name, value in vars(reference).items() if callable(value)
             and getattr(value, "__module__", None) == reference.__name__ and name[0] != "_"]
    assert [name for name in names if not hasattr(cuda, name)] == []


def test_bad_arguments_raise_before_any_launch(cuda):
    x = np.ones((2, 3, 4, 4), np.float32)
    with pytest.raises(TypeError, match="grad_y must have the dtype of y"):
        cuda.relu_backward(x.astype(np.float64), x)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        cuda.relu_forward(x.astype(np.int32))
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        cuda.im2col(x[0], 3, 3, 1, 1, 0, 0, 1, 1)
    with pytest.raises(IndexError, match="out of bounds for 3 classes"):
        cuda.softmax_cross_entropy_forward(np.zeros((2, 3), np.float32), np.array([0, 3]),
                                           None, -100, 0.0)
    with pytest.raises(IndexError, match="indices must be -1 or a position"):
        cuda.max_pool2d_backward(x, np.full(x.shape, 16), 4, 4)


def test_non_contiguous_input_is_copied(cuda):
    x = np.arange(2 * 3 * 6 * 5, dtype=np.float64).reshape(2, 3, 6, 5)[:, ::2, :, ::-1]
    assert_same(cuda.im2col(x, 3, 2, 1, 2, 1, 0, 1, 1), reference.im2col(x, 3, 2, 1, 2, 1, 0, 1, 1))


def test_a_launch_error_names_the_kernel(module):
    with cuda_emulation.emulated_cuda(module, block=2048) as cuda:  # CUDA allows 1024
        with pytest.raises(RuntimeError, match="CUDA kernel relu_forward_f32 .* failed: invalid "
                                               "configuration"):
            cuda.relu_forward(np.ones(5, np.float32))


def test_arguments_must_have_the_kernel_parameter_types(module):
    """The emulation refuses a Python int or a wrong-width scalar, as the design's rules ask of
    every launch (on a GPU the kernel would read garbage)."""
    relu = module.get_function("relu_forward_f32")
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="argument 2: int where the kernel takes 'q'"):
        relu(1, 32, (x, x.copy(), 3))
    with pytest.raises(TypeError, match="argument 2: int32 where the kernel takes 'q'"):
        relu(1, 32, (x, x.copy(), np.int32(3)))


@pytest.mark.parametrize("block, max_blocks", [(1, 1), (33, 1), (64, 2), (96, 5)])
def test_every_launch_shape_gives_the_same_results(module, block, max_blocks):
    """One thread or many, one block or several: the block reductions and every grid-stride
    loop give the reference's results."""
    with cuda_emulation.emulated_cuda(module, block, max_blocks) as cuda:
        for dtype, tolerance in ((np.float32, 1e-5), (np.float64, 1e-12)):
            differences = cuda_emulation.exercise(cuda, dtype)
            assert max(differences.values()) <= tolerance, differences


# ----- sanitizers ---------------------------------------------------------------------------

def _runtime_library(sanitizer):
    name = {"address": "libasan.so", "thread": "libtsan.so"}[sanitizer]
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isabs(path):
        pytest.skip(f"gcc's {name} is not installed")
    return path


def _run_sanitized(sanitizer, *args):
    env = dict(os.environ, LD_PRELOAD=_runtime_library(sanitizer),
               ASAN_OPTIONS="detect_leaks=0", TSAN_OPTIONS="halt_on_error=0",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    # the real interpreter: a shell shim in between would run under the sanitizer too
    return subprocess.run([os.path.realpath(sys.executable), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)


BROKEN = """
import sys
import numpy as np
import cuda_emulation
module = cuda_emulation.EmulatedModule(cuda_emulation.build(sys.argv[1],
                                                            [cuda_emulation.BROKEN_KERNELS]))
if sys.argv[1] == "thread":
    total = np.zeros(1)
    module.get_function("block_sum_without_barrier")(1, 16, (np.arange(40.0), total, np.int64(40)),
                                                     shared_mem=16 * 8)
else:
    x = np.arange(300.0)
    module.get_function("shift_left_off_by_one")(2, 37, (x, np.empty(300), np.int64(300)))
"""


@pytest.mark.parametrize("sanitizer, report", [
    ("address", "AddressSanitizer: heap-buffer-overflow"),
    ("thread", "ThreadSanitizer: data race"),
])
def test_each_sanitizer_catches_its_broken_kernel(sanitizer, report):
    result = _run_sanitized(sanitizer, "-c", BROKEN, sanitizer)
    assert report in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("sanitizer", ["address", pytest.param("thread", marks=pytest.mark.slow)])
def test_every_kernel_runs_clean_under_the_sanitizer(sanitizer):
    result = _run_sanitized(sanitizer, str(ROOT / "tests" / "cuda_emulation.py"), sanitizer)
    report = result.stdout[-2000:] + result.stderr[-5000:]
    assert "Sanitizer" not in result.stderr, report
    assert result.returncode == 0 and "36 launched" in result.stdout, report


def test_out_of_memory_is_a_memory_error_naming_the_kernel_and_the_bytes(cuda, monkeypatch):
    from minicnn.backend import cuda as cuda_module

    class NoMemory:
        """NumPy, except that it has no memory for a new array (as CuPy's OutOfMemoryError)."""

        def __getattr__(self, name):
            return getattr(np, name)

        def empty(self, shape, dtype):
            raise MemoryError("Out of memory allocating 48 bytes")

        zeros = empty

    monkeypatch.setattr(cuda_module.runtime(), "xp", NoMemory())
    with pytest.raises(MemoryError, match=r"CUDA kernel relu_forward: no memory for its output of "
                                          r"shape \(3, 4\), 48 bytes \(Out of memory"):
        cuda.relu_forward(np.ones((3, 4), np.float32))
