"""The degradation problem (He et al. 2016, "Deep residual learning for image recognition",
figures 1 and 6) at laptop size: in the paper a deeper plain network trains WORSE than a
shallower one (plain-56 against plain-20), while with shortcut connections the deeper one
trains better (ResNet-56 against ResNet-20).

    python examples/degradation.py --data PATH/cifar-10-binary.tar.gz [--out degradation.png]

PATH is the CIFAR-10 release (archive or extracted folder). Each network trains on the first
--subset training images (default 10,000) for --iterations minibatches (default 160 of 128,
about two passes over the subset: the under-fitting regime of the paper's curves, not the
memorising of a small set) with the paper's recipe: SGD, momentum 0.9, weight decay 1e-4, He
initialisation, minibatches of 128, learning rate 0.1 divided by 10 at half and three quarters
of the run, after a warm-up. The paper warms its deepest net (ResNet-110, section 4.2) at 0.01
until the training error is below 80%, then jumps to 0.1; here every net warms up, and
gradually: 0.01 rising linearly to 0.1 over the first --warmup iterations (default 40; Goyal et
al. 2017, section 2.2), because the jump threw ResNet-56 back (on 1,000 images: 89.9% at
iteration 40, 84.8% at 60, where ResNet-20 was at 70.6%), and so does no warm-up at all (the
paper's recipe for ResNet-20 and -56: 82.8% at iteration 80, where ResNet-20 was at 63.7%).
Every network starts from the same seed and sees the same minibatches. No augmentation:
degradation is a problem of optimisation, so what is measured is the training error: at 10
points of the run, the error of the minibatches since the previous point (2,048 images at the
default size), each scored in train mode by the forward pass of its own step, before the
update (a training curve as a training log reports it, at no extra cost); printed as a table
and drawn with --out (the legend beside the axes, off the curves).

One change from the paper's recipe: the ResNets start with ``zero_init_residual=True``
(torchvision's option: the last BN weight of each residual block is 0, so that each block
starts as its shortcut; Goyal et al. 2017, section 5.1). It is not the paper's
initialisation (--no-zero-init-residual gives that); it is used because without it ResNet-56
ended behind ResNet-20 at every size tried (below).

Measured at the default size (2026-12-07, the shared JPEG-decoded CIFAR-10 copy), final
training error: seed 0: plain-20 65.5%, plain-56 90.3%, ResNet-20 67.9%, ResNet-56 65.1%;
seed 1: plain-20 65.8%, plain-56 88.8%, ResNet-20 66.7%, ResNet-56 65.9%. Both
findings show: plain-56 trains worse than plain-20, and ResNet-56 ends below ResNet-20, by
2.8 and 0.8 points (the standard error of one point is about 1 point: 2,048 images at about
66% error), so the second finding is a small effect at this size. What does not look like the
paper: plain-56 does not learn at all in a run this short (it stays near chance, 90%, where
the paper's plain-56 learns, slower); the zero-initialised ResNets learn slower than with the
paper's initialisation (seed 0: ResNet-20 58.3%, ResNet-56 63.8% with it), and ResNet-20 ends
behind plain-20 (in the figure ResNet-56 and plain-20 run close together, below ResNet-20).

Tried and not kept (ResNet-20 against ResNet-56, final training error, seed 0 unless said):
1,000 images, the error of the whole subset in eval mode (the former default): 33.4% against
41.1% (ResNet-56 led while the rate was 0.1 and fell behind after the first division); the
same with train-mode error, with a constant rate, with augmentation, and with 240 iterations
(2.2% against 6.6%): ResNet-56 behind; 1,000 images with zero_init_residual: 63.6% against
63.3% (a tie); 500 images: 0.4% against 42.2% at iteration 112 (stopped); 10,000 images with
the paper's initialisation: 58.3% against 63.8% (seed 1: 56.1% against 66.2%). The tables, the
commands and the times are in benchmarks/results/degradation.txt. The default run of the four
nets took 12 minutes in one process (ResNet-20 140 s, ResNet-56 301 s, plain-20 79 s, plain-56
205 s: 146, 68, 258 and 100 training images/s; no separate evaluation pass) on 2 cores shared
with other work (load average 3 to 9); on the quieter machine (load average 1 to 3) ResNet-20
trained at 363 and ResNet-56 at 134 images/s, which makes the default run at most about 7
minutes there (the plain nets trained faster than the ResNets of their depth).

The full-size experiment is printed at the end (`minicnn train`, 64k iterations, figure 6).
"""

import argparse
import sys
import time

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.utils import plotting

MODELS = ("resnet20", "resnet56", "plain20", "plain56")
RECIPE = ["--data", "cifar10", "--batch-size", "128", "--lr", "0.1", "--momentum", "0.9",
          "--no-nesterov", "--weight-decay", "1e-4", "--schedule", "multistep",
          "--augment", "crop,flip", "--crop-padding", "4"]
WARMUP_LR, LR = 0.01, 0.1


def command(model, data, epochs, out, subset=None, test_subset=None):
    """The `minicnn train` arguments for one network of the full-size experiment."""
    arguments = ["train", "--model", model, *RECIPE, "--data-path", data, "--epochs", str(epochs),
                 "--out", out]
    if subset:
        arguments += ["--train-subset", str(subset)]
    if test_subset:
        arguments += ["--test-subset", str(test_subset)]
    return arguments


