"""Dataset loaders on files written here in the exact official layouts (CIFAR-10 / CIFAR-100
binary and python releases, as archive and folder; MNIST IDX, gzipped and raw), the real
CIFAR-10 copy in ../shared/data, the embedded Fashion-MNIST subset, and hostile input."""

import gzip
import importlib.util
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import CIFAR10, CIFAR100, MNIST, ArrayDataset, FashionMNIST, Subset
from minicnn.data import transforms as T

REPO = Path(__file__).resolve().parents[2]
SHARED_CIFAR10 = REPO.parent / "shared" / "data" / "cifar-10-binary.tar.gz"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
PER_BATCH = 6  # images per CIFAR-10 batch file in the fixtures (the official files hold 10,000)


# ----------------------------------------------------------------------------- writers

def py2_pickle(obj):
    """``obj`` pickled as Python 2's cPickle (protocol 2) wrote the official CIFAR python
    batches: byte strings are Python 2 str (BINSTRING), arrays name numpy.core.multiarray."""

    def text(data):
        if len(data) < 256:
            return b"U" + bytes([len(data)]) + data
        return b"T" + struct.pack("<i", len(data)) + data

    def integer(value):
        if 0 <= value < 256:
            return b"K" + bytes([value])
        if 0 <= value < 65536:
            return b"M" + struct.pack("<H", value)
        return b"J" + struct.pack("<i", value)

    def encode(item):
        if isinstance(item, bytes):
            return text(item)
        if isinstance(item, int):
            return integer(item)
        if isinstance(item, list):
            return b"](" + b"".join(encode(x) for x in item) + b"e"
        if isinstance(item, dict):
            return b"}(" + b"".join(encode(k) + encode(v) for k, v in item.items()) + b"u"
        assert isinstance(item, np.ndarray) and item.dtype == np.uint8
        shape = b"(" + b"".join(integer(n) for n in item.shape) + b"t"
        dtype = (b"cnumpy\ndtype\n" + text(b"u1") + integer(0) + integer(1) + b"\x87R("
                 + integer(3) + text(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
                 + integer(0) + b"tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + integer(0)
                + b"\x85" + text(b"b") + b"\x87R(" + integer(1) + shape + dtype + b"\x89"
                + text(item.tobytes()) + b"tb")

    return b"\x80\x02" + encode(obj) + b"."


def make_cifar(num_classes, rng):
    """Random images and labels for both splits: {split: (images (N,3,32,32), fine, coarse)}."""
    data = {}
    for split, count in (("train", 5 * PER_BATCH), ("test", PER_BATCH)):
        images = rng.integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8)
        fine = rng.integers(0, num_classes, size=count)
        data[split] = (images, fine, fine // 5)
    return data


CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
FINE_NAMES = [f"fine_{i}" for i in range(100)]
COARSE_NAMES = [f"coarse_{i}" for i in range(20)]


def cifar10_files(release, data):
    """{relative path: bytes} of the official CIFAR-10 ``release`` ("binary" or "python")."""
    train_images, train_labels, _ = data["train"]
    test_images, test_labels, _ = data["test"]
    batches = {f"data_batch_{i + 1}": (train_images[i * PER_BATCH:(i + 1) * PER_BATCH],
                                       train_labels[i * PER_BATCH:(i + 1) * PER_BATCH])
               for i in range(5)}
    batches["test_batch"] = (test_images, test_labels)
    if release == "binary":
        files = {f"cifar-10-batches-bin/{name}.bin":
                 np.concatenate([labels[:, None].astype(np.uint8), images.reshape(-1, 3072)],
                                axis=1).tobytes()
                 for name, (images, labels) in batches.items()}
        files["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(CIFAR10_NAMES)
                                                         + "\n\n").encode()
        files["cifar-10-batches-bin/readme.html"] = b"<html></html>"
        return files
    files = {f"cifar-10-batches-py/{name}": py2_pickle({
        b"batch_label": name.encode(), b"labels": [int(x) for x in labels],
        b"data": images.reshape(-1, 3072),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]})
        for name, (images, labels) in batches.items()}
    files["cifar-10-batches-py/batches.meta"] = py2_pickle({
        b"num_cases_per_batch": PER_BATCH, b"label_names": [n.encode() for n in CIFAR10_NAMES],
        b"num_vis": 3072})
    files["cifar-10-batches-py/readme.html"] = b"<html></html>"
    return files


