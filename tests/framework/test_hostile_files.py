"""Hostile dataset and checkpoint files: corrupt archives, crafted pickles, decompression bombs,
lying headers. Each must end in the loader's own clear error (naming the file) before it
allocates what the file does not hold; a fuzz of bit flips and truncations checks the kinds."""

import gzip
import io
import json
import pickle
import struct
import tarfile
import tracemalloc
import zlib
import zipfile

import numpy as np
import pytest

from minicnn.data import CIFAR10, CIFAR100, MNIST
from minicnn.data.idx import read_idx
from minicnn.data.safe_pickle import safe_loads
from minicnn.utils import checkpoint
from minicnn.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from test_datasets import PER_BATCH, cifar10_files, idx_bytes, make_cifar, py2_pickle, tar_bytes


@pytest.fixture(scope="module")
def cifar10_data():
    return make_cifar(10, np.random.default_rng(11))


def peak_bytes(function, *args):
    """(the exception ``function(*args)`` raised, the peak of Python-tracked memory meanwhile)."""
    tracemalloc.start()
    try:
        function(*args)
    except Exception as error:   # noqa: BLE001  (the test inspects it)
        raised = error
    else:
        raised = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return raised, peak


# ----------------------------------------------------------------------------- .tar.gz

def test_a_bit_flip_in_the_gzip_crc_of_an_archive_is_an_error_naming_it(tmp_path, cifar10_data):
    archive = bytearray(tar_bytes(cifar10_files("binary", cifar10_data)))
    archive[-6] ^= 0x10                           # inside the CRC-32 of the gzip trailer
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(bytes(archive))
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: .*(CRC|corrupt)"):
        CIFAR10(path, train=False)


def test_an_archive_cut_short_by_10_bytes_is_an_error(tmp_path, cifar10_data):
    whole = tar_bytes(cifar10_files("binary", cifar10_data))
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(whole[:-10])
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: the archive is truncated"):
        CIFAR10(path, train=False)


def test_an_archive_member_larger_than_the_format_allows_is_refused_unread(tmp_path,
                                                                          cifar10_data):
    files = cifar10_files("binary", cifar10_data)
    files["cifar-10-batches-bin/test_batch.bin"] = bytes(3073 * 10001)   # 10,001 records
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(tar_bytes(files))
    with pytest.raises(ValueError, match=r"test_batch\.bin: 10,001 records, more than the "
                                         r"10,000 of an official file"):
        CIFAR10(path, train=False)
    files["cifar-10-batches-bin/test_batch.bin"] = bytes(71_680_001)
    path.write_bytes(tar_bytes(files))
    with pytest.raises(ValueError, match=r"member cifar-10-batches-bin/test_batch\.bin holds "
                                         r"71,680,001 bytes, more than the 71,680,000"):
        CIFAR10(path, train=False)


# ----------------------------------------------------------------------------- CIFAR pickles

def uninitialised_array_pickle(shape):
    """A batch whose 'data' and 'labels' are ``_reconstruct(ndarray, shape, "B")`` with no
    BUILD: NumPy itself would allocate ``shape`` (and ``shape[:1]``) uninitialised."""

    def reconstruct(dims):
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n("
                + b"".join(b"J" + struct.pack("<i", n) for n in dims) + b"tU\x01B\x87R")

    return (b"\x80\x02}(U\x04data" + reconstruct(shape) + b"U\x06labels" + reconstruct(shape[:1])
            + b"u.")


@pytest.mark.parametrize("shape", [(300000, 3072), (100_000_000, 3072)])   # 286 GiB
def test_a_pickle_cannot_make_arrays_the_file_does_not_hold(tmp_path, cifar10_data, shape):
    files = cifar10_files("python", cifar10_data)
    files["cifar-10-batches-py/test_batch"] = uninitialised_array_pickle(shape)
    root = tmp_path / "cifar-10-batches-py"
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    raised, peak = peak_bytes(CIFAR10, root, False)
    assert isinstance(raised, (ValueError, pickle.UnpicklingError)), raised
    assert "test_batch" in str(raised)
    assert peak < 10_000_000


