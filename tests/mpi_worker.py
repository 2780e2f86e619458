"""The two-rank half of tests/framework/test_distributed.py: run as ``mpiexec -n 2 python
tests/mpi_worker.py OUT_DIR``. Every case runs on both ranks; each rank writes what it measured to
OUT_DIR/rank<r>.json, and the tests there assert on it. A case that raises aborts the job (the
excepthook of minicnn.distributed), which the tests report with the output."""

import io
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minicnn as mc  # noqa: E402
import minicnn.nn as nn  # noqa: E402
import minicnn.nn.functional as F  # noqa: E402
from minicnn import distributed  # noqa: E402
from minicnn.data import ArrayDataset, DataLoader, DistributedSampler  # noqa: E402
from minicnn.nn.functional.sync_batch_norm import sync_batch_norm  # noqa: E402
from minicnn.nn.parallel import DistributedDataParallel  # noqa: E402
from minicnn.train import Trainer, TrainingInterrupted  # noqa: E402

STEPS, BATCH = 5, 8          # 5 SGD steps on a global batch of 8: 4 images per rank


def relative_error(a, b):
    """max |a - b| / max |b| over one array."""
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def net(batch_norm):
    mc.manual_seed(0)
    layers = [nn.Conv2d(2, 3, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(3))
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4)]
    return nn.Sequential(*layers).double()


def batches():
    """The global batches of the 5 steps, the same on every rank."""
    rng = np.random.default_rng(42)
    return [(rng.standard_normal((BATCH, 2, 4, 4)), rng.integers(0, 4, BATCH))
            for _ in range(STEPS)]


def sgd(model):
    return mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)


def state(model):
    return {name: value.numpy() for name, value in model.state_dict().items()
            if value.dtype.kind == "f"}


def train_ddp(model, rank, ranks):
    """5 steps of DistributedDataParallel, this rank's share of each global batch; tiny buckets,
    so that several reductions are in flight during the backward pass."""
    ddp = DistributedDataParallel(model, bucket_cap_mb=200 / 2**20)
    optimizer = sgd(ddp)
    share = BATCH // ranks
    for images, labels in batches():
        optimizer.zero_grad()
        part = slice(rank * share, (rank + 1) * share)
        F.cross_entropy(ddp(mc.tensor(images[part])), labels[part]).backward()
        optimizer.step()
    return ddp


def equivalence_reference(batch_norm):
    """The state after the 5 steps in one process with the whole batch."""
    reference = net(batch_norm)
    optimizer = sgd(reference)
    for images, labels in batches():
        optimizer.zero_grad()
        F.cross_entropy(reference(mc.tensor(images)), labels).backward()
        optimizer.step()
    return state(reference)


def equivalence(sync_bn, rank, ranks):
    """2 ranks x B/2 against 1 process x B (computed here, on every rank)."""
    model = net(sync_bn)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = train_ddp(model, rank, ranks)
    expected, got = equivalence_reference(sync_bn), state(model)
    return {"buckets": len(ddp._buckets),
            "errors": {name: relative_error(got[name], expected[name]) for name in expected}}


def plain_batch_norm(rank, ranks):
    """DDP with BatchNorm2d: each rank normalises its own share; the gradient is the average of
    the per-share gradients; the running statistics are rank 0's (broadcast before each
    forward)."""
    reference = net(True)
    optimizer = sgd(reference)
    share = BATCH // ranks
    bn = reference[1]
    for images, labels in batches():
        before = {name: b.numpy().copy() for name, b in bn.named_buffers()}
        grads = []
        for part in range(ranks):
            for name, b in bn.named_buffers():
                b.array[...] = before[name]
            optimizer.zero_grad()
            rows = slice(part * share, (part + 1) * share)
            F.cross_entropy(reference(mc.tensor(images[rows])), labels[rows]).backward()
            grads.append([p.grad.numpy().copy() for p in reference.parameters()])
            if part == 0:
                after_rank0 = {name: b.numpy().copy() for name, b in bn.named_buffers()}
        for name, b in bn.named_buffers():
            b.array[...] = after_rank0[name]
        for param, *shares in zip(reference.parameters(), *grads):
            param.grad.array[...] = sum(shares) / ranks
        optimizer.step()
    model = net(True)
    train_ddp(model, rank, ranks)
    expected, got = state(reference), state(model)
    params = [name for name, _ in reference.named_parameters()]
    global_batch = equivalence_reference(True)
    return {"param_errors": {name: relative_error(got[name], expected[name]) for name in params},
            "difference_from_global_batch_norm": max(
                relative_error(got[name], global_batch[name]) for name in params),
            "running_mean_error": relative_error(got["1.running_mean"],
                                                 expected["1.running_mean"]),
            "running_var_error": relative_error(got["1.running_var"],
                                                expected["1.running_var"])}