def cifar100_files(release, data):
    files = {}
    if release == "binary":
        for split in ("train", "test"):
            images, fine, coarse = data[split]
            files[f"cifar-100-binary/{split}.bin"] = np.concatenate(
                [coarse[:, None].astype(np.uint8), fine[:, None].astype(np.uint8),
                 images.reshape(-1, 3072)], axis=1).tobytes()
        files["cifar-100-binary/fine_label_names.txt"] = "\n".join(FINE_NAMES).encode()
        files["cifar-100-binary/coarse_label_names.txt"] = "\n".join(COARSE_NAMES).encode()
        return files
    for split in ("train", "test"):
        images, fine, coarse = data[split]
        files[f"cifar-100-python/{split}"] = py2_pickle({
            b"filenames": [b"x.png"] * len(fine), b"batch_label": split.encode(),
            b"fine_labels": [int(x) for x in fine], b"coarse_labels": [int(x) for x in coarse],
            b"data": images.reshape(-1, 3072)})
    files["cifar-100-python/meta"] = py2_pickle({
        b"fine_label_names": [n.encode() for n in FINE_NAMES],
        b"coarse_label_names": [n.encode() for n in COARSE_NAMES]})
    return files


def write_folder(root, files):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tar_bytes(files, mode="w:gz"):
    """A tar archive of ``files`` with the official structure (the folder entry first)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        folder = tarfile.TarInfo(next(iter(files)).split("/")[0])
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def idx_bytes(array):
    """The official IDX encoding, written here independently of minicnn.data.idx."""
    magic = 0x0800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(np.uint8).tobytes()


# ----------------------------------------------------------------------------- CIFAR

@pytest.fixture(scope="module")
def cifar10_data():
    return make_cifar(10, np.random.default_rng(10))


@pytest.fixture(scope="module")
def cifar100_data():
    return make_cifar(100, np.random.default_rng(100))


ARCHIVE_NAMES = {("cifar10", "binary"): "cifar-10-binary.tar.gz",
                 ("cifar10", "python"): "cifar-10-python.tar.gz",
                 ("cifar100", "binary"): "cifar-100-binary.tar.gz",
                 ("cifar100", "python"): "cifar-100-python.tar.gz"}


def place(tmp_path, files, form, archive_name):
    """Put ``files`` under tmp_path as ``form``; returns the root to pass to the loader."""
    folder = next(iter(files)).split("/")[0]
    if form == "archive":
        (tmp_path / archive_name).write_bytes(tar_bytes(files))
        return tmp_path / archive_name
    if form == "folder holding the archive":
        (tmp_path / archive_name).write_bytes(tar_bytes(files))
        return tmp_path
    write_folder(tmp_path, files)
    return tmp_path / folder if form == "extracted folder" else tmp_path


FORMS = ["archive", "folder holding the archive", "extracted folder",
         "folder holding the extracted folder"]


@pytest.mark.parametrize("release", ["binary", "python"])
@pytest.mark.parametrize("form", FORMS)
def test_cifar10_official_layouts(tmp_path, cifar10_data, release, form):
    root = place(tmp_path, cifar10_files(release, cifar10_data), form,
                 ARCHIVE_NAMES[("cifar10", release)])
    for train, split in ((True, "train"), (False, "test")):
        ds = CIFAR10(root, train=train)
        images, labels, _ = cifar10_data[split]
        assert ds.images.dtype == np.uint8 and ds.images.shape == images.shape
        np.testing.assert_array_equal(ds.images, images)
        assert ds.labels.dtype == np.int64
        np.testing.assert_array_equal(ds.labels, labels)
        assert ds.classes == CIFAR10_NAMES
        assert len(ds) == len(labels)


@pytest.mark.parametrize("release", ["binary", "python"])
@pytest.mark.parametrize("form", ["archive", "folder holding the extracted folder"])
def test_cifar100_fine_and_coarse(tmp_path, cifar100_data, release, form):
    root = place(tmp_path, cifar100_files(release, cifar100_data), form,
                 ARCHIVE_NAMES[("cifar100", release)])
    for train, split in ((True, "train"), (False, "test")):
        images, fine, coarse = cifar100_data[split]
        ds = CIFAR100(root, train=train)
        np.testing.assert_array_equal(ds.images, images)
        np.testing.assert_array_equal(ds.labels, fine)
        assert ds.classes == FINE_NAMES
        ds = CIFAR100(root, train=train, coarse=True)
        np.testing.assert_array_equal(ds.labels, coarse)
        assert ds.classes == COARSE_NAMES


def test_cifar10_python_release_pickled_by_python3(tmp_path, cifar10_data):
    """A re-pickled copy (Python 3, NumPy 2, protocols 2-5, str or bytes keys) loads too."""
    files = cifar10_files("python", cifar10_data)
    for protocol, name in zip((3, 4, 5, 5, 4, 3), files):
        if name.endswith("readme.html"):
            continue
        batch = pickle.loads(files[name], encoding="bytes")
        if protocol == 4:
            batch = {key.decode(): value for key, value in batch.items()}
        files[name] = pickle.dumps(batch, protocol=protocol)
    write_folder(tmp_path, files)
    ds = CIFAR10(tmp_path)
    np.testing.assert_array_equal(ds.images, cifar10_data["train"][0])


def test_renamed_archive_is_recognised_and_wrong_dataset_refused(tmp_path, cifar10_data):
    (tmp_path / "my-cifar.tgz").write_bytes(tar_bytes(cifar10_files("binary", cifar10_data)))
    assert len(CIFAR10(tmp_path / "my-cifar.tgz", train=False)) == PER_BATCH
    with pytest.raises(ValueError, match="cifar-10-batches-bin.*not cifar-100-binary"):
        CIFAR100(tmp_path / "my-cifar.tgz")


def test_renamed_folder_loads_and_incomplete_folder_is_named(tmp_path, cifar10_data):
    files = cifar10_files("python", cifar10_data)
    write_folder(tmp_path, {name.replace("cifar-10-batches-py", "mine"): data
                            for name, data in files.items()})
    assert len(CIFAR10(tmp_path / "mine")) == 5 * PER_BATCH
    del files["cifar-10-batches-py/data_batch_2"]
    write_folder(tmp_path, files)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py lacks data_batch_2"):
        CIFAR10(tmp_path)


def test_missing_dataset_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-binary\.tar\.gz.*" +
                       str(tmp_path).replace("/", ".")):
        CIFAR10(tmp_path)


class _Payload:
    """Unpickling this runs builtins.open(path, "w"), which creates the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, cifar10_data, protocol):
    files = cifar10_files("python", cifar10_data)
    created = tmp_path / "pwned"
    batch = {"batch_label": "x", "labels": [0], "data": _Payload(created)}
    files["cifar-10-batches-py/data_batch_3"] = pickle.dumps(batch, protocol=protocol)
    root = place(tmp_path, files, "archive", "cifar-10-python.tar.gz")
    with pytest.raises(pickle.UnpicklingError, match=r"data_batch_3.*'(builtins|io)\.open'"):
        CIFAR10(root)
    assert not created.exists()


