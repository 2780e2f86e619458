"""torch.utils.data as PyTorch has it: default_collate's rules (checked against torch when it is
installed, against the stored table otherwise), the Dataset classes, random_split, the
samplers, the DataLoader's arguments, and its worker processes (same batches as in one process,
seeds, get_worker_info, worker_init_fn, errors and dead workers raised, timeout, persistent
workers, iterable datasets split between workers)."""

import collections
import os
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn.backend import ckernels
from minicnn.data import (ArrayDataset, BatchSampler, ConcatDataset, DataLoader, Dataset,
                          IterableDataset, RandomSampler, SequentialSampler, Subset,
                          SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                          default_collate, default_convert, get_worker_info, random_split)

try:
    import torch
    from torch.utils.data import default_collate as torch_collate
except ImportError:
    torch = None

Point = collections.namedtuple("Point", "x y")

# (samples, the collated structure's dtypes as torch gives them)
COLLATE_CASES = [
    ([1.5, 2.0], "float64"),
    ([1, 2], "int64"),
    ([True, False], "bool"),
    ([1, 2.5], "float32"),
    ([np.float32(1), np.float32(2)], "float32"),
    ([np.int32(1), np.int32(2)], "int32"),
    ([np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)], "float32"),
    ([np.zeros(2, np.int64), np.ones(2, np.int64)], "int64"),
    ([np.zeros(2, np.uint8), np.ones(2, np.uint8)], "uint8"),
    ([np.zeros(2), np.ones(2)], "float64"),
    ([(np.zeros(2, np.float32), 0.5, 3), (np.ones(2, np.float32), 1.5, 4)],
     ["float32", "float64", "int64"]),
    ([{"x": np.zeros(2, np.float32), "y": [1, 2]}, {"x": np.ones(2, np.float32), "y": [3, 4]}],
     {"x": "float32", "y": ["int64", "int64"]}),
    ([("a", 1), ("b", 2)], ["strings in a tuple", "int64"]),
    ([{"name": "a"}, {"name": "b"}], {"name": "strings in a list"}),
    ([Point(1.0, 2), Point(3.0, 4)], Point("float64", "int64")),
]


