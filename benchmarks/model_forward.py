"""Time one forward pass of each registered model at batch 1 and its natural input size (eval
mode, no graph), next to its parameters and multiply-adds from ``minicnn.summary``.

    python3 benchmarks/model_forward.py                      # the ImageNet models
    python3 benchmarks/model_forward.py resnet18 resnet20    # these models
    python3 benchmarks/model_forward.py --repeat 5 --backend numpy

The table gives the fastest of ``--repeat`` runs after one warm-up run. The machine's cores
may be shared: compare models within one run, not times across runs.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minicnn as mc  # noqa: E402


def time_forward(name, repeat):
    model = mc.models.create(name).eval()
    shape = (1,) + mc.models.input_size(name)
    x = mc.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    times = []
    with mc.no_grad():
        model(x)
        for _ in range(repeat):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    summary = mc.summary(model, shape)
    return min(times), summary.total_params, summary.total_mult_adds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model names (default: the ImageNet models)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--backend", default="auto", choices=["numpy", "c", "auto"])
    args = parser.parse_args()
    names = args.models or [name for name in mc.models.names()
                            if mc.models.default_num_classes(name) == 1000]
    mc.set_backend(args.backend)
    print(f"{'model':18s} {'input':10s} {'forward ms':>10s} {'params':>13s} "
          f"{'mult-adds':>16s} {'GMAC/s':>7s}")
    for name in names:
        seconds, params, mult_adds = time_forward(name, args.repeat)
        size = "x".join(str(s) for s in mc.models.input_size(name))
        print(f"{name:18s} {size:10s} {seconds * 1000:10.0f} {params:13,d} {mult_adds:16,d} "
              f"{mult_adds / seconds / 1e9:7.1f}", flush=True)


if __name__ == "__main__":
    main()
