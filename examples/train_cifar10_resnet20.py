"""Train ResNet-20 on CIFAR-10 with the recipe of He et al., "Deep Residual Learning for Image
Recognition" (CVPR 2016), section 4.2: SGD with momentum 0.9 and weight decay 1e-4, batch 128,
learning rate 0.1 divided by 10 at half and three quarters of the run, and the standard
augmentation (4 pixels of zero padding, a random 32x32 crop, a random horizontal flip).

    python examples/train_cifar10_resnet20.py CIFAR10_PATH [--epochs 182] [--subset N]
    python examples/train_cifar10_resnet20.py ~/data/cifar-10-binary.tar.gz --epochs 3 --subset 5000

CIFAR10_PATH is the binary or python release of CIFAR-10, as the archive
(cifar-10-binary.tar.gz, cifar-10-python.tar.gz) or the extracted folder. The paper trains
64k iterations (182 epochs) for 8.75% test error; on a CPU an epoch takes minutes, so start
with a few epochs on a subset. Checkpoints go to --out (default runs/resnet20-cifar10, or
runs/resnet20-cifar10-1, -2, ... when that holds a run, as for `minicnn train`); --resume
continues an interrupted run.

This is the run that `minicnn train --model resnet20 --data cifar10 --data-path PATH
--augment crop,flip --crop-padding 4 --batch-size 128 --lr 0.1 --weight-decay 1e-4
--schedule multistep --no-nesterov --epochs 182` makes, written out with the Python API; its
checkpoints carry the same configuration, so `minicnn eval OUT/best.npz --tta flip` reads them.
"""

import argparse
import os
import sys

import numpy as np

import minicnn as mc
from minicnn.recipes import TRAIN_DEFAULTS
from minicnn.data import transforms

DEFAULT_OUT = "runs/resnet20-cifar10"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="CIFAR-10 archive (cifar-10-binary.tar.gz or "
                                     "cifar-10-python.tar.gz) or its extracted folder")
    parser.add_argument("--epochs", type=int, default=182)
    parser.add_argument("--subset", type=int, help="train on the first N training images")
    parser.add_argument("--test-subset", type=int, help="test on the first N test images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help=f"folder of the run (default {DEFAULT_OUT}, or the first "
                                      f"{DEFAULT_OUT}-N that holds no run)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.npz")
    args = parser.parse_args()
    if args.out is None:
        args.out = DEFAULT_OUT if args.resume else mc.train.unused_run_folder(DEFAULT_OUT)
    elif not args.resume and mc.train.holds_run(args.out):
        parser.error(f"--out {args.out} holds a run; continue it with --resume, or choose "
                     "another --out")
    return args


def main():
    args = parse_arguments()
    if not os.path.exists(args.path):
        sys.exit(f"CIFAR-10 not found at {args.path}: pass the path of cifar-10-binary.tar.gz "
                 "(https://www.cs.toronto.edu/~kriz/cifar.html) or of its extracted folder")
    mc.manual_seed(args.seed)
    normalize = transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)
    augment = transforms.Compose([transforms.RandomCrop(32, padding=4),
                                  transforms.RandomHorizontalFlip(), normalize])
    train_set = mc.data.CIFAR10(args.path, train=True, transform=augment)
    test_set = mc.data.CIFAR10(args.path, train=False, transform=normalize)
    if args.subset:
        train_set = mc.data.Subset(train_set, np.arange(min(args.subset, len(train_set))))
    if args.test_subset:
        test_set = mc.data.Subset(test_set, np.arange(min(args.test_subset, len(test_set))))
    train_loader = mc.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                      seed=args.seed)
    test_loader = mc.data.DataLoader(test_set, batch_size=500)

    model = mc.models.create("resnet20", num_classes=10)
    optimizer = mc.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                             weight_decay=args.weight_decay)
    milestones = [max(1, args.epochs // 2), max(1, (3 * args.epochs) // 4)]
    scheduler = mc.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    config = {**TRAIN_DEFAULTS, "model": "resnet20", "model_options": {}, "data": "cifar10",
              "data_path": os.path.abspath(args.path), "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "momentum": 0.9, "nesterov": False,
              "weight_decay": args.weight_decay, "schedule": "multistep",
              "milestones": milestones, "gamma": 0.1, "augment": "crop,flip", "crop_padding": 4,
              "train_subset": args.subset, "test_subset": args.test_subset, "seed": args.seed}
    trainer = mc.train.Trainer(model, train_loader, test_loader, optimizer, scheduler,
                               out_dir=args.out, class_names=test_set.classes, config=config)
    if args.resume:
        trainer.resume(os.path.join(args.out, "last.npz"))
    kernels = mc.backend.kernels_for(np.empty(1, np.float32)).NAME
    print(f"ResNet-20 on {len(train_set)} CIFAR-10 images for "
          f"{mc.train.plural(args.epochs, 'epoch')} (milestones {milestones}, {kernels} "
          f"kernels); checkpoints in {args.out}")
    trainer.fit(args.epochs)
    last = trainer.history[-1]
    print(f"test accuracy: {100 * last['test_top1']:.2f}% (top-5 {100 * last['test_top5']:.2f}%)")


if __name__ == "__main__":
    main()
