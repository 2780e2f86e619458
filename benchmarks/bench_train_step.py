"""Training and inference speed of minicnn against PyTorch on the CPU, as a user runs them.

    python3 benchmarks/bench_train_step.py                   # ResNet-20 and LeNet-5, 1 and 2 threads
    python3 benchmarks/bench_train_step.py --models resnet20 --rounds 5 --under-load
    python3 benchmarks/bench_train_step.py --models airbench94 --batch 1024 --threads 2

Each measurement runs in a process of its own (in one process, two frameworks' thread pools
fight and distort both), minicnn and PyTorch alternating, `--rounds` times each, at every
thread count of `--threads` (set through MINICNN_NUM_THREADS, OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and torch.set_num_threads). A training step is forward,
softmax cross-entropy, backward and an SGD update (momentum 0.9, weight decay 5e-4), float32,
batch `--batch`; inference is the forward pass in eval mode without the graph.

Printed: img/s of each (the median over the rounds of each process's median step), the
ratio minicnn / PyTorch, the speed-up of each from 1 to 2 threads, the peak resident memory
of each process, and that peak less the memory after the imports (model, data and steps: the
figure to compare, as the two libraries differ in size), a breakdown of
minicnn's training step by kernel (a separate run with every kernel of the selected kernel set
timed), and the share of the machine's float32 FMA peak the convolutions reach; the peak is
measured in the same run by benchmarks/fma_peak.c, compiled here with the system's C compiler
(by its threads' CPU time, which on a quiet machine is the wall-clock time the breakdown uses).
`--under-load` repeats the comparison with one busy process per core running beside it
(started and stopped by this script) and prints each framework's slowdown side by side.
`--isa avx2` runs both frameworks as on a CPU with AVX2 + FMA and no AVX-512, the CPU the
speed issue was measured on, on a machine that has AVX-512 (see AVX2_ONLY: minicnn's GEMM,
NumPy, OpenBLAS, PyTorch's ATen, oneDNN and MKL each held to AVX2, and the FMA peak measured
with AVX2); each worker prints what its libraries report they ran.
Every figure carries the load average at the time it was taken: compare figures taken on a
quiet machine (load well under the core count) only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # this checkout's minicnn, in the workers too
MODELS = {"resnet20": (3, 32, 32), "lenet5": (1, 28, 28), "airbench94": (3, 32, 32)}
THREAD_VARIABLES = ("MINICNN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")
# Each library's own switch to stay below AVX-512: minicnn's GEMM micro-kernel (csrc/gemm.c),
# NumPy's run-time dispatch (numpy.org/devdocs/reference/simd/build-options.html), OpenBLAS's
# kernel (Haswell: AVX2 + FMA), PyTorch's ATen kernels, oneDNN's convolutions and MKL's BLAS.
# minicnn's batch-norm loops (target_clones in csrc/kernel.h) still take AVX-512: they are
# bound by memory, not by the vector width.
AVX2_ONLY = {"MINICNN_GEMM_KERNEL": "avx2", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
             "OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2",
             "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def load_note():
    """`load 1.23 (up 4567 s)`: the 1-minute load average and the uptime, beside every figure."""
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    up = Path("/proc/uptime").read_text().split()[0] if Path("/proc/uptime").exists() else "?"
    return f"load {load} (up {float(up):.0f} s)" if up != "?" else f"load {load}"


# ----- one measurement, in its own process ---------------------------------------------------

def memory_mb(field):
    """VmRSS (resident now) or VmHWM (its peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_baseline():
    """The resident memory after the imports, with the peak reset to it (Linux >= 4.0), so that
    the peak seen later is that of the model, its data and its steps."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return memory_mb("VmRSS")


def torch_model(name):
    """PyTorch's form of minicnn's model: ResNet-20 with option-A shortcuts, classic LeNet-5,
    airbench94's net (the speedrun's: frozen whitening conv and batch-norm scales, GELU)."""
    import torch
    from torch import nn

    if name == "airbench94":
        class Scale(nn.Module):
            def forward(self, x):
                return x / 9

        def batch_norm(width):
            norm = nn.BatchNorm2d(width, eps=1e-12, momentum=0.4)
            norm.weight.requires_grad = False
            return norm

        def group(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2),
                                 batch_norm(cout), nn.GELU(),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                                 batch_norm(cout), nn.GELU())

        net = nn.Sequential(nn.Conv2d(3, 24, 2, bias=True), nn.GELU(), group(24, 64),
                            group(64, 256), group(256, 256), nn.MaxPool2d(3), nn.Flatten(),
                            nn.Linear(256, 10, bias=False), Scale())
        net[0].weight.requires_grad = False
        return net

    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
            nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
            nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))

    class ShortcutA(nn.Module):
        def __init__(self, extra_channels):
            super().__init__()
            self.extra = extra_channels

        def forward(self, x):
            x = x[:, :, ::2, ::2]
            return nn.functional.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))

    class Block(nn.Module):
        def __init__(self, planes_in, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(planes_in, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = (ShortcutA(planes - planes_in) if stride != 1 or planes != planes_in
                             else nn.Identity())

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    layers, planes_in = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for block in range(3):
            layers.append(Block(planes_in, planes, stride if block == 0 else 1))
            planes_in = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def run_torch(name, batch, steps, warmup, train, threads):
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    base = memory_baseline()
    torch.manual_seed(0)
    model = torch_model(name)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((batch, *MODELS[name])).astype(np.float32))
    labels = torch.tensor(rng.integers(0, 10, batch))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train(train)

    def step():
        if train:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), labels).backward()
            optimizer.step()
        else:
            with torch.no_grad():
                model(x)
    result = timed_steps(step, steps, warmup, base)
    result["ran"] = f"ATen {torch.backends.cpu.get_cpu_capability()}"
    return result


def minicnn_parts(name, batch, train):
    import numpy as np
    import minicnn as mc
    import minicnn.nn.functional as F

    mc.manual_seed(0)
    model = mc.models.create(name)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((batch, *MODELS[name])).astype(np.float32))
    labels = rng.integers(0, 10, batch)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train(train)

    def step():
        if train:
            optimizer.zero_grad()
            F.cross_entropy(model(x), labels).backward()
            optimizer.step()
        else:
            with mc.no_grad():
                model(x)
    return step


def timed_steps(step, steps, warmup, base):
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak = memory_mb("VmHWM")
    return {"step_s": statistics.median(wall), "cpu_s": statistics.median(cpu),
            "peak_mb": peak, "step_mb": peak - base}


def conv_flops(kernel_name, args, result):
    """2 N F (C/G) kh kw oh ow, the multiply-adds that each member of the conv family does:
    2 * (an array of y's shape).size * (a weight's C/G * kh * kw)."""
    y_like = result if kernel_name == "conv2d_forward" else args[0] if kernel_name == \
        "conv2d_backward_input" else args[1]
    weight = result if kernel_name == "conv2d_backward_weight" else args[1]
    return 2.0 * y_like.size * weight[0].size


def run_minicnn_breakdown(name, batch, steps, warmup):
    """Time every kernel of the selected kernel set during training steps: ms a step each, the
    rest (autograd, NumPy ops, Python), and the convolutions' GFLOP/s."""
    import minicnn as mc  # noqa: F401  (selects the kernel set)
    from minicnn.backend import kernels_for, reference
    import numpy as np

    kernels = kernels_for(np.zeros(1, np.float32))
    spent, flops = {}, [0.0]
    names = [n for n in dir(reference) if not n.startswith("_")
             and getattr(getattr(reference, n), "__module__", None) == reference.__name__
             and callable(getattr(kernels, n, None))]

    def timed(kernel_name, kernel):
        def run(*args):
            start = time.perf_counter()
            result = kernel(*args)
            spent[kernel_name] = spent.get(kernel_name, 0.0) + time.perf_counter() - start
            if kernel_name.startswith("conv2d_"):
                flops[0] += conv_flops(kernel_name, args, result)
            return result
        return run

    for kernel_name in names:
        setattr(kernels, kernel_name, timed(kernel_name, getattr(kernels, kernel_name)))
    step = minicnn_parts(name, batch, True)
    for _ in range(warmup):
        step()
    spent.clear()
    flops[0] = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        step()
    total = (time.perf_counter() - start) / steps
    per_step = {k: v / steps for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}
    conv_s = sum(v for k, v in per_step.items() if k.startswith("conv2d_"))
    return {"kernel_set": kernels.NAME, "step_s": total, "kernels_s": per_step,
            "conv_gflops": flops[0] / steps / conv_s / 1e9 if conv_s else 0.0}


