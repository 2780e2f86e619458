"""Image classification datasets held in memory as uint8 arrays.

Every dataset has ``images`` (N, C, H, W) uint8, ``labels`` (N,) int64 and ``classes`` (names).
``ds[i]`` gives (image float32 (C, H, W), label int) and ``ds.get_batch(indices)`` gives
(images float32 (n, C, H, W), labels int64 (n,)); both scale to [0, 1] (ToFloat) and then apply
the dataset's ``transform``, which sees the whole batch at once.

CIFAR-10 / CIFAR-100 read both official releases (binary and python), as the archive or the
extracted folder; MNIST / Fashion-MNIST read the official IDX files, gzipped or not.
``root`` may be the archive, the extracted folder, or a folder holding either.

Files are checked against the official layout before anything is allocated for them: at most
10,000 CIFAR-10 images a file (50,000 for CIFAR-100's training file), 60,000 / 10,000 MNIST
images of 28x28, a gzip CRC for archives and gzipped IDX files, and python-release pickles read
only through minicnn.data.safe_pickle. A file that breaks the layout raises ValueError (or
pickle.UnpicklingError for a refused pickle) naming the file.
"""

import os
from pathlib import Path

import numpy as np

from minicnn.data import download as _download
from minicnn.data import integrity
from minicnn.data.archive import archive_top_folder, read_archive_members
from minicnn.data.dataset import Dataset
from minicnn.data.idx import read_idx
from minicnn.data.safe_pickle import safe_loads
from minicnn.data.transforms import call_transform, to_float


