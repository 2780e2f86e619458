"""The C kernels never crash the interpreter, in three subprocesses:

- each C kernel called directly with NULL pointers and sizes that make no sense: it refuses;
- a hypothesis fuzz of every wrapper with arrays of any dtype, rank and layout and sizes from
  -2^63 to 2^64: each call returns or raises a Python exception, and the process is never
  killed by a signal;
- the kernels built with -fsanitize=address,undefined, running the cross-checks of
  the kernel-set suite on the C set and tests/native/ and the fuzz (slow: run it by name,
  ``python3 -m pytest -m slow tests/native/test_ckernels_safety.py``);
- with the extension blocked, minicnn imports, says once that it runs on NumPy, and trains.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minicnn.backend import ckernels

ROOT = Path(__file__).resolve().parents[2]
needs_c = pytest.mark.skipif(not ckernels.available(),
                             reason="C kernels not built: " + ckernels.unavailable_reason())

FUZZ = textwrap.dedent('''
    import inspect, os, resource, sys
    import numpy as np
    from hypothesis import HealthCheck, given, settings, strategies as st
    # a wrapper that let a huge size through fails with MemoryError rather than being killed
    # (AddressSanitizer, which maps terabytes of shadow memory, limits allocations itself)
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    from minicnn.backend import ckernels, reference

    integers = st.sampled_from([-2 ** 63, -1, 0, 1, 2, 3, 5, 2 ** 31, 2 ** 40, 2 ** 63 - 1, 2 ** 64])
    dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.int64, np.bool_])

    @st.composite
    def arrays(draw):
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=5)))
        array = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape)
        array = array.astype(draw(dtypes))
        if array.ndim and draw(st.booleans()):
            array = array[..., ::-1]                       # not contiguous
        if draw(st.booleans()):
            array.setflags(write=False)
        return array

    values = st.one_of(arrays(), integers, st.floats(allow_nan=True), st.none(), st.booleans())
    kernels = sorted(n for n in dir(reference) if not n.startswith("_")
                     and callable(getattr(reference, n))
                     and getattr(getattr(reference, n), "__module__", "") == reference.__name__
                     and getattr(ckernels, n) is not getattr(reference, n))  # C's own wrappers
    refused = []

    @settings(max_examples=int(sys.argv[1]), derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(kernels), st.data())
    def fuzz(name, data):
        function = getattr(ckernels, name)
        arity = len(inspect.signature(function).parameters)
        args = [data.draw(values) for _ in range(arity)]
        try:
            function(*args)
        except (TypeError, ValueError, IndexError, OverflowError, MemoryError,
                ZeroDivisionError):
            pass
        except RuntimeError as error:  # the C kernel refused: a check the wrapper missed
            refused.append((name, str(error)))

    fuzz()
    print("refused by C:", refused)
    print("fuzz done")
    sys.exit(1 if refused else 0)
''')


def run_python(code, *args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@needs_c
def test_wrapper_fuzz_never_kills_the_interpreter():
    result = run_python(FUZZ, 400)
    assert result.returncode >= 0, f"killed by signal {-result.returncode}:\n{result.stderr[-3000:]}"
    assert result.returncode == 0 and "fuzz done" in result.stdout, result.stdout + result.stderr[-3000:]


REFUSALS = textwrap.dedent('''
    from minicnn._ckernels import ffi, lib
    NULL, big = ffi.NULL, 2 ** 40
    calls = {
        "direct conv groups not dividing C": lambda: lib.conv2d_direct_forward_f32(
            NULL, NULL, NULL, 1, 3, 4, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1),
        "direct conv window too big": lambda: lib.conv2d_direct_backward_input_f64(
            NULL, NULL, NULL, 1, 1, 2, 2, 1, 1, 3, 3, 1, 1, 0, 0, 1, 1),
        "direct conv zero stride": lambda: lib.conv2d_direct_backward_weight_f32(
            NULL, NULL, NULL, 1, 1, 4, 4, 1, 1, 3, 3, 0, 1, 0, 0, 1, 1),
        "direct conv overflow": lambda: lib.conv2d_direct_forward_f64(
            NULL, NULL, NULL, big, big, 1, 1, big, 1, 1, 1, 1, 1, 0, 0, 1, 1),
        "conv groups not dividing C": lambda: lib.conv2d_forward_f32(
            NULL, NULL, NULL, 1, 3, 4, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1),
        "conv window too big": lambda: lib.conv2d_backward_input_f64(
            NULL, NULL, NULL, 1, 1, 2, 2, 1, 1, 3, 3, 1, 1, 0, 0, 1, 1),
        "conv overflow": lambda: lib.conv2d_backward_weight_f32(
            NULL, NULL, NULL, big, big, 1, 1, big, 1, 1, 1, 1, 1, 0, 0, 1, 1),
        "gemm zero size": lambda: lib.gemm_f64(0, 0, 0, 1, 1, NULL, 1, NULL, 1, 0, NULL, 1),
        "gemm short leading dimension": lambda: lib.gemm_f32(1, 0, 4, 4, 4, NULL, 3, NULL, 4, 0,
                                                             NULL, 4),
        "max pool zero kernel": lambda: lib.max_pool2d_forward_f32(
            NULL, NULL, NULL, 1, 1, 4, 4, 0, 2, 2, 2, 0, 0, 1, 1, 2, 2),
        "max pool zero output": lambda: lib.max_pool2d_forward_f64(
            NULL, NULL, NULL, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, 0, 2),
        "max pool backward no batch": lambda: lib.max_pool2d_backward_f64(NULL, NULL, NULL, 0, 1, 2, 2, 4, 4),
        "avg pool negative padding": lambda: lib.avg_pool2d_forward_f32(
            NULL, NULL, 1, 1, 4, 4, 2, 2, 2, 2, -1, 0, 2, 2, 1),
        "avg pool backward huge output": lambda: lib.avg_pool2d_backward_f64(
            NULL, NULL, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, big, big, 1),
        "batch norm no channels": lambda: lib.batch_norm_forward_f64(
            NULL, NULL, NULL, 1e-5, NULL, NULL, NULL, NULL, 2, 0, 2, 2),
        "batch norm backward overflow": lambda: lib.batch_norm_backward_f32(
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, big, big, big, 1),
        "lrn zero size": lambda: lib.lrn_forward_f64(NULL, NULL, NULL, 1, 3, 2, 2, 0, 1e-4, 0.75, 1.0),
        "relu negative count": lambda: lib.relu_forward_f32(NULL, NULL, -1),
        "dropout negative count": lambda: lib.dropout_apply_f64(NULL, NULL, NULL, -5),
        "cross-entropy no rows": lambda: lib.softmax_cross_entropy_forward_f64(
            NULL, NULL, NULL, -100, 0.0, NULL, NULL, 0, 3),
        "sgd momentum without buffer": lambda: lib.sgd_step_f64(
            NULL, NULL, NULL, 3, 0.1, 0.9, 0.0, 0.0, 0, 0, 0),
        "adam step 0": lambda: lib.adam_step_f32(
            NULL, NULL, NULL, NULL, NULL, 3, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0, 0, 0),
        "rmsprop centered without average": lambda: lib.rmsprop_step_f64(
            NULL, NULL, NULL, NULL, NULL, 3, 1e-2, 0.99, 1e-8, 0.0, 0.0, 1, 0),
    }
    accepted = [name for name, call in calls.items() if call() != lib.MINICNN_BAD_ARGUMENT]
    print("accepted:", accepted)
''')


@needs_c
def test_c_kernels_refuse_nonsense_sizes_without_touching_memory():
    """Called directly with NULL pointers: any access would be a crash."""
    result = run_python(REFUSALS)
    assert result.returncode == 0, f"status {result.returncode}:\n{result.stderr[-3000:]}"
    assert "accepted: []" in result.stdout, result.stdout


def _sanitizer_runtime():
    """The path of gcc's libasan.so, or None."""
    try:
        path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return path if os.path.isabs(path) and os.path.exists(path) else None


