"""The degradation problem (He et al. 2016, "Deep residual learning for image recognition",
figures 1 and 6) at laptop size: a deeper plain network trains WORSE than a shallower one
(plain-56 against plain-20), while with shortcut connections the deeper one trains better
(ResNet-56 against ResNet-20).

    python examples/degradation.py --data PATH/cifar-10-binary.tar.gz [--out degradation.png]

PATH is the CIFAR-10 release (archive or extracted folder). By default each of the four
networks trains for 5 epochs on the first 2,000 training images with the paper's recipe (SGD,
momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10 at half and three
quarters of the run, 4-pixel crops and flips): 10,000 images per network, about 2 minutes for a
20-layer network on 2 CPU cores (ResNet-20 runs at about 80 images/s there) and, at 56/20 of the
work, about 6 for a 56-layer one. The training error per epoch is printed as a table (and drawn
with --out: training error dashed, test error solid, as in the paper's figures), then the
full-size command of each network (64k iterations, figure 6).
"""

import argparse
import json
import os
import sys
import tempfile

from minicnn import cli
from minicnn.utils import plotting

MODELS = ("plain20", "plain56", "resnet20", "resnet56")
RECIPE = ["--data", "cifar10", "--batch-size", "128", "--lr", "0.1", "--momentum", "0.9",
          "--no-nesterov", "--weight-decay", "1e-4", "--schedule", "multistep",
          "--augment", "crop,flip", "--crop-padding", "4"]


def command(model, data, epochs, out, subset=None, test_subset=None):
    """The `minicnn train` arguments for one network."""
    arguments = ["train", "--model", model, *RECIPE, "--data-path", data, "--epochs", str(epochs),
                 "--out", out]
    if subset:
        arguments += ["--train-subset", str(subset)]
    if test_subset:
        arguments += ["--test-subset", str(test_subset)]
    return arguments


def train(model, args):
    """Train one network with `minicnn train`; returns its history (one dict per epoch)."""
    out = os.path.join(args.runs, model)
    status = cli.main(command(model, args.data, args.epochs, out, args.subset, args.test_subset)
                      + ["--no-plots"])
    if status != 0:
        sys.exit(f"training {model} failed (exit status {status})")
    with open(os.path.join(out, "log.json"), encoding="utf-8") as file:
        return json.load(file)["epochs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 archive or folder")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--subset", type=int, default=2000, help="training images (default 2000)")
    parser.add_argument("--test-subset", type=int, default=1000, help="test images (default 1000)")
    parser.add_argument("--models", default=",".join(MODELS), help="default: " + ",".join(MODELS))
    parser.add_argument("--runs", default=None, help="folder for the checkpoints (default: a "
                                                     "temporary folder)")
    parser.add_argument("--out", metavar="FILE.png", help="draw the error curves (matplotlib)")
    args = parser.parse_args()
    if args.out and not plotting.available():
        sys.exit("--out needs matplotlib (pip install matplotlib)")
    models = args.models.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        args.runs = args.runs or scratch
        histories = {model: train(model, args) for model in models}
    print(f"\ntraining error (%) per epoch, {args.subset} CIFAR-10 images "
          "(test error of the last epoch at the end)")
    print("epoch " + " ".join(f"{model:>9s}" for model in models))
    for epoch in range(args.epochs):
        print(f"{epoch + 1:5d} " + " ".join(
            f"{100 * (1 - histories[m][epoch]['train_accuracy']):9.2f}" for m in models))
    print(" test " + " ".join(f"{100 * (1 - histories[m][-1]['test_top1']):9.2f}" for m in models))
    print("\nthe full-size experiment (He et al. 2016, figure 6: 64k iterations of batch 128 on "
          "45k images is 182 epochs of the 50k set):")
    for model in models:
        print("  minicnn " + " ".join(command(model, args.data, 182, f"runs/{model}-cifar10")))
    if args.out:
        plt = plotting.pyplot()
        figure, axes = plt.subplots(figsize=(7, 4.5))
        for index, model in enumerate(models):
            colour = f"C{index}"
            epochs = [record["epoch"] for record in histories[model]]
            axes.plot(epochs, [100 * (1 - r["train_accuracy"]) for r in histories[model]],
                      "--", marker="o", color=colour, label=f"{model} train")
            axes.plot(epochs, [100 * (1 - r["test_top1"]) for r in histories[model]],
                      "-", marker="o", color=colour, lw=2, label=f"{model} test")
        axes.set_xlabel("epoch")
        axes.set_ylabel("error (%)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        axes.set_title(f"CIFAR-10, {args.subset} training images: dashed training error, "
                       "solid test error", fontsize=9)
        plotting.save_png(figure, args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