class ArrayDataset(Dataset):
    """A dataset over in-memory arrays: ``images`` (N, C, H, W) uint8 and ``labels`` (N,)."""

    def __init__(self, images, labels, classes=None, transform=None):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be ({images.shape[0]},) to match the images, "
                             f"got shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integers, got {labels.dtype}")
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.classes = list(classes) if classes is not None else \
            [str(c) for c in range(int(self.labels.max(initial=-1)) + 1)]
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} images")
        image, label = self.get_batch(np.array([index]))
        return image[0], int(label[0])

    def get_batch(self, indices, generator=None):
        """(images float32 (n, C, H, W) after ToFloat and the transform, labels int64 (n,)) for
        the integer array ``indices``; ``generator`` feeds the random transforms."""
        indices = np.asarray(indices, dtype=np.int64)
        images = to_float(self.images[indices])
        if self.transform is not None:
            images = call_transform(self.transform, images, generator)
        return images, self.labels[indices]

    def __repr__(self):
        lines = [f"{type(self).__name__}: {len(self)} images of shape "
                 f"{tuple(self.images.shape[1:])}, {len(self.classes)} classes"]
        if self.transform is not None:
            lines.append(f"transform: {self.transform!r}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- file access

def _read_folder_files(folder, names, max_size):
    """{name: bytes} of the files ``names`` in ``folder``; a file larger than ``max_size``
    bytes is refused before it is read."""
    found = {}
    for name in names:
        size = os.path.getsize(folder / name)
        if size > max_size:
            raise ValueError(f"{folder / name}: {size:,} bytes, more than the {max_size:,} "
                             "its format allows")
        with open(folder / name, "rb") as file:
            found[name] = file.read()
    return found


_IMAGE_BYTES = 3 * 32 * 32


class _Release:
    """One official release of CIFAR: its archive name, extracted folder and files."""

    def __init__(self, archive, folder, train_files, test_files, meta_files, md5,
                 images_per_file):
        self.archive, self.folder, self.md5 = archive, folder, md5
        self.train_files, self.test_files, self.meta_files = train_files, test_files, meta_files
        # the most images one file of the release holds, and so the most bytes: 3,072 pixels
        # an image, which a Python 3 protocol-2 pickle stores as latin-1 text in UTF-8 (up to
        # 2 bytes a pixel), plus its labels and file name
        self.images_per_file = images_per_file
        self.max_file_bytes = images_per_file * (2 * _IMAGE_BYTES + 1024)

    def files(self, train):
        return (self.train_files if train else self.test_files) + self.meta_files

    def holds_folder(self, path, train):
        return path.is_dir() and all((path / name).is_file() for name in self.files(train))


def _find_release(root, releases, train, download_hint):
    """(release, path, is_archive) for the release found at ``root``: an official archive
    (recognised by the folder it holds, so a renamed archive is found too), the extracted
    folder, or a folder holding either (extracted folders first)."""
    root = Path(root).expanduser()
    if root.is_file():
        folder = archive_top_folder(root)
        for release in releases:
            if folder == release.folder:
                return release, root, True
        expected = " or ".join(f"{release.folder}/" for release in releases)
        raise ValueError(f"{root}: the archive holds {folder}/, not {expected}")
    for release in releases:
        if release.holds_folder(root, train):
            return release, root, False
    for release in releases:
        if release.holds_folder(root / release.folder, train):
            return release, root / release.folder, False
    for release in releases:
        if (root / release.archive).is_file():
            return release, root / release.archive, True
    incomplete = ""
    for release in releases:
        for folder in (root, root / release.folder):
            if folder.name == release.folder and folder.is_dir():
                missing = [name for name in release.files(train)
                           if not (folder / name).is_file()]
                incomplete = f" {folder} lacks {', '.join(missing)}."
    raise FileNotFoundError(f"dataset not found at {root}.{incomplete} {download_hint}")


_OR_DOWNLOAD = " Or pass download=True to fetch it."


def _archive_verdict(path, release, files, digest):
    """The warning for an archive of ``release`` that loaded (its ``files``, the MD5
    ``digest`` of its bytes), or None when it is the official archive or holds the official
    members (see minicnn.data.integrity)."""
    difference = integrity.differs(digest.hexdigest(), release.md5, os.path.getsize(path))
    if difference is None:
        return None
    if release.folder in integrity.MEMBER_MD5:
        changed = integrity.check_members(files, release.folder)
        return f"{path}: {'; '.join(changed)}: a re-encoded or modified copy" if changed \
            else None
    with open(path, "rb") as file:
        plain = file.read(2) != b"\x1f\x8b"
    if plain:
        return (f"{path}: a plain tar, not the official {release.archive}: its data cannot be "
                "checked (the binary release publishes no checksum of its members and a plain "
                "tar holds none), so a damaged byte would load as a wrong pixel")
    return (f"{path}: not the official {release.archive}: {difference}; its members load, but "
            "results on it are not comparable with published ones")


def _check_folder_files(folder, release, files):
    """Warn, once per file, about the members of an extracted python release that differ from
    the official ones (the binary releases publish no member checksums)."""
    for name, data in files.items():
        path = folder / name
        if not integrity.known(path):
            changed = integrity.check_members({name: data}, release.folder)
            integrity.record(path, f"{path}: {changed[0]}: a re-encoded or modified copy"
                             if changed else None)


# ----------------------------------------------------------------------------- CIFAR

def _decode(value):
    return value.decode("latin1") if isinstance(value, bytes) else value


# pickle opcodes an image of a batch takes (up to 11 in a Python 3 protocol-2 re-pickle of
# CIFAR-100: file name, fine and coarse label), and those of the rest of a file (the meta
# file's class names take up to 7 each)
_OPCODES_PER_IMAGE = 16
_OPCODES_PER_FILE = 10000


def _unpickle_dict(raw, name, max_images):
    batch = safe_loads(raw, name, max_bytes=max_images * _IMAGE_BYTES,
                       max_opcodes=_OPCODES_PER_IMAGE * max_images + _OPCODES_PER_FILE)
    if not isinstance(batch, dict):
        raise ValueError(f"{name}: expected a pickled dict, got {type(batch).__name__}")
    return {_decode(key): value for key, value in batch.items()}


def _entry_list(batch, key, name, kind, max_length):
    """The list ``batch[key]``, all of whose items are of type ``kind``."""
    if key not in batch:
        raise ValueError(f"{name}: no '{key}' entry (keys: {sorted(batch)[:10]})")
    items = batch[key]
    if not isinstance(items, list) or len(items) > max_length or \
            not all(isinstance(item, kind) and not isinstance(item, bool) for item in items):
        raise ValueError(f"{name}: '{key}' must be a list of at most {max_length:,} "
                         f"{'ints' if kind is int else 'names'}")
    return items


def _labels(batch, key, name, max_images):
    values = _entry_list(batch, key, name, int, max_images)
    if any(not 0 <= value < 2 ** 16 for value in values):
        raise ValueError(f"{name}: '{key}' holds a label outside [0, 65535]")
    return np.array(values, dtype=np.int64)


def _image_block(data, name, count=None):
    """(N, 3, 32, 32) from the (N, 3072) uint8 rows of a python-release batch."""
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or \
            data.shape[1] != _IMAGE_BYTES:
        described = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else \
            type(data).__name__
        raise ValueError(f"{name}: 'data' must be a uint8 array (N, 3072), got {described}")
    if count is not None and len(data) != count:
        raise ValueError(f"{name}: {len(data)} images but {count} labels")
    return data.reshape(-1, 3, 32, 32)


class CIFAR10(ArrayDataset):
    """CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test 32x32 colour images in 10
    classes, from the official binary or python release (archive or extracted folder).
    ``download=True`` fetches the binary release into ``root`` when it is not there."""

    mirror = "https://www.cs.toronto.edu/~kriz/"
    num_label_bytes = 1
    # the official releases with their published MD5; download=True fetches the first
    releases = (
        _Release("cifar-10-binary.tar.gz", "cifar-10-batches-bin",
                 [f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"],
                 ["batches.meta.txt"], md5="c32a1d4ab5d03f1284b67883e8d87530",
                 images_per_file=10000),
        _Release("cifar-10-python.tar.gz", "cifar-10-batches-py",
                 [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                 ["batches.meta"], md5="c58f30108f718f92721af3b95e74349a",
                 images_per_file=10000),
    )

    def __init__(self, root, train=True, transform=None, download=False):
        self.root = Path(root).expanduser()
        self.train = train
        if download:
            self._download()
        release, path, is_archive = _find_release(
            self.root, self.releases, train, self._download_hint() + _OR_DOWNLOAD)
        self.source = path
        names = release.files(train)
        if is_archive:
            digest = None if integrity.known(path) else integrity.md5()
            files = read_archive_members(path, names, release.max_file_bytes, digest)
        else:
            files = _read_folder_files(path, names, release.max_file_bytes)
        if release is self.releases[0]:
            images, labels, classes = self._parse_binary(release, files, train)
        else:
            images, labels, classes = self._parse_python(release, files, train)
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(f"{path}: labels range over [{labels.min()}, {labels.max()}] "
                             f"but there are {len(classes)} class names")
        if is_archive:
            if digest is not None:
                integrity.record(path, _archive_verdict(path, release, files, digest))
        else:
            _check_folder_files(path, release, files)
        super().__init__(images, labels, classes, transform)

    def _download_hint(self):
        release = self.releases[0]
        return (f"Download {self.mirror}{release.archive} (or the python release "
                f"{self.releases[1].archive}) and put the archive, or the folder "
                f"{release.folder}/ it holds, in {self._download_folder()}.")

    def _download_folder(self):
        # root may name the archive itself, as when loading it
        return self.root.parent if self.root.name == self.releases[0].archive else self.root

    def _download(self):
        release = self.releases[0]
        try:
            _find_release(self.root, self.releases, self.train, "")
            return
        except (FileNotFoundError, ValueError):
            pass
        _download.download_and_extract(
            self.mirror + release.archive, self._download_folder(), release.archive, release.md5,
            folder=release.folder, members=release.train_files + release.test_files +
            release.meta_files, hint=self._download_hint())

    def _parse_binary(self, release, files, train):
        record = self.num_label_bytes + 3072
        images, labels = [], []
        for name in (release.train_files if train else release.test_files):
            raw = files[name]
            if len(raw) == 0 or len(raw) % record:
                raise ValueError(f"{self.source}/{name}: {len(raw)} bytes is not a whole "
                                 f"number of {record}-byte records")
            if len(raw) // record > release.images_per_file:
                raise ValueError(f"{self.source}/{name}: {len(raw) // record:,} records, more "
                                 f"than the {release.images_per_file:,} of an official file")
            rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
            labels.append(rows[:, self._binary_label_column()])
            images.append(rows[:, self.num_label_bytes:].reshape(-1, 3, 32, 32))
        classes = self._binary_classes(files)
        return np.concatenate(images), np.concatenate(labels).astype(np.int64), classes

    def _binary_label_column(self):
        return 0

    def _binary_classes(self, files):
        return _text_lines(files["batches.meta.txt"])

    def _parse_python(self, release, files, train):
        images, labels = [], []
        for name in (release.train_files if train else release.test_files):
            where = f"{self.source}/{name}"
            batch = _unpickle_dict(files[name], where, release.images_per_file)
            batch_labels = _labels(batch, self._python_label_key(), where,
                                   release.images_per_file)
            images.append(_image_block(batch.get("data"), where, len(batch_labels)))
            labels.append(batch_labels)
        where = f"{self.source}/{release.meta_files[0]}"
        meta = _unpickle_dict(files[release.meta_files[0]], where, 0)
        names = _entry_list(meta, self._python_names_key(), where, (bytes, str), 1000)
        return np.concatenate(images), np.concatenate(labels), [_decode(n) for n in names]

    def _python_label_key(self):
        return "labels"

    def _python_names_key(self):
        return "label_names"


def _text_lines(raw):
    return [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]


class CIFAR100(CIFAR10):
    """CIFAR-100: 50,000 training and 10,000 test 32x32 colour images, labelled with 100 fine
    classes (default) or, with ``coarse=True``, their 20 superclasses."""

    num_label_bytes = 2  # binary records: coarse label, fine label, 3072 pixels
    releases = (
        _Release("cifar-100-binary.tar.gz", "cifar-100-binary", ["train.bin"], ["test.bin"],
                 ["fine_label_names.txt", "coarse_label_names.txt"],
                 md5="03b5dce01913d631647c71ecec9e9cb8", images_per_file=50000),
        _Release("cifar-100-python.tar.gz", "cifar-100-python", ["train"], ["test"], ["meta"],
                 md5="eb9058c3a382ffc7106e4002c42a8d85", images_per_file=50000),
    )

    def __init__(self, root, train=True, transform=None, download=False, coarse=False):
        self.coarse = coarse
        super().__init__(root, train, transform, download)

    def _binary_label_column(self):
        return 0 if self.coarse else 1

    def _binary_classes(self, files):
        return _text_lines(files["coarse_label_names.txt" if self.coarse
                                 else "fine_label_names.txt"])

    def _python_label_key(self):
        return "coarse_labels" if self.coarse else "fine_labels"

    def _python_names_key(self):
        return "coarse_label_names" if self.coarse else "fine_label_names"


# ----------------------------------------------------------------------------- MNIST

class MNIST(ArrayDataset):
    """MNIST (LeCun et al., 1998) from the official IDX files, gzipped or not:
    ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``. ``root``
    is the folder that holds them (also found in ``root/raw`` and torchvision's
    ``root/MNIST/raw``). Images are (N, 1, 28, 28)."""

    mirror = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    split_sizes = {"train": 60000, "t10k": 10000}   # images in the official files, at most
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, download=False):
        self.root = Path(root).expanduser()
        self.train = train
        if download:
            self._download()
        prefix = "train" if train else "t10k"
        folder = self._find_folder()
        count = self.split_sizes[prefix]
        image_file = self._file(folder, f"{prefix}-images-idx3-ubyte")
        label_file = self._file(folder, f"{prefix}-labels-idx1-ubyte")
        digests = {path: integrity.md5() for path in (image_file, label_file)
                   if path is not None and path.name in dict(self.resources)
                   and folder != EMBEDDED_ROOT and not integrity.known(path)}
        images = read_idx(image_file, ndim=3, max_shape=(count, 28, 28),
                          digest=digests.get(image_file))
        labels = read_idx(label_file, ndim=1, max_shape=(count,),
                          digest=digests.get(label_file))
        if len(images) != len(labels):
            raise ValueError(f"{folder}: {len(images)} {prefix} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(f"{folder}: label {labels.max()} is out of range for "
                             f"{len(self.classes)} classes")
        for path, digest in digests.items():
            difference = integrity.differs(digest.hexdigest(), dict(self.resources)[path.name],
                                           os.path.getsize(path))
            name = type(self).__name__
            integrity.record(path, difference and f"{path}: not the official {name} file: "
                                                  f"{difference}")
        super().__init__(images[:, None], labels, type(self).classes, transform)
        self.source = folder

    def _candidate_folders(self):
        return [self.root, self.root / "raw", self.root / type(self).__name__ / "raw"]

    def _find_folder(self):
        prefix = "train" if self.train else "t10k"
        for folder in self._candidate_folders():
            if self._file(folder, f"{prefix}-images-idx3-ubyte") is not None:
                return folder
        raise FileNotFoundError(f"dataset not found at {self.root}. "
                                f"{self._download_hint()}{_OR_DOWNLOAD}")

    @staticmethod
    def _file(folder, stem):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
        return None

    def _download_hint(self):
        names = ", ".join(name for name, _ in self.resources)
        return (f"Download {names} from {self.mirror} and put them (gzipped or not) in "
                f"{self.root}.")

    def _download(self):
        os.makedirs(self.root, exist_ok=True)
        for name, md5 in self.resources:
            stem = name[:-len(".gz")]
            if any(self._file(folder, stem) for folder in self._candidate_folders()):
                continue
            _download.download_file(self.mirror + name, self.root / name, md5,
                                    hint=self._download_hint())


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017; Zalando Research): 28x28 grayscale images
    of 10 kinds of clothing, in MNIST's IDX format and layout."""

    mirror = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


EMBEDDED_ROOT = Path(__file__).resolve().parent / "embedded"


def embedded_fashion_mnist(train=True, transform=None):
    """The Fashion-MNIST subset shipped inside minicnn (no download): 15,000 training images
    (1,500 per class) or 2,000 test images (200 per class) from the official splits; see
    minicnn/data/embedded/README.md for its provenance and licence."""
    return FashionMNIST(EMBEDDED_ROOT, train=train, transform=transform)
