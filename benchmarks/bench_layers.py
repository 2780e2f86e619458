"""Time the layers that dominate a CNN's training step, for each kernel set (and PyTorch's CPU
kernels when torch is installed): forward, and forward + backward (both gradients), in ms.

    python3 benchmarks/bench_layers.py                 # every case, numpy and c kernel sets
    python3 benchmarks/bench_layers.py --sets c --repeat 3 --only resnet20
    python3 benchmarks/bench_layers.py --device cuda  # CUDA kernels vs PyTorch (cuDNN) on a GPU

Cases, float32, batch 128 unless said: the convolutions of the CIFAR ResNet-20 (each shape
with the number of times the network uses it), AlexNet's conv1 (batch 32), a VGG conv (batch 8),
max-pool 2x2/2 and 3x3/2, batch norm. The table gives the fastest of the runs (kernel sets and
PyTorch take turns, each after a pause), GFLOP/s for the convolutions (forward:
2 N F C/G kh kw oh ow; forward + backward: 3 times that) and the ratio to PyTorch.
The summary checks the targets of issue 4: ResNet-20's convs forward + backward <= 2.5x
PyTorch, max-pool and batch norm <= 2x PyTorch.

The machine's cores may be shared: compare the ratios of one run, not times across runs.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minicnn as mc  # noqa: E402
import minicnn.nn.functional as F  # noqa: E402
from minicnn.backend import ckernels  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:
    torch = None


# ----- the cases ----------------------------------------------------------------------------

def conv(name, N, C, F_, H, k, stride, padding, uses=1, group="other"):
    return {"name": name, "kind": "conv", "x": (N, C, H, H), "w": (F_, C, k, k),
            "stride": stride, "padding": padding, "uses": uses, "group": group}


CASES = [
    conv("resnet20 3->16 32x32", 128, 3, 16, 32, 3, 1, 1, uses=1, group="resnet20"),
    conv("resnet20 16->16 32x32", 128, 16, 16, 32, 3, 1, 1, uses=6, group="resnet20"),
    conv("resnet20 16->32 s2", 128, 16, 32, 32, 3, 2, 1, uses=1, group="resnet20"),
    conv("resnet20 32->32 16x16", 128, 32, 32, 16, 3, 1, 1, uses=5, group="resnet20"),
    conv("resnet20 32->64 s2", 128, 32, 64, 16, 3, 2, 1, uses=1, group="resnet20"),
    conv("resnet20 64->64 8x8", 128, 64, 64, 8, 3, 1, 1, uses=5, group="resnet20"),
    conv("alexnet conv1 11x11/4", 32, 3, 96, 227, 11, 4, 0),
    conv("vgg 64->64 224x224", 8, 64, 64, 224, 3, 1, 1),
    {"name": "max-pool 2x2/2 (128,64,32,32)", "kind": "max_pool", "x": (128, 64, 32, 32),
     "kernel": 2, "stride": 2, "group": "pool_bn"},
    {"name": "max-pool 3x3/2 (32,96,55,55)", "kind": "max_pool", "x": (32, 96, 55, 55),
     "kernel": 3, "stride": 2, "group": "pool_bn"},
    {"name": "batch norm (128,16,32,32)", "kind": "batch_norm", "x": (128, 16, 32, 32),
     "group": "pool_bn"},
]


def conv_flops(case):
    N, C, H, W = case["x"]
    F_, _, k, _ = case["w"]
    out = (H + 2 * case["padding"] - k) // case["stride"] + 1
    return 2 * N * F_ * C * k * k * out * out


# ----- running one case on minicnn or PyTorch -----------------------------------------------

DEVICE = "cpu"   # --device: where minicnn's and PyTorch's tensors live


def synchronized(fn):
    """fn, then a wait for the GPU to finish (kernel launches return before the work ends)."""
    if DEVICE == "cpu":
        return fn

    def run():
        fn()
        mc.backend.arrays.cupy.cuda.Device().synchronize()
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize()
    return run


def minicnn_step(case, rng):
    """(forward, forward_backward): closures running the case on minicnn tensors."""
    def tensor(array):
        return mc.tensor(array, requires_grad=True, device=DEVICE)

    x = tensor(rng.standard_normal(case["x"]).astype(np.float32))
    if case["kind"] == "conv":
        w = tensor(rng.standard_normal(case["w"]).astype(np.float32) * 0.1)
        b = tensor(np.zeros(case["w"][0], np.float32))
        params = (x, w, b)

        def op():
            return F.conv2d(x, w, b, stride=case["stride"], padding=case["padding"])
    elif case["kind"] == "max_pool":
        params = (x,)

        def op():
            return F.max_pool2d(x, case["kernel"], case["stride"])
    else:
        C = case["x"][1]
        weight, bias = tensor(np.ones(C, np.float32)), tensor(np.zeros(C, np.float32))
        params = (x, weight, bias)

        def op():
            return F.batch_norm(x, None, None, weight, bias, training=True)

    grad = None

    def forward_backward():
        nonlocal grad
        for p in params:
            p.grad = None
        y = op()
        if grad is None:
            grad = mc.tensor(rng.standard_normal(y.shape).astype(np.float32), device=DEVICE)
        y.backward(grad)

    return op, forward_backward


def torch_step(case, rng):
    device = "cuda" if DEVICE == "cuda" and torch.cuda.is_available() else "cpu"

    def tensor(array):
        return torch.tensor(array, requires_grad=True, device=device)

    x = tensor(rng.standard_normal(case["x"]).astype(np.float32))
    if case["kind"] == "conv":
        w = tensor(rng.standard_normal(case["w"]).astype(np.float32) * 0.1)
        b = tensor(np.zeros(case["w"][0], np.float32))
        params = (x, w, b)

        def op():
            return torch_F.conv2d(x, w, b, stride=case["stride"], padding=case["padding"])
    elif case["kind"] == "max_pool":
        params = (x,)

        def op():
            return torch_F.max_pool2d(x, case["kernel"], case["stride"])
    else:
        C = case["x"][1]
        weight, bias = tensor(np.ones(C, np.float32)), tensor(np.zeros(C, np.float32))
        params = (x, weight, bias)

        def op():
            return torch_F.batch_norm(x, None, None, weight, bias, training=True)

    grad = None

    def forward_backward():
        nonlocal grad
        for p in params:
            p.grad = None
        y = op()
        if grad is None:
            grad = torch.tensor(rng.standard_normal(tuple(y.shape)).astype(np.float32),
                                device=device)
        y.backward(grad)

    return op, forward_backward


IDLE_S = 0.25   # OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s), libgomp's briefly


def interleaved_min_ms(runners, repeat):
    """{name: fastest of ``repeat`` runs in ms}, the runners taking turns, so that a load that
    comes and goes on a shared machine hits them alike; the fastest run is the one the least
    disturbed. Each runner runs once first (first-touch page faults, BLAS buffers).
    Each turn starts after IDLE_S seconds of sleep, once the threads of the turn before have
    stopped spinning: without it, OpenBLAS's threads left spinning by a minicnn turn took a
    core from the PyTorch turn that followed (ResNet-20's convs: PyTorch 781 ms taking turns,
    464 ms alone; minicnn 952 and 895 ms)."""
    best = {name: float("inf") for name in runners}
    for fn in runners.values():
        fn()
    for _ in range(repeat):
        for name, fn in runners.items():
            time.sleep(IDLE_S)
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: 1e3 * t for name, t in best.items()}


def without_grad(fn, no_grad):
    def run():
        with no_grad():
            fn()
    return run


def on_kernels(name, fn):
    def run():
        with mc.backend(name):
            fn()
    return synchronized(run)


# ----- the report ---------------------------------------------------------------------------

def blas_description():
    report = mc.info(quiet=True)
    blas = report["blas"]
    return (f"BLAS {blas['name']} {blas['version']} ({blas['architecture']} kernels, "
            f"{blas['threads']} threads); C kernels: {report['num_threads']} threads (own pool)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="numpy,c", help="kernel sets, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: minicnn's CUDA kernels (and the reference through CuPy) "
                             "against PyTorch on the GPU (cuDNN); default sets numpy,cuda")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and args.sets == "numpy,c":
        args.sets = "numpy,cuda"
    sets = [s for s in args.sets.split(",") if s]
    if "c" in sets and not ckernels.available():
        print("C kernels unavailable:", ckernels.unavailable_reason())
        sets.remove("c")
    cases = [case for case in CASES if args.only in case["name"]]
    print(blas_description())
    if torch is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"cores: {os.cpu_count()}; fastest of {args.repeat} interleaved runs after a warm-up, "
          f"{IDLE_S} s pause before each\n")

    header = f"{'case':32s} {'set':6s} {'fwd ms':>9s} {'fwd+bwd ms':>11s} {'GFLOP/s':>8s} " \
             f"{'x torch':>8s}"
    print(header)
    print("-" * len(header))
    results = {}
    for case in cases:
        rng = np.random.default_rng(0)
        forward_runners, total_runners = {}, {}
        if torch is not None:
            forward, forward_backward = torch_step(case, rng)
            forward_runners["torch"] = synchronized(without_grad(forward, torch.no_grad))
            total_runners["torch"] = synchronized(forward_backward)
        for name in sets:
            forward, forward_backward = minicnn_step(case, rng)
            forward_runners[name] = on_kernels(name, without_grad(forward, mc.no_grad))
            total_runners[name] = on_kernels(name, forward_backward)
        forward_ms = interleaved_min_ms(forward_runners, args.repeat)
        total_ms = interleaved_min_ms(total_runners, args.repeat)
        runs = {name: (forward_ms[name], total_ms[name]) for name in total_runners}
        results[case["name"]] = (case, runs)
        for name, run in runs.items():
            fwd, total = run[0], run[1]
            gflops = f"{3 * conv_flops(case) / total / 1e6:8.1f}" if case["kind"] == "conv" else " " * 8
            ratio = (f"{total / runs['torch'][1]:8.2f}" if "torch" in runs and name != "torch"
                     else " " * 8)
            print(f"{case['name']:32s} {name:6s} {fwd:9.1f} {total:11.1f} {gflops} {ratio}")
        sys.stdout.flush()

    summarize(results, sets)


def summarize(results, sets):
    print()
    resnet = [(case, runs) for case, runs in results.values() if case.get("group") == "resnet20"]
    if len(resnet) == 6:
        print("ResNet-20, all 19 convs (each shape times its uses), forward + backward:")
        totals = {name: sum(case["uses"] * runs[name][1] for case, runs in resnet)
                  for name in resnet[0][1]}
        for name, total in totals.items():
            ratio = f" = {total / totals['torch']:.2f}x PyTorch" if "torch" in totals and name != "torch" else ""
            print(f"  {name:6s} {total:8.1f} ms{ratio}")
        if "c" in totals and "torch" in totals:
            print(f"  target: convs <= 2.5x PyTorch: {'met' if totals['c'] <= 2.5 * totals['torch'] else 'MISSED'}")
    for case, runs in results.values():
        if case.get("group") == "pool_bn" and "c" in runs and "torch" in runs:
            ratio = runs["c"][1] / runs["torch"][1]
            print(f"{case['name']}: C forward + backward = {ratio:.2f}x PyTorch "
                  f"(target <= 2x: {'met' if ratio <= 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
