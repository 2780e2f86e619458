"""DataLoader: batch sizes, drop_last, seeded shuffles, every sample once per epoch, exact
mid-epoch resume, and the prefetch thread (same batches, errors re-raised, early break)."""

import threading

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import ArrayDataset, DataLoader
from minicnn.data import transforms as T


def numbered_dataset(n=23, transform=None):
    """Image i is filled with the value i/255 (after ToFloat) and labelled i."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 1, 4, 4))
    return ArrayDataset(np.ascontiguousarray(images), np.arange(n), transform=transform)


def ids(loader):
    return [labels.tolist() for _, labels in loader]


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "minicnn-prefetch" and t.is_alive()]


@pytest.mark.parametrize("drop_last, sizes", [(False, [5, 5, 5, 5, 3]), (True, [5, 5, 5, 5])])
def test_batch_sizes_and_len(drop_last, sizes):
    loader = DataLoader(numbered_dataset(), batch_size=5, drop_last=drop_last)
    assert len(loader) == len(sizes)
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == sizes
    images, labels = batches[0]
    assert images.dtype == np.float32 and images.shape == (5, 1, 4, 4)
    assert labels.dtype == np.int64
    assert ids(loader)[0] == [0, 1, 2, 3, 4]  # no shuffle: dataset order
    np.testing.assert_allclose(images[:, 0, 0, 0], np.arange(5) / 255, rtol=1e-6)


def test_shuffle_covers_every_sample_once_and_repeats_with_the_seed():
    loader = DataLoader(numbered_dataset(), batch_size=4, shuffle=True, seed=3)
    epochs = [sum(ids(loader), []) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(23))
    assert epochs[0] != epochs[1] != epochs[2]
    again = DataLoader(numbered_dataset(), batch_size=4, shuffle=True, seed=3)
    assert [sum(ids(again), []) for _ in range(3)] == epochs
    other = DataLoader(numbered_dataset(), batch_size=4, shuffle=True, seed=4)
    assert sum(ids(other), []) != epochs[0]
    with_drop = DataLoader(numbered_dataset(), batch_size=4, shuffle=True, seed=3, drop_last=True)
    order = sum(ids(with_drop), [])
    assert len(order) == 20 and len(set(order)) == 20


def test_seed_none_follows_manual_seed():
    mc.manual_seed(11)
    first = ids(DataLoader(numbered_dataset(), batch_size=4, shuffle=True))
    mc.manual_seed(11)
    assert ids(DataLoader(numbered_dataset(), batch_size=4, shuffle=True)) == first


def augmented():
    return numbered_dataset(transform=T.Compose([T.RandomCrop(4, padding=1),
                                                 T.RandomHorizontalFlip(), T.Cutout(2)]))


def collect(loader, epochs=2):
    return [(images.numpy().copy(), labels.numpy().copy()) for _ in range(epochs)
            for images, labels in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (images_a, labels_a), (images_b, labels_b) in zip(a, b):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)


def test_prefetch_yields_the_same_batches_as_without():
    with_thread = collect(DataLoader(augmented(), 4, shuffle=True, seed=5, prefetch=True))
    without = collect(DataLoader(augmented(), 4, shuffle=True, seed=5, prefetch=False))
    assert_same_batches(with_thread, without)
    # the augmentation is random and differs between epochs
    assert not np.array_equal(with_thread[0][0], with_thread[6][0])


def test_resume_mid_epoch_continues_exactly():
    straight = collect(DataLoader(augmented(), 4, shuffle=True, seed=9), epochs=3)
    first = DataLoader(augmented(), 4, shuffle=True, seed=9)
    seen = collect(first, epochs=1)
    for i, batch in enumerate(first):
        seen.append((batch[0].numpy().copy(), batch[1].numpy().copy()))
        if i == 2:
            state = first.state_dict()  # saved after training batch 2 of epoch 1
            break
    assert state == {"seed": 9, "epoch": 1, "batch": 3}
    resumed = DataLoader(augmented(), 4, shuffle=True, seed=0)
    resumed.load_state_dict(state)
    seen += collect(resumed, epochs=2)
    assert_same_batches(seen, straight)
    assert resumed.state_dict() == {"seed": 9, "epoch": 3, "batch": 0}


def test_loader_transform_sees_the_whole_batch():
    loader = DataLoader(numbered_dataset(), batch_size=6, seed=0,
                        transform=T.Normalize([0.5], [0.5]))
    images, labels = next(iter(loader))
    np.testing.assert_allclose(images[:, 0, 0, 0], (labels / 255 - 0.5) / 0.5, rtol=1e-6)


def test_dataset_without_get_batch():
    class Pairs:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2, 3, 3), i, np.float32), i

    images, labels = list(DataLoader(Pairs(), batch_size=3))[1]
    assert images.shape == (2, 2, 3, 3) and labels.tolist() == [3, 4]
    np.testing.assert_array_equal(images[:, 0, 0, 0], [3, 4])


def test_early_break_stops_the_thread():
    loader = DataLoader(numbered_dataset(200), batch_size=2, prefetch=True)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert prefetch_threads() == []
    assert ids(loader)[0] == [0, 1]  # a new iteration starts a new epoch


class Failing(ArrayDataset):
    def get_batch(self, indices, generator=None):
        if 9 in indices:
            raise RuntimeError("broken image 9")
        return super().get_batch(indices, generator)


def test_errors_in_the_thread_reach_the_consumer():
    dataset = numbered_dataset()
    loader = DataLoader(Failing(dataset.images, dataset.labels), batch_size=4, prefetch=True)
    received = []
    with pytest.raises(RuntimeError, match="broken image 9"):
        for _, labels in loader:
            received.append(labels.tolist())
    assert received == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert prefetch_threads() == []


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(numbered_dataset(), batch_size=0)