def load(path, subset):
    """The first ``subset`` training images, normalised per channel (float32), and labels."""
    data = mc.data.CIFAR10(path, train=True)
    images = data.images[:subset].astype(np.float32) / 255
    mean = images.mean(axis=(0, 2, 3), keepdims=True)
    std = images.std(axis=(0, 2, 3), keepdims=True)
    return (images - mean) / std, data.labels[:subset]


def learning_rate(iteration, iterations, warmup):
    """The paper's warm-up made gradual: WARMUP_LR rising linearly to LR over the first
    ``warmup`` iterations (Goyal et al. 2017, section 2.2), then LR / 10 at 50% and 75%."""
    if iteration <= warmup:
        return WARMUP_LR + (LR - WARMUP_LR) * (iteration - 1) / warmup
    return LR * 0.1 ** sum(iteration >= m * iterations for m in (0.5, 0.75))


def train(name, images, labels, args):
    """Train one network; returns [(iteration, training error %)] at 10 points, the last one at
    the end of the run: the error of the minibatches since the previous point, each scored in
    train mode by the forward pass of its own step (before the update)."""
    started = time.perf_counter()
    mc.manual_seed(args.seed)
    options = {"zero_init_residual": not args.no_zero_init_residual} if name.startswith(
        "resnet") else {}
    model = mc.models.create(name, num_classes=10, **options)
    model.train()
    optimizer = mc.optim.SGD(model.parameters(), lr=WARMUP_LR, momentum=0.9, weight_decay=1e-4)
    order = np.random.default_rng(args.seed)
    batches = np.concatenate([order.permutation(len(images)) for _ in range(
        args.iterations * args.batch_size // len(images) + 1)])
    checkpoints = set(np.linspace(args.iterations / 10, args.iterations, 10).astype(int))
    history, wrong, seen = [], 0, 0
    for iteration in range(1, args.iterations + 1):
        pick = batches[(iteration - 1) * args.batch_size:iteration * args.batch_size]
        scores = model(mc.tensor(images[pick]))
        wrong += int((scores.numpy().argmax(axis=1) != labels[pick]).sum())
        seen += len(pick)
        loss = F.cross_entropy(scores, labels[pick])
        optimizer.zero_grad()
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration, args.iterations, args.warmup)
        optimizer.step()
        if iteration == args.warmup:
            print(f"  {name}: warm-up ends at iteration {iteration}")
        if iteration in checkpoints:
            history.append((iteration, 100 * wrong / seen))
            wrong, seen = 0, 0
            print(f"  {name}: iteration {iteration}, training error {history[-1][1]:.2f}%",
                  flush=True)
    seconds = time.perf_counter() - started
    print(f"  {name}: {seconds:.0f} s, {args.iterations * args.batch_size / seconds:.0f} "
          "training images/s", flush=True)
    return history


def draw(histories, path, subset, batch_size):
    """The training-error curves of ``histories`` ({model: [(iteration, error %)]}) as a PNG,
    the legend beside the axes (never over a curve)."""
    plt = plotting.pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    for index, (model, history) in enumerate(histories.items()):
        iterations, errors = zip(*history)
        colour = f"C{MODELS.index(model) if model in MODELS else len(MODELS) + index}"
        axes.plot(iterations, errors, "--" if model.startswith("plain") else "-",
                  marker="o", color=colour, lw=2, label=model)
    axes.set_xlabel("iteration")
    axes.set_ylabel("training error (%)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                title="dashed: plain\nsolid: residual", title_fontsize=8)
    axes.set_title(f"CIFAR-10, {subset} training images, minibatches of {batch_size}: "
                   "training error of plain and residual networks", fontsize=9)
    plotting.save_png(figure, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 archive or folder")
    parser.add_argument("--iterations", type=int, default=160, help="minibatches (default 160)")
    parser.add_argument("--batch-size", type=int, default=128, help="default 128")
    parser.add_argument("--subset", type=int, default=10000,
                        help="training images (default 10000)")
    parser.add_argument("--warmup", type=int, default=40,
                        help="iterations of warm-up from lr 0.01 to 0.1 (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-zero-init-residual", action="store_true",
                        help="the paper's initialisation of the ResNets (last BN weight of "
                             "each block 1, not 0)")
    parser.add_argument("--models", default=",".join(MODELS), help="default: " + ",".join(MODELS))
    parser.add_argument("--out", metavar="FILE.png", help="draw the error curves (matplotlib)")
    args = parser.parse_args()
    if args.out and not plotting.available():
        sys.exit("--out needs matplotlib (pip install matplotlib)")
    models = args.models.split(",")
    images, labels = load(args.data, args.subset)
    histories = {model: train(model, images, labels, args) for model in models}
    print(f"\ntraining error (%) of the minibatches of {args.batch_size} since the previous "
          f"row (train mode; {len(images)} training images), by iteration")
    print("iteration " + " ".join(f"{model:>9s}" for model in models))
    for row in range(len(histories[models[0]])):
        print(f"{histories[models[0]][row][0]:9d} " + " ".join(
            f"{histories[m][row][1]:9.2f}" for m in models))
    print("\nthe full-size experiment (He et al. 2016, figure 6: 64k iterations of batch 128 on "
          "45k images is 182 epochs of the 50k set):")
    for model in models:
        print("  minicnn " + " ".join(command(model, args.data, 182, f"runs/{model}-cifar10")))
    if args.out:
        draw(histories, args.out, len(images), args.batch_size)
        print(f"saved {args.out}")

if __name__ == "__main__":
    main()