def minicnn_ran():
    """`GEMM avx2, NumPy X86_V3`: minicnn's GEMM micro-kernel and NumPy's widest dispatch."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:   # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    from minicnn.backend import ckernels

    numpy_level = "X86_V4" if __cpu_features__.get("X86_V4") else "X86_V3"
    return f"GEMM {ckernels.gemm_kernel() or 'none'}, NumPy {numpy_level}"


def worker(args):
    if args.framework == "torch":
        result = run_torch(args.model, args.batch, args.steps, args.warmup, args.mode == "train",
                           args.threads[0])
    elif args.mode == "breakdown":
        result = run_minicnn_breakdown(args.model, args.batch, args.steps, args.warmup)
    else:
        import minicnn  # noqa: F401  (the imports, before the baseline)
        base = memory_baseline()
        result = timed_steps(minicnn_parts(args.model, args.batch, args.mode == "train"),
                             args.steps, args.warmup, base)
        result["ran"] = minicnn_ran()
    print("RESULT " + json.dumps(result))


# ----- the orchestration -------------------------------------------------------------------

def measure(framework, model, mode, threads, options):
    env = dict(os.environ, **{variable: str(threads) for variable in THREAD_VARIABLES})
    if options.isa == "avx2":
        env.update(AVX2_ONLY)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework,
               "--model", model, "--mode", mode, "--threads", str(threads),
               "--batch", str(options.batch), "--steps", str(options.steps),
               "--warmup", str(options.warmup)]
    note = load_note()
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=options.timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{framework} {model} {mode} failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["load"] = note
    time.sleep(options.pause)   # no idle threads of one run still spinning into the next
    return result


def fma_peak(threads, isa, seconds=1.0):
    """GFLOP/s of the FMA loop on `threads` threads, with the widest vectors the CPU has, with
    AVX2, or of AMX's bfloat16 tile product (`isa` "native", "avx2" or "amx-bf16"): (GFLOP/s,
    the instruction set, the load note); None without a C compiler or that instruction set."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        binary = Path(folder) / "fma_peak"
        built = subprocess.run([compiler, "-O3", "-pthread", str(ROOT / "benchmarks" / "fma_peak.c"),
                                "-o", str(binary)], capture_output=True, text=True)
        if built.returncode != 0:
            return None
        ran = subprocess.run([str(binary), str(threads), str(seconds), isa],
                             capture_output=True, text=True)
    if ran.returncode != 0:
        return None
    _, gflops, isa = ran.stdout.split()
    return float(gflops), isa, load_note()


