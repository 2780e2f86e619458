"""The parts of benchmarks/gpu_check.sh that need no pytest, each a subcommand:

    python3 benchmarks/gpu_check.py env       # driver, CUDA, NVRTC, cuBLAS, GPU, torch
    python3 benchmarks/gpu_check.py kernels   # every CUDA kernel through CuPy against the NumPy
                                              # reference (float32 within 1e-5, float64 1e-12)
    python3 benchmarks/gpu_check.py step      # one ResNet-20 SGD step on the GPU against the
                                              # CPU (float64 within 1e-9, float32 within 2e-3)
    python3 benchmarks/gpu_check.py speed     # ResNet-20 training images/s against PyTorch on
                                              # the same GPU (TF32 as CUPY_TF32 says)

The step check compares the loss, the logits, every gradient and every update of an SGD step,
each as its largest difference over the largest magnitude of its kind in the whole network
(not per parameter: conv1's bias gradient is rounding noise before a batch norm). Everything
goes through ``minicnn.backend.arrays.cupy``, so the tests run it on the CuPy stand-in too.
"""

import argparse
import importlib.util
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

import minicnn as mc  # noqa: E402
import minicnn.nn.functional as F  # noqa: E402
from minicnn.backend import arrays  # noqa: E402
from minicnn.backend import ckernels  # noqa: E402
from minicnn.backend import cuda as cuda_kernels  # noqa: E402

STEP_TOLERANCES = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 2e-3}


def _version(value):
    return f"{value // 1000}.{value % 1000 // 10}"


def environment():
    """Print the machine's GPU stack, and whether minicnn's CUDA set can run (True: printed)."""
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, minicnn from {ROOT}")
    for module in ("cffi", "pytest", "hypothesis", "torch"):
        found = importlib.util.find_spec(module) is not None
        print(f"  {module:10s} {'installed' if found else 'not installed'}")
    print(f"  g++        {shutil.which('g++') or 'not installed'}")
    cpu_side = "built" if ckernels.available() else "not built: the CPU side runs on the reference"
    print(f"  C kernels  {cpu_side}")
    cupy = arrays.cupy
    if cupy is None:
        print("CuPy: not installed")
        return True
    print(f"CuPy {cupy.__version__}")
    try:
        runtime = cupy.cuda.runtime
        driver = runtime.driverGetVersion()
        print(f"  CUDA driver: {'supports CUDA ' + _version(driver) if driver else 'none'}, "
              f"CuPy's CUDA runtime {_version(runtime.runtimeGetVersion())}")
        for index in range(runtime.getDeviceCount()):
            props = runtime.getDeviceProperties(index)
            print(f"  GPU {index}: {props['name'].decode()}, compute capability "
                  f"{props['major']}.{props['minor']}, {props['multiProcessorCount']} SMs, "
                  f"{props['totalGlobalMem'] / 2 ** 30:.1f} GiB")
    except Exception as error:  # noqa: BLE001  (no driver: CuPy's own error types)
        print(f"  no GPU: {type(error).__name__}: {error}")
    try:
        print("  NVRTC " + ".".join(map(str, cupy.cuda.nvrtc.getVersion())))
    except Exception as error:  # noqa: BLE001
        print(f"  NVRTC: does not load ({type(error).__name__}: {error})")
    reason = cuda_kernels.unavailable_reason()
    print("  minicnn's CUDA set (NVRTC compiles and launches a kernel, cuBLAS runs a 1x1 "
          f"product): {'available' if not reason else 'NOT available: ' + reason}")
    if importlib.util.find_spec("torch") is not None:
        import torch
        seen = torch.cuda.is_available()
        print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuDNN "
              f"{torch.backends.cudnn.version() if seen else '-'}, sees the GPU: {seen}")
    return True


def kernels():
    """Every kernel of the CUDA set once through CuPy against the reference, both dtypes."""
    from cuda_emulation import TOLERANCES, OnDevice, exercise
    wrong = 0
    for dtype in (np.float32, np.float64):
        tolerance = TOLERANCES[np.dtype(dtype)]
        differences = exercise(OnDevice(), dtype)
        for name, difference in sorted(differences.items()):
            ok = difference <= tolerance
            wrong += not ok
            print(f"  {np.dtype(dtype).name:8s} {name:34s} {difference:9.2e} "
                  f"{'ok' if ok else 'PAST ' + format(tolerance, '.0e')}")
    print(f"kernels: {'all within tolerance' if not wrong else f'{wrong} past tolerance'}")
    return wrong == 0


