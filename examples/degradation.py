"""The degradation problem (He et al. 2016, "Deep residual learning for image recognition",
figures 1 and 6) at laptop size: in the paper a deeper plain network trains WORSE than a
shallower one (plain-56 against plain-20), while with shortcut connections the deeper one
trains better (ResNet-56 against ResNet-20).

    python examples/degradation.py --data PATH/cifar-10-binary.tar.gz [--out degradation.png]

PATH is the CIFAR-10 release (archive or extracted folder). Each network trains on the first
--subset training images (default 5,000) for --iterations minibatches (default 1,200 of 64,
about 15 epochs of the subset), with the paper's recipe: SGD, momentum 0.9, weight decay 1e-4,
He initialisation, learning rate 0.1 divided by 10 at half and three quarters of the run, and
the paper's warm-up for its deepest net (section 4.2, ResNet-110): 0.01 until the training
error is below 80% (at most --warmup iterations, default 200), then 0.1. Every network starts
from the same seed and sees the same minibatches. No augmentation: degradation is a problem of
optimisation, so what is measured is the training error (of the whole subset, in eval mode, at
10 points of the run), printed as a table and drawn with --out (legend beside the axes).

At the default size a 20-layer network runs about 77k images (ResNet-20 about 80 images/s on 2
CPU cores: some 16 minutes) and a 56-layer one 2.8 times that; use --iterations and --subset
to trade time for contrast. The plain nets part early: in one run of 400 iterations of 32 on
2,000 images plain-56 ended at 82.7% training error and plain-20 at 67.8%; but ResNet-56 was
still behind ResNet-20 there (74.0% against 62.3%), and after 1,200 iterations of 32 too
(46.0% against 29.2%): runs this short do not show the paper's second finding, which comes from
64k iterations of 128. The full-size experiment is printed at the end (`minicnn train`, 64k
iterations, figure 6).
"""

import argparse
import sys

import numpy as np

import minicnn as mc
import minicnn.nn.functional as F
from minicnn.utils import plotting

MODELS = ("plain20", "plain56", "resnet20", "resnet56")
RECIPE = ["--data", "cifar10", "--batch-size", "128", "--lr", "0.1", "--momentum", "0.9",
          "--no-nesterov", "--weight-decay", "1e-4", "--schedule", "multistep",
          "--augment", "crop,flip", "--crop-padding", "4"]
WARMUP_LR, LR, WARMUP_UNTIL = 0.01, 0.1, 0.80


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


def learning_rate(iteration, iterations, warming):
    """The paper's schedule: WARMUP_LR while warming up, LR, then / 10 at 50% and 75%."""
    if warming:
        return WARMUP_LR
    return LR * 0.1 ** sum(iteration >= m * iterations for m in (0.5, 0.75))


def train(name, images, labels, args):
    """Train one network; returns [(iteration, training error %)] at 10 points, the last one at
    the end of the run."""
    mc.manual_seed(args.seed)
    model = mc.models.create(name, num_classes=10)
    model.train()
    optimizer = mc.optim.SGD(model.parameters(), lr=WARMUP_LR, momentum=0.9, weight_decay=1e-4)
    order = np.random.default_rng(args.seed)
    batches = np.concatenate([order.permutation(len(images)) for _ in range(
        args.iterations * args.batch_size // len(images) + 1)])
    checkpoints = set(np.linspace(args.iterations / 10, args.iterations, 10).astype(int))
    history, warming, recent = [], True, []
    for iteration in range(1, args.iterations + 1):
        pick = batches[(iteration - 1) * args.batch_size:iteration * args.batch_size]
        logits = model(mc.tensor(images[pick]))
        loss = F.cross_entropy(logits, labels[pick])
        optimizer.zero_grad()
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration, args.iterations, warming)
        optimizer.step()
        # warm-up ends when the running training error (last 20 minibatches) is below 80%
        recent = (recent + [float((logits.numpy().argmax(axis=1) != labels[pick]).mean())])[-20:]
        if warming and (iteration >= args.warmup or (len(recent) == 20
                                                     and np.mean(recent) < WARMUP_UNTIL)):
            warming = False
            print(f"  {name}: warm-up ends at iteration {iteration}")
        if iteration in checkpoints:
            history.append((iteration, training_error(model, images, labels)))
            print(f"  {name}: iteration {iteration}, training error {history[-1][1]:.2f}%",
                  flush=True)
    return history


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 archive or folder")
    parser.add_argument("--iterations", type=int, default=1200, help="minibatches (default 1200)")
    parser.add_argument("--batch-size", type=int, default=64, help="default 64")
    parser.add_argument("--subset", type=int, default=5000, help="training images (default 5000)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="at most this many iterations at lr 0.01 (default 200)")
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
        plt = plotting.pyplot()
        figure, axes = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
        for index, model in enumerate(models):
            iterations, errors = zip(*histories[model])
            colour = f"C{MODELS.index(model) if model in MODELS else len(MODELS) + index}"
            axes.plot(iterations, errors, "--" if model.startswith("plain") else "-",
                      marker="o", color=colour, lw=2, label=model)
        axes.set_xlabel("iteration")
        axes.set_ylabel("training error (%)")
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                    title="dashed: plain\nsolid: residual", title_fontsize=8)
        axes.set_title(f"CIFAR-10, {len(images)} training images, minibatches of "
                       f"{args.batch_size}: training error of plain and residual networks",
                       fontsize=9)
        plotting.save_png(figure, args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