def compare(options, label):
    """img/s of both frameworks per model, mode and thread count: {(model, mode, threads,
    framework): [results]}."""
    results = {}
    frameworks = ["minicnn"] + ([] if options.no_torch else ["torch"])
    for model in options.models:
        for mode in ("train", "infer"):
            for threads in options.threads:
                for turn in range(options.rounds):
                    order = frameworks if turn % 2 == 0 else frameworks[::-1]
                    for framework in order:
                        result = measure(framework, model, mode, threads, options)
                        results.setdefault((model, mode, threads, framework), []).append(result)
                        print(f"  [{label}] {model} {mode} {threads}T {framework:8s} "
                              f"{options.batch / result['step_s']:8.1f} img/s  "
                              f"(cpu/wall {result['cpu_s'] / result['step_s']:.2f})  "
                              f"{result['load']}  [{result['ran']}]", flush=True)
    return results


def images_per_second(results, key, batch):
    runs = results.get(key)
    return batch / statistics.median(r["step_s"] for r in runs) if runs else None


def report(results, options, label):
    print(f"\n{label}: img/s (median of {options.rounds} rounds), batch {options.batch}, float32")
    print(f"{'model':9s} {'mode':6s} {'thr':>3s} {'minicnn':>9s} {'pytorch':>9s} {'ratio':>6s} "
          f"{'mc MB':>7s} {'pt MB':>7s} {'mc run MB':>10s} {'pt run MB':>10s}  load")
    for model in options.models:
        for mode in ("train", "infer"):
            for threads in options.threads:
                mine = images_per_second(results, (model, mode, threads, "minicnn"), options.batch)
                theirs = images_per_second(results, (model, mode, threads, "torch"), options.batch)
                memory = {f: max(r["peak_mb"] for r in results.get((model, mode, threads, f), [{}])
                                 if r) if (model, mode, threads, f) in results else float("nan")
                          for f in ("minicnn", "torch")}
                step_memory = {f: max(r["step_mb"] for r in results[(model, mode, threads, f)])
                               if (model, mode, threads, f) in results else float("nan")
                               for f in ("minicnn", "torch")}
                ratio = f"{mine / theirs:6.2f}" if theirs else "     -"
                loads = " / ".join(r["load"].split(" (")[0] for r in
                                   results[(model, mode, threads, "minicnn")])
                print(f"{model:9s} {mode:6s} {threads:3d} {mine:9.1f} "
                      f"{theirs if theirs else float('nan'):9.1f} {ratio} "
                      f"{memory['minicnn']:7.0f} {memory['torch']:7.0f} "
                      f"{step_memory['minicnn']:10.0f} {step_memory['torch']:10.0f}  {loads}")
    if 1 in options.threads and 2 in options.threads:
        print("speed-up from 1 to 2 threads:")
        for model in options.models:
            for mode in ("train", "infer"):
                line = []
                for framework in ("minicnn", "torch"):
                    one = images_per_second(results, (model, mode, 1, framework), options.batch)
                    two = images_per_second(results, (model, mode, 2, framework), options.batch)
                    if one and two:
                        line.append(f"{framework} {two / one:.2f}x")
                print(f"  {model} {mode}: " + ", ".join(line))


