"""The official files' published MD5, checked on first use: a copy that loads but is not the
official file warns once, naming it and saying what differs; a plain tar is read as carefully
as a tar.gz (a flipped pixel of the python release is named, the binary release's unverifiable
data is said to be so)."""

import gzip
import hashlib
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from minicnn.cli import main
from minicnn.data import CIFAR10, CIFAR100, MNIST, FashionMNIST, embedded_fashion_mnist, integrity
from minicnn.data.integrity import NotOfficialWarning
from test_datasets import (PER_BATCH, cifar10_files, cifar100_files, idx_bytes, make_cifar,
                           tar_bytes, write_folder)

REPO = Path(__file__).resolve().parents[2]
SHARED_CIFAR10 = next((folder / "shared" / "data" / "cifar-10-binary.tar.gz"
                       for folder in (REPO.parent, REPO.parents[1])
                       if (folder / "shared" / "data" / "cifar-10-binary.tar.gz").is_file()), None)


@pytest.fixture(scope="module")
def cifar10_data():
    return make_cifar(10, np.random.default_rng(21))


def integrity_warnings(load, *args, **kwargs):
    """(what load returned, the messages of the NotOfficialWarnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load(*args, **kwargs)
    return result, [str(w.message) for w in caught if w.category is NotOfficialWarning]


def md5_of(data):
    return hashlib.md5(data).hexdigest()


def test_an_archive_under_the_official_name_warns_once_naming_it(tmp_path, cifar10_data):
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(tar_bytes(cifar10_files("binary", cifar10_data)))
    test, messages = integrity_warnings(CIFAR10, path, train=False)
    assert len(messages) == 1 and len(messages[0].splitlines()) == 1
    assert messages[0].startswith(f"{path}: not the official cifar-10-binary.tar.gz: MD5 "
                                  f"{md5_of(path.read_bytes())}, not the published "
                                  "c32a1d4ab5d03f1284b67883e8d87530; "
                                  f"{path.stat().st_size:,} bytes where the official file has "
                                  "170,052,171: a re-encoded or modified copy")
    np.testing.assert_array_equal(test.images, cifar10_data["test"][0])
    _, again = integrity_warnings(CIFAR10, tmp_path, train=True)   # the same file, once
    assert again == []


def test_the_official_archive_is_silent_and_a_changed_byte_of_it_is_named(tmp_path,
                                                                        cifar10_data,
                                                                        monkeypatch):
    """The fixture plays the official file (its MD5 and size published), then one pixel of
    it changes in a gzip that is still valid: same size, other MD5."""
    files = cifar10_files("binary", cifar10_data)
    official = tar_bytes(files)
    monkeypatch.setattr(CIFAR10.releases[0], "md5", md5_of(official))
    monkeypatch.setitem(integrity.OFFICIAL_SIZES, md5_of(official), len(official))
    path = tmp_path / "renamed.tar.gz"
    path.write_bytes(official)
    assert integrity_warnings(CIFAR10, path, train=False)[1] == []
    name = "cifar-10-batches-bin/test_batch.bin"
    files[name] = files[name][:100] + bytes([files[name][100] ^ 1]) + files[name][101:]
    changed = tar_bytes(files)
    assert len(changed) == len(official)
    other = tmp_path / "changed.tar.gz"
    other.write_bytes(changed)
    _, messages = integrity_warnings(CIFAR10, other, train=False)
    assert messages == [f"{other}: not the official cifar-10-binary.tar.gz: MD5 "
                        f"{md5_of(changed)}, not the published {md5_of(official)}; the same size "
                        "as the official file, so bytes in it were changed: a damaged or "
                        "modified copy; its members load, but results on it are not comparable "
                        "with published ones"]


@pytest.mark.parametrize("mode", ["w", "w:gz"], ids=["plain tar", "tar.gz"])
def test_python_release_members_are_checked_in_any_archive(tmp_path, cifar10_data,
                                                            monkeypatch, mode):
    """The python members' published MD5s (here the fixture's) verify a plain tar or a
    re-compressed archive; a flipped pixel in one member is named."""
    files = cifar10_files("python", cifar10_data)
    published = {name.split("/")[1]: md5_of(data) for name, data in files.items()}
    monkeypatch.setitem(integrity.MEMBER_MD5, "cifar-10-batches-py", published)
    path = tmp_path / "cifar-10-python.tar"
    path.write_bytes(tar_bytes(files, mode))
    assert integrity_warnings(CIFAR10, path, train=False)[1] == []
    batch = bytearray(files["cifar-10-batches-py/test_batch"])
    batch[-100] ^= 0x08                                   # a pixel of the last image
    files["cifar-10-batches-py/test_batch"] = bytes(batch)
    path.write_bytes(tar_bytes(files, mode))
    test, messages = integrity_warnings(CIFAR10, path, train=False)
    assert not np.array_equal(test.images, cifar10_data["test"][0])   # the flip loaded ...
    assert messages == [f"{path}: cifar-10-batches-py/test_batch differs from the official "
                        f"release's (MD5 {md5_of(bytes(batch))}): a re-encoded or modified "
                        "copy"]                                       # ... and is named


def test_a_plain_tar_of_the_binary_release_says_its_data_cannot_be_checked(tmp_path,
                                                                           cifar10_data):
    path = tmp_path / "cifar-10-binary.tar"
    path.write_bytes(tar_bytes(cifar10_files("binary", cifar10_data), "w"))
    _, messages = integrity_warnings(CIFAR10, path, train=False)
    assert messages == [f"{path}: a plain tar, not the official cifar-10-binary.tar.gz: its "
                        "data cannot be checked (the binary release publishes no checksum of "
                        "its members and a plain tar holds none), so a damaged byte would load "
                        "as a wrong pixel"]


def test_fuzz_bit_flips_in_plain_tars_never_load_wrong_pixels_silently(tmp_path, cifar10_data,
                                                                        monkeypatch):
    """100 random flips in each plain tar (binary and python release): every load either
    raises the loader's error, or gives the intact pixels, or warns naming the file."""
    rng = np.random.default_rng(2021)
    expected = cifar10_data["test"][0]
    for release in ("binary", "python"):
        files = cifar10_files(release, cifar10_data)
        published = {name.split("/")[1]: md5_of(data) for name, data in files.items()}
        monkeypatch.setitem(integrity.MEMBER_MD5, "cifar-10-batches-py", published)
        intact = tar_bytes(files, "w")
        for trial, position in enumerate(rng.integers(0, len(intact), size=100)):
            mutated = bytearray(intact)
            mutated[position] ^= 1 << int(rng.integers(0, 8))
            path = tmp_path / f"{release}-{trial}.tar"
            path.write_bytes(bytes(mutated))
            try:
                test, messages = integrity_warnings(CIFAR10, path, train=False)
            except (ValueError, pickle.UnpicklingError) as error:
                assert path.name in str(error), error
                continue
            if not np.array_equal(test.images, expected):
                assert len(messages) == 1 and str(path) in messages[0], (release, position)