@needs_c
@pytest.mark.slow
def test_c_kernels_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    libasan = _sanitizer_runtime()
    if libasan is None:
        pytest.skip("gcc's AddressSanitizer runtime (libasan.so) is not installed")
    spec = importlib.util.spec_from_file_location("build_ckernels", ROOT / "csrc" / "build_ckernels.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    flags = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=undefined"]
    builder = build.make_builder("_ckernels_asan", flags, ["-fsanitize=address,undefined"],
                                 absolute_paths=True)
    builder.compile(tmpdir=str(tmp_path))

    swap_in = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import _ckernels_asan; "
               "sys.modules['minicnn._ckernels'] = _ckernels_asan; ")
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    checks = run_python(swap_in + "import pytest; from minicnn.backend import ckernels; "
                        "assert ckernels._ckernels.__name__ == '_ckernels_asan'; "
                        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
                        "'tests/kernels/test_kernel_sets.py', 'tests/kernels/test_c_buffer_pool.py', "
                        "'tests/native/test_gemm.py', 'tests/native/test_c_convolution.py', "
                        "'tests/native/test_conv_direct.py']))",
                        env=dict(env, MINICNN_KERNEL_SETS="c"))
    report = checks.stdout[-3000:] + checks.stderr[-5000:]
    assert "Sanitizer" not in checks.stderr and "runtime error" not in checks.stderr, report
    assert checks.returncode == 0, report

    fuzz = run_python(swap_in + FUZZ, 200, env=env)
    report = fuzz.stdout[-3000:] + fuzz.stderr[-5000:]
    assert "Sanitizer" not in fuzz.stderr and "runtime error" not in fuzz.stderr, report
    assert fuzz.returncode == 0 and "fuzz done" in fuzz.stdout, report


