"""Probe the file readers with corrupted and crafted files, under a cap on the address space.

    python3 benchmarks/probe_files.py [--mutations 100] [--cap-gb 1.5]

Every file kind minicnn reads (CIFAR-10 binary and python releases as tar.gz, plain tar and folder;
CIFAR-100 binary; MNIST gzipped IDX; checkpoints) is mutated at random (bit flips, overwritten
bytes, truncations, appended bytes), and crafted files that claim gigabytes (the kinds of
tests/framework/test_small_files_big_claims.py and variants: every tar header type, base-256 and
pax sizes, zip directories, pickle opcode floods, model options) are added. Each is loaded in this
process, whose address space is capped (RLIMIT_AS): a load ends in the loader's own error
(ValueError, pickle.UnpicklingError; a warning is counted apart), in a clean load, or is counted as
a crash (any other exception) or as a gigabyte allocation (MemoryError). Prints the counts; the
exit status is 1 when a crash or a MemoryError was seen.
"""

import argparse
import collections
import gzip
import hashlib
import io
import os
import pickle
import resource
import struct
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "framework")]

import minicnn as mc                                                  # noqa: E402
from minicnn.data import CIFAR10, CIFAR100, MNIST, integrity          # noqa: E402
from minicnn.data.integrity import NotOfficialWarning                 # noqa: E402
from minicnn.utils import checkpoint                                  # noqa: E402
from test_datasets import (cifar10_files, cifar100_files, idx_bytes, make_cifar,  # noqa: E402
                           tar_bytes, write_folder)
from test_small_files_big_claims import (deflated_repeats, deflated_zeros,  # noqa: E402
                                         meta_entry, npy_header, tar_header, zip_file)

GiB = 1 << 30


def md5_of(data):
    return hashlib.md5(data).hexdigest()


def mutations(data, rng, count):
    """``count`` damaged copies of ``data``: flips, overwritten runs, cuts and appended bytes."""
    for index in range(count):
        kind = index % 4
        mutated = bytearray(data)
        if kind == 0:
            position = int(rng.integers(len(data)))
            mutated[position] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            start = int(rng.integers(len(data)))
            length = int(rng.integers(1, 64))
            mutated[start:start + length] = rng.integers(0, 256, length, np.uint8).tobytes()
            mutated = mutated[:len(data)]
        elif kind == 2:
            mutated = mutated[:int(rng.integers(len(data)))]
        else:
            mutated += rng.integers(0, 256, int(rng.integers(1, 2048)), np.uint8).tobytes()
        yield bytes(mutated)


def crafted_tars():
    """Tar archives (gzipped and plain) whose headers claim gigabytes."""
    for kind in (b"x", b"g", b"L", b"K"):
        header = tar_header("././@LongLink", kind, GiB)
        stream, crc, size = deflated_zeros(header, 8 << 20)
        yield (f"{kind.decode()} header, 1 GiB, tar.gz",
               b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + stream
               + struct.pack("<II", crc, size & 0xFFFFFFFF))
        yield f"{kind.decode()} header, 1 GiB, plain", header + bytes(4096)
    big = bytearray(tar_header("cifar-10-batches-bin/test_batch.bin", b"0", 0))
    big[124:136] = b"\x80" + (1 << 40).to_bytes(11, "big")            # base-256: 1 TiB
    big[148:156] = b" " * 8
    big[148:156] = f"{sum(big):06o}\0 ".encode()
    yield "regular member of 1 TiB (base-256)", bytes(big) + bytes(4096)
    record = b"size=1099511627776\n"
    record = str(len(record) + 15).encode().rjust(2) + b" " + record
    pax = tar_header("./PaxHeaders/x", b"x", len(record)) + record.ljust(512, b"\0")
    yield "pax size record of 1 TiB", pax + tar_header("cifar-10-batches-bin/test_batch.bin",
                                                       b"0", 0) + bytes(4096)
    yield "10,000 pax headers", tar_header("x", b"x", 0) * 10000 + bytes(1024)


