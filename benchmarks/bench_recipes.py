"""Speed of a recipe's training step in minicnn and (optionally) PyTorch, and the projected
wall time of the whole recipe.

    python3 benchmarks/bench_recipes.py speedrun94 --torch
    python3 benchmarks/bench_recipes.py resnet20-fast --steps 5

For the recipe's network, batch size, optimizer (SGD with its momentum, Nesterov, weight decay
and, for speedrun94, the batch norms' learning-rate scale) and label smoothing, each framework
runs in a process of its own (benchmarks/bench_train_step.py says why) on random float32 data:
`--warmup` steps, then the median of `--steps` timed training steps, and the median of as many
evaluation passes (eval mode, no graph) at the evaluation's batch. Printed: img/s of each, the
ratio, and the projected wall time of the full recipe on this machine: epochs x the training
images / the training speed, plus one evaluation of the test images per evaluated epoch (every
``eval_every``-th; the last one with the recipe's test-time augmentation views). Not included:
data loading and augmentation, whitening and checkpoints (a few seconds). Every figure carries
the load average: compare figures taken on a quiet machine only.

Last, the floor no float32 implementation beats on this machine: the recipe's arithmetic (a
trained image costs about 3 forward passes' multiply-adds, forward, input and weight gradient,
2 flops each; an evaluated view one) at the FMA peak of `--threads` threads measured now
(benchmarks/fma_peak.c), as minutes and as the share of that peak the projected time implies;
and, where the CPU has AMX (Intel Sapphire Rapids and later), the same arithmetic at its
bfloat16 tile peak: the floor of a bfloat16 matrix product, which minicnn does not have.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_train_step import THREAD_VARIABLES, fma_peak, load_note, torch_model  # noqa: E402

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
TTA_VIEWS = {"none": 1, "flip": 2, "flip-translate": 6}


def timed(step, steps, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_minicnn(config, steps, warmup, eval_batch):
    import numpy as np
    import minicnn as mc
    from minicnn.recipes import build_optimizer

    mc.manual_seed(0)
    model = mc.models.create(config["model"])
    optimizer, _, _ = build_optimizer(config, model, steps_per_epoch=1)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((config["batch_size"], 3, 32, 32)).astype(np.float32))
    labels = rng.integers(0, 10, config["batch_size"])
    test = mc.tensor(rng.standard_normal((eval_batch, 3, 32, 32)).astype(np.float32))

    def train_step():
        optimizer.zero_grad()
        mc.nn.functional.cross_entropy(model(x), labels,
                                       label_smoothing=config["label_smoothing"]).backward()
        optimizer.step()

    def eval_pass():
        with mc.no_grad():
            model(test)
    model.train()
    train = timed(train_step, steps, warmup)
    model.eval()
    return {"train_s": train, "eval_s": timed(eval_pass, steps, 1)}


def run_torch(config, steps, warmup, eval_batch):
    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(0)
    model = torch_model(config["model"])
    params = [p for p in model.parameters() if p.requires_grad]
    scale, lr, decay = config["bias_lr_scale"], config["lr"], config["weight_decay"]
    shifts = {id(m.bias) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    groups = [{"params": [p for p in params if id(p) not in shifts]}]
    if scale != 1:
        groups.append({"params": [p for p in params if id(p) in shifts], "lr": lr * scale,
                       "weight_decay": decay / scale})
    else:
        groups[0]["params"] = params
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=config["momentum"], weight_decay=decay,
                                nesterov=config["nesterov"])
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((config["batch_size"], 3, 32, 32)).astype(np.float32))
    labels = torch.tensor(rng.integers(0, 10, config["batch_size"]))
    test = torch.tensor(rng.standard_normal((eval_batch, 3, 32, 32)).astype(np.float32))

    def train_step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels,
                                          label_smoothing=config["label_smoothing"]).backward()
        optimizer.step()

    def eval_pass():
        with torch.no_grad():
            model(test)
    model.train()
    train = timed(train_step, steps, warmup)
    model.eval()
    return {"train_s": train, "eval_s": timed(eval_pass, steps, 1)}


def measure(framework, options):
    env = dict(os.environ, **{variable: str(options.threads) for variable in THREAD_VARIABLES})
    command = [sys.executable, str(Path(__file__).resolve()), options.recipe, "--worker",
               framework, "--steps", str(options.steps), "--warmup", str(options.warmup),
               "--eval-batch", str(options.eval_batch)]
    if options.batch_size is not None:
        command += ["--batch-size", str(options.batch_size)]
    note = load_note()
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=options.timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{framework} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(lines[-1][len("RESULT "):]), "load": note}


def evaluated_views(config):
    """How many times a run of ``config`` passes the test images through the net: once after
    every ``eval_every``-th epoch before the last, then the last epoch's test-time views."""
    return (config["epochs"] - 1) // config["eval_every"] + TTA_VIEWS[config["tta"]]