def sync_bn_gradcheck(rank, ranks, eps=1e-6):
    """Central differences of total = sum over ranks of <g_r, sync_batch_norm(x_r)>, x_r this
    rank's (2, 3, 2, 2) share, against backprop (weight and bias summed over the ranks)."""
    rng = np.random.default_rng(100 + rank)
    x = mc.tensor(rng.standard_normal((2, 3, 2, 2)) + rank, requires_grad=True)
    g = rng.standard_normal((2, 3, 2, 2))
    shared = np.random.default_rng(7)
    weight = mc.tensor(shared.uniform(0.5, 1.5, 3), requires_grad=True)
    bias = mc.tensor(shared.standard_normal(3), requires_grad=True)

    def total():
        with mc.no_grad():
            y = sync_batch_norm(x, None, None, weight, bias, training=True)
        return float(distributed.all_reduce(np.array([(y.numpy() * g).sum()]))[0])

    y = sync_batch_norm(x, None, None, weight, bias, training=True)
    y.backward(mc.tensor(g))
    analytic = {"x": x.grad.numpy(),
                "weight": distributed.all_reduce(weight.grad.numpy().copy()),
                "bias": distributed.all_reduce(bias.grad.numpy().copy())}
    numeric = {"x": np.zeros(x.shape), "weight": np.zeros(3), "bias": np.zeros(3)}
    for owner in range(ranks):                   # every rank runs every forward, in step
        for i in range(x.numel()):
            values = []
            for step in (eps, -eps):
                if rank == owner:
                    x.array.reshape(-1)[i] += step
                values.append(total())
                if rank == owner:
                    x.array.reshape(-1)[i] -= step
            if rank == owner:
                numeric["x"].reshape(-1)[i] = (values[0] - values[1]) / (2 * eps)
    for name, tensor in (("weight", weight), ("bias", bias)):
        for i in range(3):
            values = []
            for step in (eps, -eps):
                tensor.array[i] += step
                values.append(total())
                tensor.array[i] -= step
            numeric[name][i] = (values[0] - values[1]) / (2 * eps)
    return {name: float((np.abs(analytic[name] - numeric[name])
                         / np.maximum(np.abs(analytic[name]) + np.abs(numeric[name]), 1e-8)).max())
            for name in analytic}


def sampler_shards(rank, ranks):
    """Every rank's indices, gathered: for sizes that divide and that do not, with and without
    drop_last, two epochs each."""
    shards = {}
    for size in (10, 11):
        for drop_last in (False, True):
            for epoch in (0, 1):
                sampler = DistributedSampler(list(range(size)), seed=3, drop_last=drop_last)
                sampler.set_epoch(epoch)
                everyone = distributed.all_gather(sampler.indices())
                shards[f"{size}-{drop_last}-{epoch}"] = everyone.tolist()
    return shards


def tiny_trainer(out_dir, rank, ranks):
    """The 2-rank version of tests/framework/test_train.py's run: dropout, augmentation,
    momentum."""
    mc.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=96)
    images = rng.integers(0, 120, size=(96, 1, 6, 6))
    images[labels == 1, :, :, 3:] += 120
    images[labels == 0, :, :, :3] += 120
    images = images.astype(np.uint8)
    augment = mc.data.transforms.RandomCrop(6, padding=1)
    train_set = ArrayDataset(images[:64], labels[:64], transform=augment)
    train = DataLoader(train_set, batch_size=8, sampler=DistributedSampler(train_set, seed=5),
                       seed=7)
    test_set = ArrayDataset(images[64:], labels[64:])
    test = DataLoader(mc.data.Subset(test_set, np.arange(rank, 32, ranks)), batch_size=8)
    model = DistributedDataParallel(nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(),
                                                  nn.Dropout(0.3), nn.Linear(16, 2)))
    optimizer = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = mc.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return Trainer(model, train, test, optimizer, scheduler, out_dir=out_dir, plots=False,
                   stream=io.StringIO(), out=io.StringIO())


def resume(root, rank, ranks):
    """An uninterrupted 2-epoch run against one that rank 1 alone asks to stop at epoch 2,
    batch 1 (both ranks must stop there) and that then resumes from rank 0's checkpoint."""
    straight = tiny_trainer(os.path.join(root, "straight"), rank, ranks)
    straight.fit(2)
    interrupted = tiny_trainer(os.path.join(root, "interrupted"), rank, ranks)
    real_step, steps = interrupted.optimizer.step, []

    def step_then_stop():
        real_step()
        steps.append(1)
        if rank == 1 and len(steps) == 5:          # 4 batches per epoch
            interrupted.request_stop()

    interrupted.optimizer.step = step_then_stop
    try:
        interrupted.fit(2)
        stopped = None
    except TrainingInterrupted as stop:
        stopped = str(stop)
    distributed.barrier()                          # rank 0 has written the checkpoint
    resumed = tiny_trainer(os.path.join(root, "interrupted"), rank, ranks)
    resumed.resume(os.path.join(root, "interrupted", "last.npz"))
    resumed.fit(2)
    differences = [float(np.abs(a.numpy() - b.numpy()).max())
                   for a, b in zip(straight.model.parameters(), resumed.model.parameters())]

    def summary(history):
        return [(r["train_loss"], r["train_accuracy"], r["lr"], r["test_top1"]) for r in history]

    return {"stopped": stopped, "steps_before_stop": len(steps),
            "max_difference": max(differences),
            "histories_equal": summary(straight.history) == summary(resumed.history),
            "test_images": straight.last_evaluation["images"]}


def main(out_dir):
    distributed.init(timeout=60)
    rank, ranks = distributed.rank(), distributed.world_size()
    results = {
        "world": [rank, ranks],
        "machine": {"local_ranks": distributed.local_world_size(),
                    "threads": distributed.share_cores(),
                    "c_threads": mc.backend.ckernels.num_threads(),
                    "cores": len(os.sched_getaffinity(0))},
        "equivalence_plain": equivalence(False, rank, ranks),
        "equivalence_sync_bn": equivalence(True, rank, ranks),
        "plain_batch_norm": plain_batch_norm(rank, ranks),
        "sync_bn_gradcheck": sync_bn_gradcheck(rank, ranks),
        "sampler": sampler_shards(rank, ranks),
        "resume": resume(os.path.join(out_dir, "runs"), rank, ranks),
    }
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as file:
        json.dump(results, file)


if __name__ == "__main__":
    main(sys.argv[1])