def test_python3_protocol_2_repickles_load(tmp_path, cifar10_data):
    """Python 3 stores bytes through _codecs.encode in protocol 2 (bytes and str keys)."""
    files = cifar10_files("python", cifar10_data)
    for index, name in enumerate(sorted(files)):
        if name.endswith("readme.html"):
            continue
        batch = pickle.loads(files[name], encoding="bytes")
        if index % 2:
            batch = {key.decode(): value for key, value in batch.items()}
        files[name] = pickle.dumps(batch, protocol=2)
        assert b"_codecs" in files[name]
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    for train, split in ((True, "train"), (False, "test")):
        ds = CIFAR10(tmp_path, train=train)
        np.testing.assert_array_equal(ds.images, cifar10_data[split][0])
        np.testing.assert_array_equal(ds.labels, cifar10_data[split][1])


ONE_IMAGE = py2_pickle({b"labels": [0], b"data": np.zeros((1, 3072), np.uint8)})


CRAFTED_PICKLES = {
    "a global that runs code": b"\x80\x02cos\nsystem\nU\x04trueq\x00\x85R.",
    "an object dtype": b"\x80\x02cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R.",
    "a dtype state with fields": ONE_IMAGE.replace(b"NNNJ", b"N(U\x01aK\x00tNJ"),
    "_codecs.encode of another codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x03\x00"
                                       b"\x00\x00hex\x86R.",
    "a memo index of 2^31": b"\x80\x02Nr\xff\xff\xff\x7f.",
    "a persistent id": b"\x80\x02U\x01xQ.",
    "BUILD on a stand-in": b"\x80\x02c_codecs\nencode\n}U\x01aK\x01sb.",
    "a set": b"\x80\x04\x8f(K\x01\x90.",
    "a dict key nested 100,000 deep": b"\x80\x02}(" + b")" + b"\x85" * 100000 + b"K\x01u.",
    "array bytes shorter than the shape": ONE_IMAGE.replace(
        b"T" + struct.pack("<i", 3072) + bytes(3072), b"U\x03abc"),
    "a truncated stream": py2_pickle({b"labels": [1, 2]})[:-5],
}


@pytest.mark.parametrize("content", CRAFTED_PICKLES.values(), ids=CRAFTED_PICKLES.keys())
def test_crafted_pickles_are_refused_with_the_loaders_errors(tmp_path, cifar10_data, content):
    files = cifar10_files("python", cifar10_data)
    files["cifar-10-batches-py/test_batch"] = content
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with pytest.raises((ValueError, pickle.UnpicklingError), match="test_batch"):
        CIFAR10(tmp_path, train=False)


# ----------------------------------------------------------------------------- IDX

def test_a_gzip_idx_bomb_is_inflated_no_further_than_its_header_says(tmp_path):
    """A header for 3 images over 32 MiB of zeros: refused after reading about 2,352 bytes."""
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(
        idx_bytes(np.zeros((3, 28, 28), np.uint8)) + bytes(32 << 20)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    raised, peak = peak_bytes(MNIST, tmp_path, False)
    assert isinstance(raised, ValueError)
    assert "t10k-images-idx3-ubyte.gz: the header announces shape (3, 28, 28) (2,368 bytes) " \
        "but the file holds more than 2,368 bytes" in str(raised)
    assert peak < 4 << 20


def test_an_idx_header_larger_than_the_dataset_allows_is_refused_unread(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", 0x0803, 10001, 28, 28) + bytes(1 << 20)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    raised, peak = peak_bytes(MNIST, tmp_path, False)
    assert "announces shape (10001, 28, 28) (7,840,800 bytes); this dataset's files are at most " \
        "(10000, 28, 28)" in str(raised)
    assert peak < 1 << 20


def test_idx_dimensions_whose_product_overflows_64_bits_give_the_right_byte_count(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x0803, 2255121, 3928883472, 2082) + bytes(1000))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: the header announces shape "
                                         r"\(2255121, 3928883472, 2082\) "
                                         r"\(18,446,744,073,709,553,200 bytes\) but the file "
                                         r"holds 1,016 bytes"):
        read_idx(path, ndim=3)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match=r"\(18,446,744,073,709,553,200 bytes\); this "
                                         r"dataset's files are at most"):
        MNIST(tmp_path, train=False)


