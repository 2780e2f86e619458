"""Small files that claim gigabytes: each is built here, tiny on disk, and given to the `minicnn`
command in a subprocess whose address space is capped at 1.5 GB (RLIMIT_AS), so a regression
fails with a MemoryError instead of taking the machine down. Each must be refused in one line
naming the file, with exit status 2, before the allocation its claim asks for."""

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from minicnn.utils import checkpoint
from minicnn.utils.checkpoint import save_checkpoint
from test_datasets import cifar10_files, make_cifar, write_folder

REPO = Path(__file__).resolve().parents[2]
MEMORY_CAP = 1_500_000_000      # bytes of address space for the command
GiB = 1 << 30


def capped_minicnn(*argv, cwd):
    """(exit status, stderr) of `python -m minicnn ARGV` with its address space capped."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MINICNN_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "minicnn", *map(str, argv)], cwd=cwd,
                            env=env, preexec_fn=cap, capture_output=True, text=True,
                            timeout=300)
    return result.returncode, result.stderr


def refused_in_one_line(status, err, *fragments):
    """Exit status 2 and one error line, the last (after any "data from ..." note)."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert status == 2 and errors == lines[-1:] and "Traceback" not in err, (status, err[-2000:])
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# ----------------------------------------------------------------------------- building blocks