def _resnet_step(device, dtype, x, labels, cpu_set):
    """ResNet-20's loss, logits, gradients and SGD updates for one step on ``device``."""
    mc.manual_seed(0)
    model = mc.models.create("resnet20").to(device, dtype)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    before = [p.numpy().copy() for p in model.parameters()]
    with mc.backend(cpu_set if device == "cpu" else "auto"):
        logits = model(mc.tensor(x, dtype=dtype, device=device))
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"loss": np.array([loss.item()]), "logits": logits.numpy(),
            "gradients": [p.grad.numpy() for p in model.parameters()],
            "updates": [p.numpy() - b for p, b in zip(model.parameters(), before)]}


def step(batch=32, size=32):
    """One ResNet-20 SGD step on the GPU against the CPU, float64 and float32."""
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((batch, 3, size, size)), rng.integers(0, 10, batch)
    cpu_set = "c" if ckernels.available() else "numpy"
    passed = True
    for dtype in (np.float64, np.float32):
        tolerance = STEP_TOLERANCES[np.dtype(dtype)]
        cpu = _resnet_step("cpu", dtype, x, labels, cpu_set)
        gpu = _resnet_step("cuda", dtype, x, labels, cpu_set)
        for kind in cpu:
            specs, ours = cpu[kind], gpu[kind]
            if not isinstance(specs, list):
                specs, ours = [specs], [ours]
            scale = max(np.abs(a).max() for a in specs)
            difference = max(np.abs(a - b).max() for a, b in zip(ours, specs))
            relative = difference / scale if scale > 0 else difference
            passed &= bool(relative <= tolerance)
            print(f"  {np.dtype(dtype).name:8s} {kind:10s} largest difference / largest value "
                  f"{relative:9.2e} {'ok' if relative <= tolerance else 'PAST'} "
                  f"(tolerance {tolerance:.0e}; CPU on the {cpu_set} kernels)")
    print(f"ResNet-20 step: {'GPU equals CPU within tolerance' if passed else 'GPU and CPU PART'}")
    return passed


def _images_per_second(run_step, batch, synchronize, seconds=6.0, warmup=3):
    for _ in range(warmup):
        run_step()
    synchronize()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run_step()
        steps += 1
        if steps % 5 == 0:
            synchronize()
    synchronize()
    return steps * batch / (time.perf_counter() - start)


def speed(batch=128):
    """ResNet-20's float32 training step on this GPU: minicnn against PyTorch, in images/s."""
    cupy = arrays.cupy
    tf32 = os.environ.get("CUPY_TF32", "0") not in ("", "0")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    mc.manual_seed(0)
    model = mc.models.create("resnet20").to("cuda")
    optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    inputs, targets = mc.tensor(x, device="cuda"), mc.tensor(labels, device="cuda")

    def minicnn_step():
        optimizer.zero_grad()
        F.cross_entropy(model(inputs), targets).backward()
        optimizer.step()

    ours = _images_per_second(minicnn_step, batch, cupy.cuda.Device().synchronize)
    line = f"ResNet-20 training, batch {batch}, float32, TF32 {'on' if tf32 else 'off'}: " \
           f"minicnn {ours:8.0f} img/s"
    if importlib.util.find_spec("torch") is not None:
        import torch
        if torch.cuda.is_available():
            from bench_train_step import torch_model
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cudnn.benchmark = True
            net = torch_model("resnet20").cuda()
            torch_optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
            tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(labels).cuda()

            def torch_step():
                torch_optimizer.zero_grad()
                torch.nn.functional.cross_entropy(net(tx), ty).backward()
                torch_optimizer.step()

            theirs = _images_per_second(torch_step, batch, torch.cuda.synchronize)
            line += f", PyTorch {theirs:8.0f} img/s, minicnn / PyTorch {ours / theirs:.2f}"
        else:
            line += ", PyTorch: torch does not see the GPU"
    else:
        line += ", PyTorch: not installed"
    print(line)
    return True


def main():
    commands = {"env": environment, "kernels": kernels, "step": step, "speed": speed}
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=sorted(commands))
    args = parser.parse_args()
    sys.exit(0 if commands[args.command]() else 1)


if __name__ == "__main__":
    main()