def projected_seconds(config, result, eval_batch):
    """Training epochs at the measured step time, plus the evaluations (see the docstring)."""
    train = config["epochs"] * TRAIN_IMAGES / config["batch_size"] * result["train_s"]
    return train + evaluated_views(config) * TEST_IMAGES / eval_batch * result["eval_s"]


def recipe_flops(config):
    """(flops of a trained image, of the whole recipe): 3 forward passes a trained image, one an
    evaluated view (see the docstring)."""
    import minicnn as mc
    from minicnn.utils.summary import summary
    forward = 2 * summary(mc.models.create(config["model"]), (1, 3, 32, 32)).total_mult_adds
    trained = 3 * forward
    return trained, (trained * config["epochs"] * TRAIN_IMAGES
                     + forward * evaluated_views(config) * TEST_IMAGES)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="a recipe name (`minicnn recipes`)")
    parser.add_argument("--torch", action="store_true", help="also measure PyTorch")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--eval-batch", type=int, default=1000,
                        help="images per evaluation pass (default 1000)")
    parser.add_argument("--threads", type=int, default=2, help="threads of each (default 2)")
    parser.add_argument("--batch-size", type=int, help="the recipe's batch size, overridden")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--worker", choices=["minicnn", "torch"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    from minicnn.recipes import UsageError, recipe_config
    try:
        config = recipe_config(options.recipe)
    except UsageError as error:
        parser.error(str(error))
    if options.batch_size is not None:
        config["batch_size"] = options.batch_size
    if options.worker:
        run = run_minicnn if options.worker == "minicnn" else run_torch
        print("RESULT " + json.dumps(run(config, options.steps, options.warmup,
                                         options.eval_batch)))
        return
    print(f"recipe {options.recipe}: {config['model']}, batch {config['batch_size']}, "
          f"{config['epochs']} epochs, {options.threads} threads")
    results = {"minicnn": measure("minicnn", options)}
    if options.torch:
        results["torch"] = measure("torch", options)
    for name, result in results.items():
        speed = config["batch_size"] / result["train_s"]
        total = projected_seconds(config, result, options.eval_batch)
        print(f"{name:8s} train {speed:8.1f} img/s  eval {options.eval_batch / result['eval_s']:8.1f}"
              f" img/s  projected recipe {total / 60:6.1f} min  [{result['load']}]")
    if "torch" in results:
        ratio = results["torch"]["train_s"] / results["minicnn"]["train_s"]
        print(f"minicnn / PyTorch training speed: {ratio:.2f}")
    per_image, total = recipe_flops(config)
    peak = fma_peak(options.threads, "native")
    if peak is not None:
        gflops, isa, note = peak
        floor = total / (gflops * 1e9)
        print(f"arithmetic: {per_image / 1e9:.2f} GFLOP a trained image, {total / 1e15:.3f} PFLOP "
              f"the recipe; at the FMA peak of {options.threads} threads, {gflops:.0f} GFLOP/s "
              f"({isa}, [{note}]), {floor / 60:.1f} min")
        for name, result in results.items():
            projected = projected_seconds(config, result, options.eval_batch)
            print(f"{name:8s} projected recipe = {projected / floor:.1f} x that floor "
                  f"({100 * floor / projected:.0f}% of the peak)")
    tile_peak = fma_peak(options.threads, "amx-bf16")
    if tile_peak is not None:
        gflops, isa, note = tile_peak
        print(f"at the bfloat16 tile peak of {options.threads} threads, {gflops:.0f} GFLOP/s "
              f"({isa}, [{note}]): {total / (gflops * 1e9) / 60:.1f} min")


if __name__ == "__main__":
    main()