def test_pickle_of_the_wrong_shape_is_refused(tmp_path, cifar10_data):
    files = cifar10_files("python", cifar10_data)
    files["cifar-10-batches-py/test_batch"] = py2_pickle(
        {b"labels": [1, 2], b"data": np.zeros((2, 100), np.uint8)})
    write_folder(tmp_path, files)
    with pytest.raises(ValueError, match=r"test_batch.*\(N, 3072\)"):
        CIFAR10(tmp_path, train=False)


def test_truncated_archive_fails_clearly(tmp_path, cifar10_data):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    whole = tar_bytes(cifar10_files("binary", cifar10_data))
    archive.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: the archive is truncated"):
        CIFAR10(tmp_path)
    archive.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: .*corrupt"):
        CIFAR10(archive)


def test_binary_batch_of_the_wrong_size_is_refused(tmp_path, cifar10_data):
    files = cifar10_files("binary", cifar10_data)
    files["cifar-10-batches-bin/test_batch.bin"] += b"\x00"
    write_folder(tmp_path, files)
    with pytest.raises(ValueError, match="test_batch.bin.*3073-byte records"):
        CIFAR10(tmp_path, train=False)


@pytest.mark.skipif(not SHARED_CIFAR10.is_file(), reason="no CIFAR-10 copy in ../shared/data")
def test_real_cifar10_copy():
    train = CIFAR10(SHARED_CIFAR10, train=True)
    test = CIFAR10(SHARED_CIFAR10.parent, train=False)
    assert train.images.shape == (50000, 3, 32, 32) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 3, 32, 32)
    assert np.bincount(train.labels).tolist() == [5000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.classes[0] == "airplane" and train.classes[9] == "truck"
    assert 80 < train.images.mean() < 180  # real pixels, not zeros


# ----------------------------------------------------------------------------- MNIST

@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("layout", ["", "raw", "MNIST/raw"])
def test_mnist_idx_files(tmp_path, rng, gzipped, layout):
    folder = tmp_path / layout
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for prefix, count in (("train", 12), ("t10k", 5)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        data[prefix] = images, labels
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            payload = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if gzipped:
                (folder / (name + ".gz")).write_bytes(gzip.compress(payload))
            else:
                (folder / name).write_bytes(payload)
    for train, prefix in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train)
        np.testing.assert_array_equal(ds.images, data[prefix][0][:, None])
        np.testing.assert_array_equal(ds.labels, data[prefix][1])
        assert ds.images.shape[1:] == (1, 28, 28) and ds.labels.dtype == np.int64


def write_mnist(folder, images, labels, prefix="train"):
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def test_idx_magic_and_sizes_are_checked(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    labels = np.zeros(3, np.uint8)
    write_mnist(tmp_path, images, labels)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">I", 0x0801) + path.read_bytes()[4:])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: magic number 0x00000801"):
        MNIST(tmp_path)
    path.write_bytes(idx_bytes(images)[:-10])
    with pytest.raises(ValueError, match=r"announces shape \(3, 28, 28\)"):
        MNIST(tmp_path)
    write_mnist(tmp_path, images, np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="3 train images but 4 labels"):
        MNIST(tmp_path)
    write_mnist(tmp_path, images, np.full(3, 10, np.uint8))
    with pytest.raises(ValueError, match="label 10 is out of range"):
        MNIST(tmp_path)