def dtypes(batch):
    """The structure of ``batch`` with each tensor replaced by its dtype's name."""
    if hasattr(batch, "dtype"):
        return str(batch.dtype).replace("torch.", "")
    if isinstance(batch, dict):
        return {key: dtypes(value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(dtypes(value) for value in batch))
    if all(isinstance(item, str) for item in batch):
        return f"strings in a {type(batch).__name__}"
    return [dtypes(value) for value in batch]


@pytest.mark.parametrize("samples, expected", COLLATE_CASES)
def test_default_collate_dtypes(samples, expected):
    batch = default_collate(samples)
    assert dtypes(batch) == expected
    if torch is not None:
        assert dtypes(torch_collate(samples)) == expected


def test_default_collate_values_and_structure():
    samples = [(np.full((2, 2), i, np.float32), {"t": float(i) / 3, "id": i}, f"s{i}")
               for i in range(3)]
    images, meta, names = default_collate(samples)
    assert isinstance(images, mc.Tensor) and images.shape == (3, 2, 2)
    np.testing.assert_array_equal(images.numpy()[:, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(meta["t"].numpy(), [0, 1 / 3, 2 / 3])   # not truncated
    assert meta["t"].dtype == np.float64 and meta["id"].tolist() == [0, 1, 2]
    assert names == ("s0", "s1", "s2")
    stacked = default_collate([mc.tensor([1.0, 2.0]), mc.tensor([3.0, 4.0])])
    assert stacked.shape == (2, 2) and stacked.dtype == np.float32
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    default_collate([x, x * 2]).sum().backward()          # a graph's tensors stay in it
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_default_collate_errors():
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy "
                                        "arrays, numbers, dicts or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [1]])
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but "
                                           r"got \[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([np.zeros(2), np.zeros(3)])


def test_default_convert():
    converted = default_convert((np.zeros(2), 3, "s", {"a": np.int32(4)}))
    assert isinstance(converted, list) and converted[0].dtype == np.float64
    assert converted[1:3] == [3, "s"] and converted[3]["a"].dtype == np.int32


# ----------------------------------------------------------------------------- datasets

class Squares(Dataset):
    """A user's map-style dataset: sample i is (float32 [i, i^2], float target i / 2, i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], np.float32), i / 2, i


def test_loader_over_a_user_dataset_keeps_dtypes():
    features, targets, ids = next(iter(DataLoader(Squares(10), batch_size=4)))
    assert isinstance(features, mc.Tensor) and features.dtype == np.float32
    assert targets.dtype == np.float64 and targets.tolist() == [0, 0.5, 1, 1.5]
    assert ids.dtype == np.int64 and ids.tolist() == [0, 1, 2, 3]


def test_tensor_dataset_subset_concat():
    x, y = mc.randn(6, 3), mc.arange(6)
    dataset = TensorDataset(x, y)
    assert len(dataset) == 6 and dataset[2][1].item() == 2
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(x, mc.arange(5))
    subset = Subset(Squares(10), [7, 2, 5])
    assert len(subset) == 3 and subset[1][2] == 2 and subset.indices == [7, 2, 5]
    both = Squares(3) + subset
    assert isinstance(both, ConcatDataset) and both.cumulative_sizes == [3, 6]
    assert [both[i][2] for i in range(6)] == [0, 1, 2, 7, 2, 5] and both[-1][2] == 5
    with pytest.raises(ValueError, match="absolute value of index"):
        both[-7]
    with pytest.raises(IndexError):
        both[6]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    batches = list(DataLoader(dataset, batch_size=4))
    np.testing.assert_array_equal(batches[1][0].numpy(), x.numpy()[4:])
    assert batches[1][1].tolist() == [4, 5]


def numbered(n=20):
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 1, 2, 2))
    return ArrayDataset(np.ascontiguousarray(images), np.arange(n))


def test_subset_and_concat_of_array_datasets_keep_the_batch_path():
    data = numbered()
    subset = Subset(data, [3, 9, 4])
    assert subset.classes == data.classes and subset.labels.tolist() == [3, 9, 4]
    images, labels = subset.get_batch(np.array([2, 0]))
    assert labels.tolist() == [4, 3]
    both = ConcatDataset([subset, numbered(5)])
    images, labels = both.get_batch(np.array([6, 0, 3, 2]))
    assert labels.tolist() == [3, 3, 0, 4]     # numbered(5)[3], subset[0], numbered(5)[0], ...
    np.testing.assert_allclose(images[:, 0, 0, 0], np.array([3, 3, 0, 4]) / 255, rtol=1e-6)
    assert not hasattr(Subset(Squares(4), [1]), "get_batch")
    # the loader gives the same batches through get_batch as through samples and collation
    fast = [b[1].tolist() for b in DataLoader(both, batch_size=3, shuffle=True, seed=1)]
    slow = [b[1].tolist() for b in DataLoader(both, batch_size=3, shuffle=True, seed=1,
                                              collate_fn=default_collate_of_pairs)]
    assert fast == slow


def default_collate_of_pairs(samples):
    return default_collate(samples)


def test_random_split():
    parts = random_split(range(10), [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    again = random_split(range(10), [3, 7], generator=np.random.default_rng(0))
    assert list(again[0]) == list(parts[0])
    # fractions: floor(10 * f) = 2, 2, 5, then the one left over to the first split
    assert [len(p) for p in random_split(range(10), [0.25, 0.25, 0.5])] == [3, 2, 5]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [3, 6])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.5, -1.0])
    if torch is not None:   # the same lengths as PyTorch's rule
        for fractions in ([0.3, 0.3, 0.4], [0.5, 0.5], [0.1, 0.2, 0.7], [1 / 3] * 3):
            theirs = torch.utils.data.random_split(range(11), fractions)
            assert [len(p) for p in random_split(range(11), fractions)] == \
                [len(p) for p in theirs]


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    order = list(RandomSampler(range(9), generator=np.random.default_rng(1)))
    assert sorted(order) == list(range(9))
    assert len(list(RandomSampler(range(4), num_samples=10))) == 10
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert set(drawn) <= {0, 1, 2} and len(drawn) == 50
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    assert sorted(SubsetRandomSampler([5, 7, 9])) == [5, 7, 9]
    assert set(WeightedRandomSampler([0, 1, 0, 1], 20)) == {1, 3}
    assert list(BatchSampler(range(5), 2, False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(range(5), 2, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(5), 0, False)


def test_loader_arguments():
    data = Squares(7)
    batches = [b[2].tolist() for b in DataLoader(data, batch_sampler=[[0, 5], [2], [6, 1, 3]])]
    assert batches == [[0, 5], [2], [6, 1, 3]]
    loader = DataLoader(data, batch_sampler=BatchSampler(SequentialSampler(data), 3, True))
    assert len(loader) == 2 and [b[2].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    unbatched = list(DataLoader(data, batch_size=None))
    assert len(unbatched) == 7 and unbatched[3][2] == 3
    assert isinstance(unbatched[3][0], mc.Tensor) and unbatched[3][0].shape == (2,)
    custom = next(iter(DataLoader(data, batch_size=3, collate_fn=lambda s: [x[2] for x in s])))
    assert custom == [0, 1, 2]
    loader = DataLoader(data, batch_size=3, pin_memory=True, generator=np.random.default_rng(4),
                        shuffle=True)
    same = DataLoader(data, batch_size=3, shuffle=True, generator=np.random.default_rng(4))
    order = [b[2].tolist() for b in loader]
    assert sorted(sum(order, [])) == list(range(7)) and [b[2].tolist() for b in same] == order
    for kwargs, message in [
            ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually "
                                                        "exclusive with batch_size"),
            ({"batch_size": None, "drop_last": True}, "batch_size=None option disables "
                                                      "auto-batching"),
            ({"num_workers": -1}, "num_workers option should be non-negative"),
            ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in "
                                     "multiprocessing"),
            ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
            ({"timeout": -1}, "timeout option should be non-negative"),
            ({"num_workers": 1, "prefetch_factor": 0}, "prefetch_factor option should be a "
                                                       "positive integer"),
            ({"sampler": [0], "shuffle": True}, "sampler option is mutually exclusive with "
                                                "shuffle")]:
        with pytest.raises(ValueError, match=message):
            DataLoader(data, **kwargs)
    with pytest.raises(ValueError, match="transform= needs a minicnn image dataset"):
        DataLoader(data, transform=lambda x: x)


class Counting(IterableDataset):
    """0 .. n-1, split between the workers by get_worker_info (PyTorch's documented idiom)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


def test_iterable_dataset_in_one_process():
    batches = [b.tolist() for b in DataLoader(Counting(7), batch_size=3)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(Counting(7), batch_size=3, drop_last=True)) == 2
    assert [b.tolist() for b in DataLoader(Counting(7), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Counting(3), shuffle=True)


# ----------------------------------------------------------------------------- workers

def test_workers_give_the_same_batches_as_one_process():
    from minicnn.data import transforms as T
    augmented = ArrayDataset(numbered(30).images, np.arange(30),
                             transform=T.Compose([T.RandomCrop(2, padding=1), T.Cutout(1)]))
    one = DataLoader(augmented, batch_size=4, shuffle=True, seed=3)
    many = DataLoader(augmented, batch_size=4, shuffle=True, seed=3, num_workers=2,
                      prefetch_factor=3)
    for _ in range(2):
        for (a_images, a_labels), (b_images, b_labels) in zip(one, many, strict=True):
            np.testing.assert_array_equal(a_images.numpy(), b_images.numpy())
            np.testing.assert_array_equal(a_labels.numpy(), b_labels.numpy())
    user = [b[2].tolist() for b in DataLoader(Squares(11), batch_size=3, num_workers=2)]
    assert user == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]]


class WhoLoads(Dataset):
    """Sample i says which worker process made it, with that worker's seeds."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"worker": info.id, "pid": os.getpid(), "seed": info.seed,
                "numpy_draw": float(np.random.random()), "mc_draw": float(mc.rand(1).item()),
                "marker": float(os.environ.get("MINICNN_TEST_MARKER", "-1")),
                "threads": ckernels.num_threads()}


def mark_worker(worker_id):
    os.environ["MINICNN_TEST_MARKER"] = str(100 + worker_id)


def test_worker_info_seeds_and_worker_init_fn():
    assert get_worker_info() is None
    batches = list(DataLoader(WhoLoads(), batch_size=2, num_workers=2, seed=0,
                              worker_init_fn=mark_worker))
    workers = [b["worker"].tolist() for b in batches]
    assert workers == [[0, 0], [1, 1], [0, 0], [1, 1]]          # round-robin, in order
    pids = {b["pid"][0].item() for b in batches}
    assert len(pids) == 2 and os.getpid() not in pids
    seeds = {b["worker"][0].item(): b["seed"][0].item() for b in batches}
    assert seeds[1] == seeds[0] + 1                             # base_seed + worker_id
    if ckernels.available():
        assert all(b["threads"].tolist() == [1, 1] for b in batches)
    markers = [b["marker"].tolist() for b in batches]
    assert markers == [[100, 100], [101, 101], [100, 100], [101, 101]]
    draws = [b["numpy_draw"][0].item() for b in batches[:2]]
    assert draws[0] != draws[1]                                 # not a forked copy's draw
    assert batches[0]["mc_draw"][0].item() != batches[1]["mc_draw"][0].item()
    again = list(DataLoader(WhoLoads(), batch_size=2, num_workers=2, seed=0))
    assert [b["mc_draw"].tolist() for b in again] == [b["mc_draw"].tolist() for b in batches]


class Broken(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"image {i} is broken")
        return i


def test_an_error_in_a_worker_is_raised_with_its_traceback():
    loader = DataLoader(Broken(), batch_size=2, num_workers=2)
    received = []
    with pytest.raises(KeyError) as error:
        for batch in loader:
            received.append(batch.tolist())
    assert received == [[0, 1], [2, 3]]
    message = str(error.value)
    assert "Caught KeyError in DataLoader worker process 0." in message
    assert "Original Traceback (most recent call last):" in message
    assert "image 5 is broken" in message and "__getitem__" in message


class Dying(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            os._exit(7)
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(2 if i == 2 else 0)
        return i


def test_a_dead_worker_or_a_timeout_raises_instead_of_hanging():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+ \(exit code 7\)\) "
                                           r"exited unexpectedly"):
        list(DataLoader(Dying(), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.5))


def test_workers_shut_down_and_persist():
    loader = DataLoader(Squares(40), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    import multiprocessing
    assert not [p for p in multiprocessing.active_children()
                if p.name.startswith("minicnn-dataloader")]
    persistent = DataLoader(WhoLoads(), batch_size=4, num_workers=2, persistent_workers=True)
    first = {pid for batch in persistent for pid in batch["pid"].tolist()}
    second = {pid for batch in persistent for pid in batch["pid"].tolist()}
    assert first == second and len(first) == 2
    unordered = DataLoader(Squares(9), batch_size=2, num_workers=2, in_order=False)
    assert sorted(sum((b[2].tolist() for b in unordered), [])) == list(range(9))


ORPHAN_SCRIPT = """
import os, sys
import minicnn as mc

class Pids(mc.data.Dataset):
    def __len__(self):
        return 100

    def __getitem__(self, i):
        return os.getpid()

loader = iter(mc.data.DataLoader(Pids(), batch_size=1, num_workers=2))
print(next(loader).item(), next(loader).item(), flush=True)
os._exit(0)       # the loader's process dies without shutting its workers down
"""


def _running(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\tZ" not in status.read()      # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_workers_exit_when_the_loader_process_dies():
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", ORPHAN_SCRIPT], capture_output=True, text=True,
                          timeout=60, cwd=root)
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(set(pids)) == 2, done.stderr
    deadline = time.monotonic() + 20
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)


class InterruptedAtStart:
    """A multiprocessing context whose processes get a Ctrl-C (SIGINT) the moment they are
    forked, before they run any of minicnn's code."""

    def __init__(self):
        import multiprocessing
        self.context = multiprocessing.get_context("fork")
        self.Pipe = self.context.Pipe

    def Process(self, target, **kwargs):  # noqa: N802  (multiprocessing's name)
        import signal

        def slow_to_start(*args):       # the interrupt arrives before the worker's own code
            time.sleep(0.3)
            target(*args)
        process = self.context.Process(target=slow_to_start, **kwargs)
        start = process.start

        def start_and_interrupt():
            start()
            os.kill(process.pid, signal.SIGINT)
        process.start = start_and_interrupt
        return process


def test_workers_leave_ctrl_c_to_the_loaders_process():
    import multiprocessing
    import signal
    ids = []
    loader = DataLoader(Squares(12), batch_size=2, num_workers=3,
                        multiprocessing_context=InterruptedAtStart())
    for batch in loader:
        if not ids:      # Ctrl-C in a terminal reaches every process of the group
            for worker in multiprocessing.active_children():
                if worker.name.startswith("minicnn-dataloader"):
                    os.kill(worker.pid, signal.SIGINT)
            time.sleep(0.2)
        ids += batch[2].tolist()
    assert ids == list(range(12))


def test_iterable_dataset_in_workers():
    batches = [b.tolist() for b in DataLoader(Counting(9), batch_size=2, num_workers=2)]
    # each worker batches its own share: worker 0 has 0 2 4 6 8, worker 1 has 1 3 5 7
    assert batches == [[0, 2], [1, 3], [4, 6], [5, 7], [8]]


# ----------------------------------------------------------------------------- the tutorial

class SyntheticShapes(Dataset):
    """Images whose class is where a bright square sits (4 quadrants), noise elsewhere;
    the transform is a torchvision-style pipeline on (H, W, C) uint8 images."""

    def __init__(self, n, transform=None, seed=0):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 4, size=n)
        self.images = rng.integers(0, 60, size=(n, 12, 12, 3)).astype(np.uint8)
        for image, label in zip(self.images, self.labels):
            top, left = 6 * (label // 2), 6 * (label % 2)
            image[top + 1:top + 5, left + 1:left + 5] = 230
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class Net(mc.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = mc.nn.Conv2d(3, 6, 3)
        self.pool = mc.nn.MaxPool2d(2, 2)
        self.fc1 = mc.nn.Linear(6 * 5 * 5, 16)
        self.fc2 = mc.nn.Linear(16, 4)

    def forward(self, x):
        x = self.pool(mc.nn.functional.relu(self.conv1(x)))
        x = mc.flatten(x, 1)
        return self.fc2(mc.nn.functional.relu(self.fc1(x)))


def test_a_small_cnn_trained_the_tutorials_way():
    from minicnn.data import transforms
    mc.manual_seed(0)
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    trainset = SyntheticShapes(96, transform=transform)
    trainloader = DataLoader(trainset, batch_size=8, shuffle=True, num_workers=2)
    net = Net()
    criterion = mc.nn.CrossEntropyLoss()
    optimizer = mc.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    epoch_losses = []
    for epoch in range(4):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        epoch_losses.append(running_loss / len(trainloader))
    assert epoch_losses[-1] < 0.5 * epoch_losses[0], epoch_losses