# ----------------------------------------------------------------------------- .npz

def npz_with_entry(path, name, payload, compress=True):
    """A checkpoint whose metadata names the array ``name``, stored as ``payload`` bytes."""
    meta = json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION,
                       "tree": {"w": {"__array__": name}}}).encode()
    meta_npy = io.BytesIO()
    np.save(meta_npy, np.frombuffer(meta, np.uint8))
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr(checkpoint.META_KEY + ".npy", meta_npy.getvalue())
        archive.writestr(name + ".npy", payload)


def npy_header(shape, descr="<f4"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_an_npz_entry_claiming_shape_2_to_the_40_is_a_clear_error(tmp_path):
    path = tmp_path / "crafted.npz"
    npz_with_entry(path, "w", npy_header((2 ** 40,)) + bytes(16))
    with pytest.raises(CheckpointError, match=r"crafted\.npz.*entry 'w': its header announces "
                                              r"shape \(1099511627776,\) of float32 "
                                              r"\(4,398,046,511,104 bytes\) but the archive "
                                              r"stores 16 bytes"):
        load_checkpoint(path)


@pytest.mark.parametrize("header", [b"", npy_header((4,))], ids=["no header", "small header"])
def test_an_npz_bomb_is_refused_before_it_is_inflated(tmp_path, header):
    path = tmp_path / "bomb.npz"
    npz_with_entry(path, "w", header + bytes(32 << 20))
    assert path.stat().st_size < 100_000
    raised, peak = peak_bytes(load_checkpoint, path)
    assert isinstance(raised, CheckpointError) and "bomb.npz" in str(raised), raised
    assert peak < 4 << 20


def test_the_refusal_of_a_pickled_array_does_not_advise_allow_pickle(tmp_path):
    path = tmp_path / "pickled.npz"
    npz_with_entry(path, "w", npy_header((1,), "|O") + pickle.dumps(np.array([0], object)))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert "object array" in str(error.value) and "allow_pickle" not in str(error.value)


@pytest.mark.parametrize("tree, message", [
    ({"__tuple__": 5}, "__tuple__ holds int"),
    ({"__dict__": [[[1], 2]]}, "__dict__ must hold"),
    ({"__dict__": 3}, "__dict__ must hold"),
    ({"__array__": ["x"]}, "no array"),
    ({"__tensor__": "missing"}, "no array 'missing'"),
    (json.loads("[" * 150 + "]" * 150), "nests deeper than 100 levels"),
])
def test_malformed_metadata_is_a_checkpoint_error(tmp_path, tree, message):
    path = tmp_path / "meta.npz"
    meta = json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "tree": tree})
    np.savez(path, __meta__=np.frombuffer(meta.encode(), np.uint8))
    with pytest.raises(CheckpointError, match="meta.npz.*" + message):
        load_checkpoint(path)


def test_metadata_nested_100000_deep_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "deep.npz"
    meta = ('{"format": "%s", "version": %d, "tree": ' % (checkpoint.FORMAT, checkpoint.VERSION)
            + "[" * 100000 + "]" * 100000 + "}")
    np.savez(path, __meta__=np.frombuffer(meta.encode(), np.uint8))
    with pytest.raises(CheckpointError, match="deep.npz.*nests deeper"):
        load_checkpoint(path)


# ----------------------------------------------------------------------------- the fuzz

FLIPS = 60


def mutations(data, rng, flips, cuts):
    """``flips`` copies of ``data`` with one random bit flipped, and ``cuts`` truncations."""
    for position in rng.integers(0, len(data), size=flips):
        mutated = bytearray(data)
        mutated[position] ^= 1 << int(rng.integers(0, 8))
        yield bytes(mutated)
    for length in rng.integers(0, len(data), size=cuts):
        yield data[:length]