def test_truncated_gzip_idx_fails_clearly(tmp_path):
    payload = gzip.compress(idx_bytes(np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(payload[:len(payload) // 2])
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: the gzip stream is "
                                         r"truncated"):
        MNIST(tmp_path, train=False)


# ----------------------------------------------------------------------------- embedded

def test_embedded_fashion_mnist():
    train = mc.data.embedded_fashion_mnist(train=True)
    test = mc.data.embedded_fashion_mnist(train=False)
    assert isinstance(train, FashionMNIST)
    assert train.images.shape == (15000, 1, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (2000, 1, 28, 28)
    assert np.bincount(train.labels).tolist() == [1500] * 10
    assert np.bincount(test.labels).tolist() == [200] * 10
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    total = sum(p.stat().st_size for p in mc.data.EMBEDDED_ROOT.iterdir())
    assert total < 8_000_000
    for name in ("LICENSE", "README.md"):
        assert "Zalando" in (mc.data.EMBEDDED_ROOT / name).read_text()


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist absent")
def test_embedded_subset_is_what_the_script_selects():
    spec = importlib.util.spec_from_file_location(
        "make_embedded", mc.data.EMBEDDED_ROOT / "make_embedded_fashion_mnist.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rng = np.random.default_rng(script.SEED)
    for split, per_class in script.SPLITS.items():
        official = FashionMNIST(DEBIAN_FASHION, train=split == "train")
        keep = script.balanced_indices(official.labels, per_class, rng)
        embedded = mc.data.embedded_fashion_mnist(train=split == "train")
        np.testing.assert_array_equal(embedded.images, official.images[keep])
        np.testing.assert_array_equal(embedded.labels, official.labels[keep])


# ----------------------------------------------------------------------------- dataset API

def test_item_and_batch_api(rng):
    images = rng.integers(0, 256, size=(7, 3, 4, 5), dtype=np.uint8)
    ds = ArrayDataset(images, np.arange(7) % 3, classes=["a", "b", "c"])
    image, label = ds[4]
    assert image.dtype == np.float32 and image.shape == (3, 4, 5)
    np.testing.assert_allclose(image, images[4] / 255, rtol=1e-6)
    assert label == 1 and isinstance(label, int)
    assert ds[-1][1] == 0
    with pytest.raises(IndexError, match="index 7 is out of range"):
        ds[7]
    ds.transform = T.Normalize([0.5, 0.5, 0.5], [0.25, 0.5, 1.0])
    batch, labels = ds.get_batch(np.array([4, 0, 6]))
    assert batch.dtype == np.float32 and labels.dtype == np.int64
    expected = np.stack([ds[i][0] for i in (4, 0, 6)])
    np.testing.assert_allclose(batch, expected, rtol=1e-6)
    sub = Subset(ds, [6, 1])
    assert len(sub) == 2 and sub.classes == ds.classes and sub.transform is ds.transform
    np.testing.assert_array_equal(sub.images, images[[6, 1]])


def test_array_dataset_refuses_mismatched_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ArrayDataset(np.zeros((2, 4, 4), np.uint8), [0, 1])
    with pytest.raises(ValueError, match=r"labels must be \(2,\)"):
        ArrayDataset(np.zeros((2, 1, 4, 4), np.uint8), [0, 1, 2])