def test_cifar100_python_members_are_checked_in_a_folder(tmp_path, monkeypatch):
    files = cifar100_files("python", make_cifar(100, np.random.default_rng(3)))
    published = {name.split("/")[1]: md5_of(data) for name, data in files.items()}
    monkeypatch.setitem(integrity.MEMBER_MD5, "cifar-100-python", published)
    published["test"] = "0" * 32
    write_folder(tmp_path, files)
    _, messages = integrity_warnings(CIFAR100, tmp_path, train=False)
    assert messages == [f"{tmp_path / 'cifar-100-python' / 'test'}: cifar-100-python/test "
                        f"differs from the official release's (MD5 "
                        f"{md5_of(files['cifar-100-python/test'])}): a re-encoded or modified "
                        "copy"]


@pytest.mark.parametrize("dataset", [MNIST, FashionMNIST])
def test_mnist_gz_files_are_checked_against_their_published_md5(tmp_path, rng, dataset):
    images = gzip.compress(idx_bytes(rng.integers(0, 256, (5, 28, 28), np.uint8)))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(images)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(
        np.arange(5, dtype=np.uint8))))
    _, messages = integrity_warnings(dataset, tmp_path, train=False)
    published = dict(dataset.resources)["t10k-images-idx3-ubyte.gz"]
    assert len(messages) == 2
    assert messages[0] == (f"{tmp_path / 't10k-images-idx3-ubyte.gz'}: not the official "
                           f"{dataset.__name__} file: MD5 {md5_of(images)}, not the published "
                           f"{published}; {len(images):,} bytes where the official file has "
                           f"{integrity.OFFICIAL_SIZES[published]:,}: a re-encoded or modified "
                           "copy")
    assert integrity_warnings(dataset, tmp_path, train=False)[1] == []


def test_the_embedded_subset_and_files_without_published_checksums_are_silent(tmp_path, rng,
                                                                              cifar10_data):
    assert integrity_warnings(embedded_fashion_mnist, train=False)[1] == []
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 28, 28))))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(2)))
    assert integrity_warnings(MNIST, tmp_path, train=False)[1] == []
    write_folder(tmp_path, cifar10_files("binary", cifar10_data))
    assert integrity_warnings(CIFAR10, tmp_path, train=False)[1] == []


@pytest.mark.filterwarnings("default::minicnn.data.integrity.NotOfficialWarning")
def test_the_warning_is_one_line_through_the_command(tmp_path, cifar10_data, capsys):
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(tar_bytes(cifar10_files("binary", cifar10_data)))
    status = main(["train", "--model", "resnet20", "--data", "cifar10", "--data-path", str(path),
                   "--epochs", "1", "--batch-size", str(PER_BATCH), "--no-plots",
                   "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 0
    warned = [line for line in err.splitlines() if "not the official" in line]
    assert warned == [line for line in err.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith(f"minicnn train: warning: {path}: not the "
                                                     "official cifar-10-binary.tar.gz: MD5 ")


@pytest.mark.slow
@pytest.mark.skipif(SHARED_CIFAR10 is None, reason="no CIFAR-10 copy in ../shared/data")
def test_the_shared_re_encoded_copy_warns_once():
    _, messages = integrity_warnings(CIFAR10, SHARED_CIFAR10, train=False)
    _, again = integrity_warnings(CIFAR10, SHARED_CIFAR10.parent, train=False)
    assert len(messages) == 1 and again == []
    assert "not the official cifar-10-binary.tar.gz" in messages[0]
    assert "a re-encoded or modified copy" in messages[0]