def test_fuzz_bit_flips_and_truncations_of_every_file_kind(tmp_path, cifar10_data):
    """A mutated file either loads exactly what the intact one holds (a flip in a field no
    check covers, such as a time stamp) or raises the loader's own error naming the file (or
    its dataset folder); for formats without a checksum (a pickle), any clean load passes."""
    rng = np.random.default_rng(2024)
    loaders = []

    # gzipped tar archives, both CIFAR releases: a CRC guards the data
    for release in ("binary", "python"):
        path = tmp_path / f"cifar-10-{release}.tar.gz"
        intact = tar_bytes(cifar10_files(release, cifar10_data))
        loaders.append((path, intact, lambda p: CIFAR10(p, train=False).images, ValueError,
                        True))
    # a python-release batch on its own: no checksum
    folder = tmp_path / "cifar-10-batches-py"
    for name, data in cifar10_files("python", cifar10_data).items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    loaders.append((folder / "test_batch", (folder / "test_batch").read_bytes(),
                    lambda p: CIFAR10(folder, train=False).images,
                    (ValueError, pickle.UnpicklingError), False))
    # a gzipped IDX file: CRC
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    (mnist / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    loaders.append((mnist / "t10k-images-idx3-ubyte.gz",
                    gzip.compress(idx_bytes(rng.integers(0, 256, (4, 28, 28), np.uint8))),
                    lambda p: MNIST(mnist, train=False).images, ValueError, True))
    # a checkpoint: a CRC per zip entry
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"epoch": 3, "w": np.arange(40, dtype=np.float32).reshape(4, 10)})
    loaders.append((path, path.read_bytes(), lambda p: load_checkpoint(p)["w"],
                    CheckpointError, True))

    for path, intact, load, errors, checksummed in loaders:
        path.write_bytes(intact)
        expected = load(path)
        for mutated in mutations(intact, rng, flips=FLIPS, cuts=10):
            path.write_bytes(mutated)
            try:
                result = load(path)
            except errors as error:
                assert path.name in str(error) or str(path.parent) in str(error), error
                continue
            if checksummed:
                np.testing.assert_array_equal(result, expected)
        path.write_bytes(intact)


def test_fuzz_random_bytes_as_a_cifar_batch_end_in_the_loaders_errors(tmp_path, cifar10_data):
    rng = np.random.default_rng(7)
    folder = tmp_path / "cifar-10-batches-py"
    for name, data in cifar10_files("python", cifar10_data).items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    opcodes = list(b"()]}KJMNUTXhqr.tb\x85\x86\x87\x88\x89\x8c\x93\x94\x95RcaeusR")
    for _ in range(300):
        body = bytes(rng.choice(opcodes, size=int(rng.integers(1, 40))))
        (folder / "test_batch").write_bytes(b"\x80\x02" + body)
        try:
            CIFAR10(folder, train=False)
        except (ValueError, pickle.UnpicklingError) as error:
            assert "test_batch" in str(error)


def test_cifar100_binary_records_are_counted_against_its_official_size(tmp_path):
    files = {"cifar-100-binary/test.bin": bytes(3074 * 50001),
             "cifar-100-binary/fine_label_names.txt": b"a",
             "cifar-100-binary/coarse_label_names.txt": b"b"}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ValueError, match="50,001 records, more than the 50,000"):
        CIFAR100(tmp_path, train=False)
    assert PER_BATCH < 10000


def test_an_archive_of_too_many_or_too_large_members_is_refused(tmp_path, cifar10_data):
    files = cifar10_files("binary", cifar10_data)
    crowded = {**files, **{f"cifar-10-batches-bin/junk{i}": b"" for i in range(1000)}}
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(tar_bytes(crowded))
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: more than 1000 members"):
        CIFAR10(path, train=False)
    path.write_bytes(tar_bytes({**files, "cifar-10-batches-bin/junk": bytes(71_680_001)}))
    with pytest.raises(ValueError, match=r"member cifar-10-batches-bin/junk holds 71,680,001"):
        CIFAR10(path, train=False)


# ----------------------------------------------------------------------------- budgets

