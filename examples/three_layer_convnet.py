"""CS231n's three-layer ConvNet trained on CIFAR-10 to the course's bar: at least 60% test
accuracy within minutes (assignment 2, ConvolutionalNetworks.ipynb).

    python examples/three_layer_convnet.py --data PATH/cifar-10-binary.tar.gz

The network of the exercise three_layer_convnet, written with minicnn's layers: conv 32 filters
7x7 (stride 1, padding 3) - spatial batch norm - ReLU - 2x2 max pool - affine 100 - ReLU -
affine 10 (batch norm is the assignment's allowed addition; --no-batch-norm drops it). Trained
with Adam (lr 2e-3, weight decay 5e-4; one-cycle schedule), minibatches of 128, each image
flipped left-right at random and shifted by up to 4 pixels (zero padding), inputs normalised
per channel; --epochs (default 8) over --train-subset images (default all 50,000), then the
test accuracy on all 10,000 test images.

A measured run: 68.43% test accuracy after 8 epochs (seed 0, the shared JPEG-decoded CIFAR-10
copy), 336 s of CPU time on 2 shared cores; the record is in
benchmarks/results/three_layer_convnet.txt.
"""

import argparse
import time

import numpy as np

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F


def three_layer_convnet(batch_norm=True, filters=32, kernel=7, hidden=100, num_classes=10):
    """conv (filters, kernel x kernel, same padding) - [BN] - ReLU - 2x2 max pool - affine
    hidden - ReLU - affine num_classes, on (N, 3, 32, 32) images; scores (N, num_classes)."""
    return nn.Sequential(
        nn.Conv2d(3, filters, kernel, padding=(kernel - 1) // 2),
        *([nn.BatchNorm2d(filters)] if batch_norm else []),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(filters * 16 * 16, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def load(path, train_subset=None):
    """(train images, train labels, test images, test labels): float32 (N, 3, 32, 32) images
    normalised with the training set's per-channel mean and standard deviation."""
    train, test = mc.data.CIFAR10(path, train=True), mc.data.CIFAR10(path, train=False)
    x_train = train.images[:train_subset].astype(np.float32) / 255
    x_test = test.images.astype(np.float32) / 255
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    return ((x_train - mean) / std, train.labels[:train_subset], (x_test - mean) / std,
            test.labels)


def augment(images, rng, shift=4):
    """Each image flipped left-right with probability 1/2 and shifted by up to ``shift`` pixels
    in each direction (a random crop of the zero-padded image)."""
    N, _, H, W = images.shape
    flip = rng.random(N) < 0.5
    images = np.where(flip[:, None, None, None], images[..., ::-1], images)
    padded = np.pad(images, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    rows, columns = rng.integers(0, 2 * shift + 1, (2, N))
    return np.stack([padded[n, :, rows[n]:rows[n] + H, columns[n]:columns[n] + W]
                     for n in range(N)])


def accuracy(model, images, labels, batch=1000):
    """The fraction of ``images`` whose highest score is its label, in eval mode."""
    model.eval()
    right = 0
    with mc.no_grad():
        for start in range(0, len(images), batch):
            scores = model(mc.tensor(images[start:start + batch])).numpy()
            right += int((scores.argmax(axis=1) == labels[start:start + batch]).sum())
    model.train()
    return right / len(images)


def train(data, epochs=8, batch_size=128, lr=2e-3, weight_decay=5e-4, batch_norm=True, seed=0,
          log=print):
    """Train on ``data`` (as ``load`` returns it); returns (model, test accuracy, seconds of
    training and evaluation)."""
    x_train, y_train, x_test, y_test = data
    start = time.perf_counter()
    mc.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = three_layer_convnet(batch_norm)
    optimizer = mc.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = len(x_train) // batch_size
    schedule = mc.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps)
    for epoch in range(1, epochs + 1):
        order, losses = rng.permutation(len(x_train)), []
        for step in range(steps):
            pick = order[step * batch_size:(step + 1) * batch_size]
            loss = F.cross_entropy(model(mc.tensor(augment(x_train[pick], rng))), y_train[pick])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        log(f"epoch {epoch}/{epochs}: training loss {np.mean(losses):.3f}, "
            f"{time.perf_counter() - start:.0f} s")
    test_accuracy = accuracy(model, x_test, y_test)
    return model, test_accuracy, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 archive or folder")
    parser.add_argument("--epochs", type=int, default=8, help="default 8")
    parser.add_argument("--train-subset", type=int, default=None,
                        help="train on the first N training images (default all 50,000)")
    parser.add_argument("--batch-size", type=int, default=128, help="default 128")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's peak lr (default 2e-3)")
    parser.add_argument("--no-batch-norm", action="store_true", help="drop the batch norm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load(args.data, args.train_subset)
    _, test_accuracy, seconds = train(data, args.epochs, args.batch_size, args.lr,
                                      batch_norm=not args.no_batch_norm, seed=args.seed)
    print(f"test accuracy {100 * test_accuracy:.2f}% on {len(data[3])} test images after "
          f"{args.epochs} epochs of {len(data[0])} training images ({seconds:.0f} s of "
          "training and evaluation)")


if __name__ == "__main__":
    main()
