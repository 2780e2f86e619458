"""LeNet-5 on Fashion-MNIST, written out with the Python API: what `minicnn train` runs with no
arguments.

    python examples/lenet_fashion_mnist.py                  # the subset shipped with minicnn
    python examples/lenet_fashion_mnist.py FOLDER           # the full dataset's IDX files
    python examples/lenet_fashion_mnist.py --classic        # the paper's tanh + average pooling

Recipe: LeNet-5 with ReLU and max pooling, SGD with Nesterov momentum 0.9 and weight decay
5e-4, batch 64, a one-cycle learning rate peaking at 0.05 over 12 epochs, and random crops of
the image padded by 2 pixels. On the 15,000-image subset it reaches about 88% test accuracy.
"""

import argparse
import sys

import minicnn as mc
from minicnn.data import transforms

MEAN, STD = (0.2860,), (0.3530,)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", help="folder of the Fashion-MNIST IDX files "
                                                  "(default: the subset shipped with minicnn)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--classic", action="store_true",
                        help="the paper's tanh and average pooling instead of ReLU and max pooling")
    parser.add_argument("--out", help="folder of the run (default runs/lenet_fashion_mnist, or "
                                      "the first runs/lenet_fashion_mnist-N that holds no run)")
    args = parser.parse_args()
    if args.out is None:
        args.out = mc.train.unused_run_folder("runs/lenet_fashion_mnist")
    elif mc.train.holds_run(args.out):
        parser.error(f"--out {args.out} holds a run; choose another --out")

    mc.manual_seed(0)
    normalize = transforms.Normalize(MEAN, STD)
    augment = transforms.Compose([transforms.RandomCrop(28, padding=2), normalize])
    if args.folder:
        try:
            train_set = mc.data.FashionMNIST(args.folder, train=True, transform=augment)
            test_set = mc.data.FashionMNIST(args.folder, train=False, transform=normalize)
        except (FileNotFoundError, ValueError) as error:    # no IDX files, or damaged ones
            sys.exit(f"cannot read Fashion-MNIST from {args.folder}: {error}")
    else:
        train_set = mc.data.embedded_fashion_mnist(train=True, transform=augment)
        test_set = mc.data.embedded_fashion_mnist(train=False, transform=normalize)
    train_loader = mc.data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0)
    test_loader = mc.data.DataLoader(test_set, batch_size=500)

    model = mc.models.create("lenet5", modern=not args.classic)
    print(mc.summary(model, (1, 28, 28)), file=sys.stderr)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                             weight_decay=5e-4)
    scheduler = mc.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, epochs=args.epochs,
                                                 steps_per_epoch=len(train_loader))
    trainer = mc.train.Trainer(model, train_loader, test_loader, optimizer, scheduler,
                               scheduler_interval="step", out_dir=args.out,
                               class_names=test_set.classes)
    print(f"checkpoints in {args.out}")
    trainer.fit(args.epochs)
    print(f"test accuracy: {100 * trainer.history[-1]['test_top1']:.2f}%")


if __name__ == "__main__":
    main()
