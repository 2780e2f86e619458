"""Datasets, transforms and the DataLoader, with the names of ``torch.utils.data``.

    from minicnn.data import transforms as T
    train = mc.data.CIFAR10("~/data", train=True, transform=T.Compose([
        T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
        T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))]))
    loader = mc.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=2)
    for images, labels in loader:   # Tensors: float32 (N, C, H, W) and int64 (N,)
        ...

A dataset holds ``images`` (N, C, H, W) uint8 and ``labels`` (N,) int64 in memory;
``get_batch`` scales a batch to [0, 1] and applies the transform to the whole batch at once.
``embedded_fashion_mnist()`` is the Fashion-MNIST subset shipped with minicnn. A dataset of your
own subclasses ``Dataset`` (``__getitem__``, ``__len__``) or ``IterableDataset`` (``__iter__``).
"""

from minicnn.data.augment import AlternatingFlip
from minicnn.data.collate import default_collate, default_convert
from minicnn.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                                  TensorDataset, random_split)
from minicnn.data.datasets import (CIFAR10, CIFAR100, EMBEDDED_ROOT, MNIST, ArrayDataset,
                                   FashionMNIST, embedded_fashion_mnist)
from minicnn.data.download import DownloadError
from minicnn.data.loader import DataLoader
from minicnn.data.sampler import (BatchSampler, DistributedSampler, RandomSampler, Sampler,
                                  SequentialSampler, SubsetRandomSampler, WeightedRandomSampler)
from minicnn.data.worker import WorkerInfo, get_worker_info
from minicnn.data import transforms
