"""Datasets, transforms and the DataLoader."""

from minicnn.data.datasets import (CIFAR10, CIFAR100, EMBEDDED_ROOT, MNIST, ArrayDataset,
                                   FashionMNIST, Subset, embedded_fashion_mnist)
from minicnn.data.download import DownloadError
from minicnn.data.loader import DataLoader
from minicnn.data import transforms