def test_a_zip_directory_that_lies_about_an_entry_is_refused(tmp_path):
    from test_small_files_big_claims import meta_entry, zip_file
    payload = npy_header((4,)) + bytes(16)
    path = tmp_path / "lies.npz"
    zip_file(path, [meta_entry({"w": {"__array__": "w"}}),
                    ("w.npy", 0, payload, zlib.crc32(payload), len(payload) + 4096)])
    with pytest.raises(CheckpointError, match=r"lies\.npz.*entry 'w\.npy' is stored "
                                              r"uncompressed in 144 bytes but its directory "
                                              r"claims 4,240"):
        load_checkpoint(path)
    zip_file(path, [meta_entry({"w": {"__array__": "w"}}),
                    ("w.npy", 12, payload, zlib.crc32(payload), len(payload))])
    with pytest.raises(CheckpointError, match=r"compression method 12; a checkpoint's entries "
                                              r"are stored or deflated"):
        load_checkpoint(path)


def test_a_pickle_of_more_opcodes_than_its_batch_needs_is_refused():
    with pytest.raises(ValueError, match=r"batch: not a valid pickled CIFAR batch .*more than "
                                         r"1,000 opcodes"):
        safe_loads(b"\x80\x02" + b"}" * 2000 + b".", "batch", max_opcodes=1000)
    assert safe_loads(b"\x80\x02" + b"}" * 990 + b".", "batch", max_opcodes=1000) == {}


@pytest.mark.parametrize("damage", ["checksum", "no end block"])
def test_a_tar_with_a_bad_header_checksum_or_no_end_is_corrupt(tmp_path, cifar10_data, damage):
    archive = bytearray(tar_bytes(cifar10_files("binary", cifar10_data), mode="w"))
    if damage == "checksum":
        archive[512 + 10] ^= 0x01                   # the second header's name
    else:                                           # every member whole, then nothing
        last = tarfile.open(fileobj=io.BytesIO(bytes(archive))).getmembers()[-1]
        archive = archive[:last.offset_data + -(-last.size // 512) * 512]
    path = tmp_path / "cifar-10-binary.tar"
    path.write_bytes(bytes(archive))
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar: the archive is truncated or "
                                         r"corrupt"):
        CIFAR10(path, train=False)


def test_models_are_built_under_a_parameter_budget():
    import minicnn as mc
    with pytest.raises(ValueError, match=r"vgg11\(num_classes=1000000000\) needs more than "
                                         r"268,435,456 parameter values \(its classifier"):
        mc.models.create("vgg11", num_classes=10 ** 9)
    with pytest.raises(ValueError, match=r"vgg11\(num_classes=100000\) needs more than "
                                         r"268,435,456 parameter values \(a layer of shape "
                                         r"\(100000, 4096\) passes that\)"):
        mc.models.create("vgg11", num_classes=10 ** 5)
    with pytest.raises(ValueError, match=r"lenet5\(num_classes=10\) needs more than 1,000"):
        mc.models.create("lenet5", max_parameters=1000)
    assert mc.models.create("lenet5", max_parameters=61706) is not None
    with pytest.raises(ValueError, match=r"fractalnet\(num_columns=6\) needs 336,732,426 "
                                         r"parameter values"):
        mc.models.create("fractalnet", num_columns=6)


def test_metadata_with_a_5000_digit_integer_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "digits.npz"
    meta = json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION,
                       "tree": {"epoch": 0}}).replace("0}", "9" * 5000 + "}")
    np.savez(path, __meta__=np.frombuffer(meta.encode(), np.uint8))
    with pytest.raises(CheckpointError, match=r"digits\.npz'?: its metadata is not valid JSON"):
        load_checkpoint(path)


def test_save_checkpoint_refuses_metadata_over_its_cap(tmp_path):
    with pytest.raises(ValueError, match=r"more than the 8,388,608 a checkpoint may hold; store "
                                         r"long lists of numbers as arrays"):
        save_checkpoint(tmp_path / "big.npz", {"losses": [0.5] * 3_000_000})
    assert not (tmp_path / "big.npz").exists()