def breakdown(options, peaks):
    for model in options.models:
        for threads in options.threads:
            result = measure("minicnn", model, "breakdown", threads, options)
            step_ms = result["step_s"] * 1e3
            print(f"\nminicnn {model} training step by kernel ({result['kernel_set']} kernels, "
                  f"{threads} thread{'s' if threads > 1 else ''}): {step_ms:.0f} ms a step, "
                  f"{result['load']}")
            kernels_ms = 0.0
            for name, seconds in result["kernels_s"].items():
                kernels_ms += seconds * 1e3
                print(f"  {name:32s} {seconds * 1e3:8.1f} ms  {100 * seconds * 1e3 / step_ms:5.1f}%")
            rest = step_ms - kernels_ms
            print(f"  {'the rest (autograd, NumPy, Python)':32s} {rest:8.1f} ms  "
                  f"{100 * rest / step_ms:5.1f}%")
            peak = peaks.get(threads)
            if peak and result["conv_gflops"]:
                print(f"  convolutions: {result['conv_gflops']:.1f} GFLOP/s = "
                      f"{100 * result['conv_gflops'] / peak[0]:.0f}% of the measured FMA peak "
                      f"({peak[0]:.1f} GFLOP/s, {peak[1]}, {threads} threads, {peak[2]})")


def slowdowns(quiet, loaded, options):
    print("\nunder load (one busy process per core): slowdown = quiet img/s / loaded img/s")
    for key in sorted(quiet):
        if key[3] != "minicnn":
            continue
        line = []
        for framework in ("minicnn", "torch"):
            k = key[:3] + (framework,)
            a = images_per_second(quiet, k, options.batch)
            b = images_per_second(loaded, k, options.batch)
            if a and b:
                line.append(f"{framework} {a / b:5.2f}x")
        print(f"  {key[0]} {key[1]} {key[2]}T: " + ", ".join(line))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["resnet20", "lenet5"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between processes")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per process")
    parser.add_argument("--under-load", action="store_true")
    parser.add_argument("--isa", choices=["native", "avx2"], default="native",
                        help="avx2: run as on a CPU without AVX-512")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--worker", choices=["minicnn", "torch"], dest="framework",
                        help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["train", "infer", "breakdown"], default="train",
                        help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.framework:
        return worker(options)
    if not options.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: minicnn only")
            options.no_torch = True

    print(f"{os.cpu_count()} cores, {load_note()}")
    peaks = {t: fma_peak(t, options.isa) for t in options.threads}
    for threads, peak in peaks.items():
        print(f"FMA peak, {threads} thread(s): " + (f"{peak[0]:.1f} GFLOP/s float32 ({peak[1]}), "
                                                     f"{peak[2]}" if peak else "not measured"))
    quiet = compare(options, "quiet")
    report(quiet, options, "quiet machine")
    if not options.no_breakdown:
        breakdown(options, peaks)
    if options.under_load:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(os.cpu_count() or 1)]
        try:
            time.sleep(1.0)
            loaded = compare(options, "loaded")
        finally:
            for hog in hogs:
                hog.kill()
            for hog in hogs:
                hog.wait()
        report(loaded, options, "under load")
        slowdowns(quiet, loaded, options)


if __name__ == "__main__":
    main()
