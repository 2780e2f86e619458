"""The degradation problem (He et al. 2016, "Deep residual learning for image recognition",
figures 1 and 6) at laptop size: in the paper a deeper plain network trains WORSE than a
shallower one (plain-56 against plain-20), while with shortcut connections the deeper one
trains better (ResNet-56 against ResNet-20).

    python examples/degradation.py --data PATH/cifar-10-binary.tar.gz [--out degradation.png]

PATH is the CIFAR-10 release (archive or extracted folder). Each network trains on the first
--subset training images (default 1,000) for --iterations minibatches (default 160 of 128,
about 20 epochs of the subset) with the paper's recipe: SGD, momentum 0.9, weight decay 1e-4,
He initialisation, minibatches of 128, learning rate 0.1 divided by 10 at half and three
quarters of the run, after a warm-up. The paper warms its deepest net (ResNet-110, section 4.2)
at 0.01 until the training error is below 80%, then jumps to 0.1; here every net warms up, and
gradually: 0.01 rising linearly to 0.1 over the first --warmup iterations (default 40; Goyal et
al. 2017, section 2.2), because the jump threw ResNet-56 back: with it (1,000 images, batches of
128) the training error fell below 80% at iteration 29 and was 89.9% at iteration 40 and 84.8% at
60, where ResNet-20 was at 70.6%. Every network starts from the same seed and sees the same
minibatches. No augmentation: degradation is a problem of optimisation, so what is measured is
the training error (of the whole subset, in eval mode, at 10 points of the run), printed as a
table and drawn with --out (the legend beside the axes, off the curves).

Measured at the default size (2026-12-07, the shared JPEG-decoded CIFAR-10 copy, seed 0; the
four nets as four processes with --models: a net's run does not depend on the others), final
training error: plain-20 55.6%, plain-56 78.7%, ResNet-20 33.4%, ResNet-56 41.1%. The first
finding shows: the deeper plain net trains worse, all along. The second does not at this size:
ResNet-56 led ResNet-20 while the rate was 0.1 (67.3% against 74.5% at iteration 64, 59.7%
against 67.4% at 80) and fell behind after the first division by 10; in the paper (64k
iterations) ResNet-56 ends below ResNet-20. With --iterations 240 both ResNets learn the subset
(2.2% and 6.6%) and ResNet-56 still ends behind (plain-20 34.3%, plain-56 72.3%). The tables,
the commands and the times are in benchmarks/results/degradation.txt. ResNet-20 trains at
about 156 images/s and ResNet-56 at about 49 (minibatches of 128, 2 cores, load average 4): the
default run is 4 x 20,480 training images plus the evaluations, about 7 minutes of CPU for
ResNet-56 and 2 for ResNet-20 on a quiet machine (14 to 21 minutes a net on the shared, loaded
one; the 240-iteration run of the four nets at once took 9 min 47 s on a quieter one).

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


def training_error(model, images, labels, batch=500):
    """The error (%) of the model on the images, in eval mode (running batch-norm statistics)."""
    model.eval()
    wrong = 0
    with mc.no_grad():
        for start in range(0, len(images), batch):
            scores = model(mc.tensor(images[start:start + batch])).numpy()
            wrong += int((scores.argmax(axis=1) != labels[start:start + batch]).sum())
    model.train()
    return 100 * wrong / len(images)


def learning_rate(iteration, iterations, warmup):
    """The paper's warm-up made gradual: WARMUP_LR rising linearly to LR over the first
    ``warmup`` iterations (Goyal et al. 2017, section 2.2), then LR / 10 at 50% and 75%."""
    if iteration <= warmup:
        return WARMUP_LR + (LR - WARMUP_LR) * (iteration - 1) / warmup
    return LR * 0.1 ** sum(iteration >= m * iterations for m in (0.5, 0.75))


def train(name, images, labels, args):
    """Train one network; returns [(iteration, training error %)] at 10 points, the last one at
    the end of the run."""
    started = time.perf_counter()
    mc.manual_seed(args.seed)
    model = mc.models.create(name, num_classes=10)
    model.train()
    optimizer = mc.optim.SGD(model.parameters(), lr=WARMUP_LR, momentum=0.9, weight_decay=1e-4)
    order = np.random.default_rng(args.seed)
    batches = np.concatenate([order.permutation(len(images)) for _ in range(
        args.iterations * args.batch_size // len(images) + 1)])
    checkpoints = set(np.linspace(args.iterations / 10, args.iterations, 10).astype(int))
    history = []
    for iteration in range(1, args.iterations + 1):
        pick = batches[(iteration - 1) * args.batch_size:iteration * args.batch_size]
        loss = F.cross_entropy(model(mc.tensor(images[pick])), labels[pick])
        optimizer.zero_grad()
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration, args.iterations, args.warmup)
        optimizer.step()
        if iteration == args.warmup:
            print(f"  {name}: warm-up ends at iteration {iteration}")
        if iteration in checkpoints:
            history.append((iteration, training_error(model, images, labels)))
            print(f"  {name}: iteration {iteration}, training error {history[-1][1]:.2f}%",
                  flush=True)
    seconds = time.perf_counter() - started
    print(f"  {name}: {seconds:.0f} s, {args.iterations * args.batch_size / seconds:.0f} "
          "training images/s (with the evaluations)", flush=True)
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
    parser.add_argument("--subset", type=int, default=1000, help="training images (default 1000)")
    parser.add_argument("--warmup", type=int, default=40,
                        help="iterations of warm-up from lr 0.01 to 0.1 (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODELS), help="default: " + ",".join(MODELS))
    parser.add_argument("--out", metavar="FILE.png", help="draw the error curves (matplotlib)")
    args = parser.parse_args()
    if args.out and not plotting.available():
        sys.exit("--out needs matplotlib (pip install matplotlib)")
    models = args.models.split(",")
    images, labels = load(args.data, args.subset)
    histories = {model: train(model, images, labels, args) for model in models}
    print(f"\ntraining error (%) of the {len(images)} training images, by iteration "
          f"(minibatches of {args.batch_size})")
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