WITHOUT_EXTENSION = textwrap.dedent('''
    import logging, sys
    sys.modules["minicnn._ckernels"] = None       # as if it was never built: import fails
    caught = []                 # the records of the "minicnn" logger
    handler = logging.Handler()
    handler.emit = caught.append
    logging.getLogger("minicnn").addHandler(handler)
    import numpy as np
    import minicnn as mc
    import minicnn.nn as nn
    import minicnn.nn.functional as F
    from minicnn.backend import ckernels, kernels_for, reference
    assert not ckernels.available()
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = mc.randn(6, 1, 8, 8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert kernels_for(x.array) is reference
    messages = [r.getMessage() for r in caught if "C kernels" in r.getMessage()]
    assert len(messages) == 1, messages
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    print("numpy fallback ok:", messages[0])
''')


def test_without_the_extension_minicnn_imports_and_trains_on_numpy():
    env = dict(os.environ)
    env.pop("MINICNN_BACKEND", None)
    result = run_python(WITHOUT_EXTENSION, env=env)
    assert result.returncode == 0 and "numpy fallback ok" in result.stdout, \
        result.stdout + result.stderr[-3000:]
    assert "did not load" in result.stdout


OUT_OF_MEMORY = textwrap.dedent('''
    import resource
    import numpy as np
    from minicnn.backend import ckernels
    from minicnn.backend.geometry import Window
    window = Window(32, 32, 1, 1, 0, 0, 1, 1)
    x = np.ones((1, 64, 32, 32), np.float32)
    ckernels.conv2d_forward(x, np.ones((2, 64, 32, 32), np.float32), 1, window)  # pool started
    weight = np.ones((160, 64, 32, 32), np.float32)    # 40 MiB: packing it asks as much again
    size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (24 << 20), resource.RLIM_INFINITY))
    try:
        ckernels.conv2d_forward(x, weight, 1, window)
    except MemoryError as error:
        print(error)
''')


@needs_c
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc/self/status")
def test_out_of_memory_in_a_c_kernel_is_a_memory_error_naming_it_and_the_bytes():
    done = run_python(OUT_OF_MEMORY)
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert message.startswith("C kernel conv2d_forward (float32): out of memory: its working "
                              "memory of "), message
    asked = int(message.split("memory of ")[1].split(" bytes")[0].replace(",", ""))
    assert 160 * 64 * 32 * 32 * 4 <= asked < 2 * 160 * 64 * 32 * 32 * 4   # the packed weights