def crafted_checkpoints():
    """Checkpoints whose directories, headers or metadata claim gigabytes."""
    stream, crc, size = deflated_zeros(npy_header((1 << 18,)), 1 << 20)
    tree = {f"w{i}": {"__array__": "w"} for i in range(3000)}
    yield "one array named 3,000 times", [meta_entry(tree), ("w.npy", 8, stream, crc, size)]
    header = npy_header((3 * GiB // 2 - 128,), "|u1")
    data = zlib.compress(header + bytes(16))[2:-4]
    yield "directory claims 1.5 GiB", [meta_entry({"w": {"__array__": "w"}}),
                                       ("w.npy", 8, data, zlib.crc32(header + bytes(16)),
                                        3 * GiB // 2)]
    stream, crc, size = deflated_zeros(npy_header((600_000_000 - 128,), "|u1"),
                                       600_000_000 - 128)
    yield "600 MB deflate bomb", [meta_entry({"w": {"__array__": "w"}}),
                                  ("w.npy", 8, stream, crc, size)]
    stream, crc, size = deflated_zeros(npy_header((1 << 18,)), 1 << 20)
    entries = [meta_entry({f"w{i}": {"__array__": f"w{i}"} for i in range(400)})]
    entries += [(f"w{i}.npy", 8, stream, crc, size) for i in range(400)]
    yield "400 distinct 1 MiB deflated entries (400 MiB)", entries
    yield "shape 2^40 over 16 bytes", [meta_entry({"w": {"__array__": "w"}}),
                                      ("w.npy", 0, npy_header((1 << 40,)) + bytes(16),
                                       zlib.crc32(npy_header((1 << 40,)) + bytes(16)),
                                       len(npy_header((1 << 40,))) + 16)]
    deep = ('{"format": "%s", "version": %d, "tree": ' % (checkpoint.FORMAT, checkpoint.VERSION)
            + "[" * 10 ** 6 + "]" * 10 ** 6 + "}")
    head = ('{"format": "%s", "version": %d, "tree": [' % (checkpoint.FORMAT,
                                                         checkpoint.VERSION)).encode()
    chunk = b"{}," * 100_000
    header = npy_header((len(head) + 800 * len(chunk) + 4,), "|u1")
    yield "80 million empty dicts in the metadata", [(checkpoint.META_KEY + ".npy", 8,
                                                      *deflated_repeats(header + head, chunk,
                                                                        800, b"{}]}"))]
    yield "metadata 10^6 levels deep", [(checkpoint.META_KEY + ".npy", 0, *_npy_meta(deep))]


def _npy_meta(text):
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(text.encode(), np.uint8))
    data = buffer.getvalue()
    return data, zlib.crc32(data), len(data)


def crafted_pickles():
    """CIFAR python batches, within the per-file byte cap, that would fill gigabytes."""
    yield "65 Mi EMPTY_DICT", b"\x80\x02" + b"}" * (65 << 20) + b"."
    yield "65 Mi EMPTY_LIST", b"\x80\x02" + b"]" * (65 << 20) + b"."
    yield "32 Mi MARK", b"\x80\x02" + b"(" * (32 << 20) + b"."
    puts = np.zeros((12 << 20, 5), np.uint8)
    puts[:, 0] = ord("r")
    puts[:, 1:] = np.arange(12 << 20, dtype="<u4").view(np.uint8).reshape(-1, 4)
    yield "12 Mi memo puts", b"\x80\x02}" + puts.tobytes() + b"."
    yield "LONG_BINPUT 2^32-1", b"\x80\x02}r\xff\xff\xff\xff."
    yield "FRAME of 2^60", b"\x80\x04\x95" + struct.pack("<Q", 1 << 60) + b"}."
    yield "BINUNICODE8 of 2^60", b"\x80\x04\x8d" + struct.pack("<Q", 1 << 60) + b"x."


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=100, help="per file kind")
    parser.add_argument("--cap-gb", type=float, default=1.5)
    args = parser.parse_args()
    cap = int(args.cap_gb * 1e9)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    rng = np.random.default_rng(21)
    counts = collections.Counter()
    failures = []
    work = Path(tempfile.mkdtemp(prefix="minicnn-probe-"))

    def probe(label, load, path, named=True, expected=None):
        """Load ``path``; ``expected``: what a load that gives no warning must return."""
        counts["files"] += 1
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = load(path)
            if any(w.category is NotOfficialWarning for w in caught):
                counts["warned"] += 1
            elif expected is not None and not np.array_equal(result, expected):
                counts["silently wrong"] += 1
                failures.append(f"{label}: loaded other values without a warning")
            else:
                counts["loaded"] += 1
        except MemoryError as error:
            counts["MemoryError"] += 1
            failures.append(f"{label}: MemoryError {error}")
        except (ValueError, pickle.UnpicklingError) as error:
            counts["refused"] += 1
            message = str(error)
            if len(message.splitlines()) != 1 or named and not any(
                    str(where) in message for where in (path, path.name, path.parent)):
                counts["unclear message"] += 1
                failures.append(f"{label}: unclear message {str(error)[:200]!r}")
        except Exception as error:                                  # noqa: BLE001
            counts["crash"] += 1
            failures.append(f"{label}: {type(error).__name__}: {str(error)[:200]}")

    # the fixtures play the official files: their MD5s are published for the probe, so a
    # warning says that a mutation changed the bytes
    data10 = make_cifar(10, rng)
    test_images = data10["test"][0]
    kinds = []
    for index, release in enumerate(("binary", "python")):
        files = cifar10_files(release, data10)
        name = f"cifar-10-{release}.tar"
        kinds.append((f"{release} tar.gz", name + ".gz", tar_bytes(files)))
        kinds.append((f"{release} plain tar", name, tar_bytes(files, "w")))
        CIFAR10.releases[index].md5 = md5_of(kinds[-2][2])
        integrity.OFFICIAL_SIZES[md5_of(kinds[-2][2])] = len(kinds[-2][2])
    integrity.MEMBER_MD5["cifar-10-batches-py"] = {
        name.split("/")[1]: md5_of(data) for name, data in files.items()}
    for label, name, intact in kinds:
        for index, mutated in enumerate(mutations(intact, rng, args.mutations)):
            path = work / f"{index}-{name}"
            path.write_bytes(mutated)
            probe(label, lambda p: CIFAR10(p, train=False).images, path, expected=test_images)
            path.unlink()
    folder = work / "py"
    write_folder(folder, cifar10_files("python", data10))
    batch = folder / "cifar-10-batches-py" / "test_batch"
    intact = batch.read_bytes()
    for index, mutated in enumerate(mutations(intact, rng, args.mutations)):
        batch = batch.with_name("test_batch")
        batch.write_bytes(mutated)
        probe("python batch", lambda p: CIFAR10(p.parent, train=False).images, batch,
              expected=test_images)
        os.utime(batch, ns=(index, index))          # a new verdict for each mutation
    batch.write_bytes(intact)
    c100 = work / "c100"
    write_folder(c100, cifar100_files("binary", make_cifar(100, rng)))
    test_bin = c100 / "cifar-100-binary" / "test.bin"
    intact = test_bin.read_bytes()
    for mutated in mutations(intact, rng, args.mutations):
        test_bin.write_bytes(mutated)
        probe("cifar-100 binary", lambda p: CIFAR100(p.parent, train=False), test_bin)
    test_bin.write_bytes(intact)
    mnist = work / "mnist"
    mnist.mkdir()
    (mnist / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    images = rng.integers(0, 256, (5, 28, 28), np.uint8)
    intact = gzip.compress(idx_bytes(images))
    MNIST.resources = [(name, md5_of(intact) if name == "t10k-images-idx3-ubyte.gz" else md5)
                       for name, md5 in MNIST.resources]
    for index, mutated in enumerate(mutations(intact, rng, args.mutations)):
        path = mnist / "t10k-images-idx3-ubyte.gz"
        path.write_bytes(mutated)
        os.utime(path, ns=(index, index))
        probe("MNIST gz", lambda p: MNIST(p.parent, train=False).images[:, 0], path,
              expected=images)
    ckpt = work / "last.npz"
    model = mc.models.create("lenet5")
    checkpoint.save_checkpoint(ckpt, {"epoch": 1, "model": model.state_dict()})

    def all_weights(path):
        state = checkpoint.load_checkpoint(path)["model"]
        return np.concatenate([np.ravel(value.numpy()) for value in state.values()])

    weights = all_weights(ckpt)
    intact = ckpt.read_bytes()
    for mutated in mutations(intact, rng, args.mutations):
        ckpt.write_bytes(mutated)
        probe("checkpoint", all_weights, ckpt, expected=weights)
    mutated_count = counts["files"]

    for label, data in crafted_tars():
        for suffix in (".tar.gz", ".tar"):
            path = work / f"crafted{suffix}"
            path.write_bytes(data)
            probe(label, lambda p: CIFAR10(p, train=False), path)
    for label, entries in crafted_checkpoints():
        path = work / "crafted.npz"
        zip_file(path, entries)
        probe(label, checkpoint.load_checkpoint, path)
    for label, data in crafted_pickles():
        batch.write_bytes(data)
        probe(label, lambda p: CIFAR10(p.parent, train=False), batch)
    for label, options in [("fractalnet 14 columns", {"num_columns": 14}),
                           ("fractalnet 6 columns", {"num_columns": 6}),
                           ("fractalnet 10^18 columns", {"num_columns": 10 ** 18}),
                           ("vgg16 10^9 classes", {"num_classes": 10 ** 9}),
                           ("fractalnet 10^12 classes", {"num_classes": 10 ** 12})]:
        name = "vgg16" if label.startswith("vgg") else "fractalnet"
        probe(label, lambda p: mc.models.create(name, **options), work / name, named=False)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{counts['files']} files ({mutated_count} mutated, "
          f"{counts['files'] - mutated_count} crafted) under a {args.cap_gb} GB address-space "
          f"cap: {counts['refused']} refused, {counts['loaded']} loaded unchanged or "
          f"unchecked, {counts['warned']} loaded with a not-official warning; "
          f"{counts['crash']} crashes, {counts['MemoryError']} MemoryErrors, "
          f"{counts['silently wrong']} loads of other values without a warning, "
          f"{counts['unclear message']} unclear messages; peak RSS {peak / 1e6:.0f} MB")
    for failure in failures:
        print("  " + failure)
    return 1 if counts["crash"] or counts["MemoryError"] or counts["silently wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