def npy_header(shape, descr="<f4"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def deflated_repeats(prefix, chunk, count, suffix=b""):
    """(raw deflate stream of ``prefix`` + ``count`` times ``chunk`` + ``suffix``, its CRC-32,
    its length), made without compressing every copy: after a full flush the compressor starts
    afresh, so every copy of ``chunk`` compresses to the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    stream = head + block * count + compressor.compress(suffix) + compressor.flush()
    return stream, zlib.crc32(suffix, crc), len(prefix) + count * len(chunk) + len(suffix)


def deflated_zeros(prefix, zeros):
    """deflated_repeats of ``prefix`` and ``zeros`` zero bytes."""
    chunk = bytes(1 << 20)
    return deflated_repeats(prefix, chunk, zeros // len(chunk), bytes(zeros % len(chunk)))


def zip_file(path, entries):
    """Write a zip archive by hand, so that its directory can say anything: ``entries`` is a
    list of (name, method, compressed bytes, CRC-32, claimed uncompressed size)."""
    body, directory = b"", b""
    for name, method, data, crc, size in entries:
        name = name.encode()
        fields = struct.pack("<HHHHHIII", 20, 0, method, 0, 0x21, crc, len(data), size)
        directory += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                      + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, len(body)) + name)
        body += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name + data
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(directory), len(body), 0)
    Path(path).write_bytes(body + directory + end)


def meta_entry(tree):
    meta = json.dumps({"format": checkpoint.FORMAT, "version": checkpoint.VERSION,
                       "tree": tree}).encode()
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(meta, np.uint8))
    data = buffer.getvalue()
    return (checkpoint.META_KEY + ".npy", 0, data, zlib.crc32(data), len(data))


def test_deflated_zeros_and_repeats_are_the_deflate_of_their_input():
    stream, crc, size = deflated_zeros(b"head", 3 * (1 << 20) + 5)
    data = zlib.decompress(stream, -15)
    assert data == b"head" + bytes(3 * (1 << 20) + 5) and crc == zlib.crc32(data)
    assert size == len(data)
    stream, crc, size = deflated_repeats(b"[", b"{}," * 1000, 7, b"{}]")
    data = zlib.decompress(stream, -15)
    assert data == b"[" + b"{}," * 7000 + b"{}]" and crc == zlib.crc32(data)
    assert size == len(data)


# ----------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("command", [["eval"], ["train", "--resume"]], ids=" ".join)
def test_a_checkpoint_naming_one_array_3000_times_is_refused(tmp_path, command):
    """1 MiB stored once, named by 3,000 weights: each reference was read again (3 GB)."""
    stream, crc, size = deflated_zeros(npy_header((1 << 18,)), 1 << 20)
    path = tmp_path / "repeat.npz"
    tree = {"epoch": 1, "model": {f"w{i}": {"__array__": "w"} for i in range(3000)},
            "config": {"model": "lenet5", "data": "fashion-mnist-embedded"}}
    zip_file(path, [meta_entry(tree), ("w.npy", 8, stream, crc, size)])
    assert path.stat().st_size < 100_000
    refused_in_one_line(*capped_minicnn(*command, path, cwd=tmp_path), "repeat.npz",
                        "names array 'w' more than once")


def test_an_npz_whose_directory_claims_1_5_gib_is_refused_unallocated(tmp_path):
    claimed = 3 * GiB // 2
    header = npy_header((claimed - 128,), "|u1")
    assert len(header) == 128
    data = zlib.compress(header + bytes(16))[2:-4]
    path = tmp_path / "claims.npz"
    zip_file(path, [meta_entry({"w": {"__array__": "w"}}),
                    ("w.npy", 8, data, zlib.crc32(header + bytes(16)), claimed)])
    assert path.stat().st_size < 1000
    refused_in_one_line(*capped_minicnn("eval", path, cwd=tmp_path), "claims.npz",
                        "claims 1,610,612,736 bytes from", "more than deflate can produce")


def test_a_2_mb_deflate_bomb_of_2_gb_is_refused_by_the_total_cap(tmp_path):
    inflated = 2_100_000_000
    stream, crc, size = deflated_zeros(npy_header((inflated - 128,), "|u1"), inflated - 128)
    path = tmp_path / "bomb.npz"
    zip_file(path, [meta_entry({"w": {"__array__": "w"}}), ("w.npy", 8, stream, crc, size)])
    assert path.stat().st_size < 2_500_000
    refused_in_one_line(*capped_minicnn("eval", path, cwd=tmp_path), "bomb.npz",
                        "entries inflate to 2,100,000,", "more than 256 MiB beyond")


def test_metadata_of_80_million_empty_dicts_is_refused_unparsed(tmp_path):
    """240 MB of "{}," deflated to 240 KB: json.loads would make 80 million dicts (5.8 GB)."""
    chunk, copies = b"{}," * 100_000, 800
    head = ('{"format": "%s", "version": %d, "tree": [' % (checkpoint.FORMAT,
                                                         checkpoint.VERSION)).encode()
    length = len(head) + copies * len(chunk) + 4
    header = npy_header((length,), "|u1")
    stream, crc, size = deflated_repeats(header + head, chunk, copies, b"{}]}")
    path = tmp_path / "dicts.npz"
    zip_file(path, [(checkpoint.META_KEY + ".npy", 8, stream, crc, size)])
    assert path.stat().st_size < 1_000_000
    refused_in_one_line(*capped_minicnn("eval", path, cwd=tmp_path), "dicts.npz",
                        "its metadata takes 240,000,", "more than the 8,388,608")


# ----------------------------------------------------------------------------- tar archives

def tar_header(name, kind, size):
    """A ustar header block with a correct checksum."""
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[124:136] = f"{size:011o}\0".encode()
    header[136:148] = b"00000000000\0"
    header[156:157] = kind
    header[257:265] = b"ustar\x0000"
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


@pytest.mark.parametrize("kind", [b"x", b"L"], ids=["pax header", "GNU long name"])
def test_a_tar_gz_whose_first_header_claims_1_gib_is_refused_unread(tmp_path, kind):
    """tarfile read a pax header or GNU long name whole, whatever its claim (3.1 GB)."""
    stream, crc, size = deflated_zeros(tar_header("././@LongLink", kind, GiB), GiB + 1024)
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + stream
                     + struct.pack("<II", crc, size & 0xFFFFFFFF))
    assert path.stat().st_size < 2_000_000
    status, err = capped_minicnn("train", "--data", "cifar10", "--data-path", path,
                                 "--out", tmp_path / "run", cwd=tmp_path)
    refused_in_one_line(status, err, "cifar-10-binary.tar.gz",
                        "header claims 1,073,741,824 bytes, more than the 65,536 it can need")


def test_a_plain_tar_whose_first_header_claims_1_gib_is_refused_unread(tmp_path):
    """The same claim in a plain tar, a sparse file of 1 GiB that holds a few blocks."""
    path = tmp_path / "cifar-10-binary.tar"
    with open(path, "wb") as file:
        file.write(tar_header("././@PaxHeader", b"x", GiB))
        file.truncate(512 + GiB + 1024)
    assert path.stat().st_blocks * 512 < 1_000_000
    status, err = capped_minicnn("train", "--data", "cifar10", "--data-path", path,
                                 "--out", tmp_path / "run", cwd=tmp_path)
    refused_in_one_line(status, err, "cifar-10-binary.tar",
                        "pax header claims 1,073,741,824 bytes")


# ----------------------------------------------------------------------------- CIFAR pickles

def test_a_cifar_batch_of_65_mi_empty_dicts_is_refused_by_the_object_count(tmp_path):
    """Within the per-file byte cap (71,680,000), but 64 bytes of memory each (3.9 GB)."""
    write_folder(tmp_path, cifar10_files("python", make_cifar(10, np.random.default_rng(1))))
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(b"\x80\x02" + b"}" * (65 << 20) + b".")
    status, err = capped_minicnn("train", "--data", "cifar10", "--data-path", batch.parent,
                                 "--out", tmp_path / "run", cwd=tmp_path)
    refused_in_one_line(status, err, "test_batch", "more than 170,000 opcodes")


# ----------------------------------------------------------------------------- model options

@pytest.mark.parametrize("command", [["eval"], ["train", "--resume"]], ids=" ".join)
def test_a_checkpoint_asking_fractalnet_for_14_columns_is_refused_before_building(tmp_path,
                                                                                  command):
    """2^14 - 1 convs a block, 4 GB: refused by fractalnet's own argument check, before any
    layer is allocated."""
    write_folder(tmp_path, cifar10_files("binary", make_cifar(10, np.random.default_rng(2))))
    path = tmp_path / "fractal.npz"
    save_checkpoint(path, {"epoch": 1, "model": {}, "config": {
        "model": "fractalnet", "model_options": {"num_columns": 14}, "data": "cifar10",
        "data_path": str(tmp_path / "cifar-10-batches-bin")}})
    refused_in_one_line(*capped_minicnn(*command, path, cwd=tmp_path), "fractalnet",
                        "num_columns must be an int in [1, 8], got 14")


# ----------------------------------------------------------------------------- PyTorch files

LOAD_AND_DESCRIBE = """
import sys, minicnn as mc
w = mc.load(sys.argv[1])["w"]
print(w.shape, w.dtype, w.array.strides, w[7, 9].item(), w[65535, 0].item())
"""


@pytest.mark.parametrize("storage, element", [("HalfStorage", np.float16(1.5).tobytes()),
                                              ("BFloat16Storage", b"\xc0\x3f")])
def test_an_expanded_half_tensor_loads_as_a_view_of_its_one_element(tmp_path, storage, element):
    """torch.zeros(1, dtype=float16).expand(2**16, 2**16) is a 2-byte storage and a view of
    stride 0: it stays a view (as in PyTorch), converted to float32 per storage, not per
    element of the view (16 GiB)."""
    from test_serialization import handwritten_torch_pickle, torch_zip

    path = tmp_path / "expanded.pth"
    path.write_bytes(torch_zip(handwritten_torch_pickle(
        {"w": (storage, "0", 1, 0, (1 << 16, 1 << 16), (0, 0))}), {"0": element}))
    assert path.stat().st_size < 2_000
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_DESCRIBE, path], env=env, capture_output=True,
        text=True, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["(65536,", "65536)", "float32", "(0,", "0)", "1.5", "1.5"]
