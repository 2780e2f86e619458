"""The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

A file is a 4-byte magic number, then one big-endian uint32 per dimension, then the values
row-major. The magic number is two zero bytes, a type code (0x08 = unsigned byte) and the
number of dimensions: 0x00000803 for images (N, rows, cols), 0x00000801 for labels (N,).
Files are read gzipped or not (recognised by the gzip signature, not by the name).
"""

import gzip
import math
import os
import struct
import tempfile
import zlib

import numpy as np

from minicnn.data.integrity import HashingReader

_UNSIGNED_BYTE = 0x08
_GZIP_SIGNATURE = b"\x1f\x8b"
_CHUNK = 1 << 20


def read_idx(path, ndim, max_shape=None, digest=None):
    """The uint8 array held by the IDX file at ``path`` (gzipped or not), which must have
    ``ndim`` dimensions, each at most the size in ``max_shape`` (None: any). The header is
    read first: a wrong magic number, a shape over ``max_shape``, or a file that holds fewer
    or more bytes than the header announces raises ValueError naming the file, and a gzipped
    file is inflated no further than the announced size (and its CRC checked). ``digest`` (a
    hashlib object) is updated with every byte of the file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            gzipped = file.read(2) == _GZIP_SIGNATURE
            file.seek(0)
            source = file if digest is None else HashingReader(file, digest)
            stream = gzip.GzipFile(fileobj=source, mode="rb") if gzipped else source
            header_size = 4 + 4 * ndim
            shape = _parse_header(_read_up_to(stream, header_size), ndim, path)
            expected_size = header_size + math.prod(shape)
            _check_shape(shape, max_shape, expected_size, path)
            if not gzipped and os.fstat(file.fileno()).st_size != expected_size:
                _size_mismatch(path, shape, expected_size, os.fstat(file.fileno()).st_size)
            data = _read_up_to(stream, expected_size - header_size)
            if len(data) < expected_size - header_size:
                _size_mismatch(path, shape, expected_size, header_size + len(data))
            if stream.read(1):   # reaching the end also checks the gzip CRC
                _size_mismatch(path, shape, expected_size, f"more than {expected_size:,}")
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: the gzip stream is truncated or corrupt ({error})") from None
    return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()


def _read_up_to(stream, size):
    """At most ``size`` bytes of ``stream``, read in chunks, so that memory follows what the
    stream really holds rather than what a header claims."""
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parse_header(header, ndim, name):
    """The shape announced by an IDX header (4 + 4 * ndim bytes)."""
    if len(header) < 4:
        raise ValueError(f"{name}: {len(header)} bytes is too short for an IDX file")
    zero, type_code, file_ndim = struct.unpack(">HBB", header[:4])
    expected_magic = (_UNSIGNED_BYTE << 8) | ndim
    if zero != 0 or type_code != _UNSIGNED_BYTE or file_ndim != ndim:
        raise ValueError(f"{name}: magic number 0x{struct.unpack('>I', header[:4])[0]:08x} is "
                         f"not 0x{expected_magic:08x} (unsigned bytes, {ndim} dimensions)")
    if len(header) < 4 + 4 * ndim:
        raise ValueError(f"{name}: the header is truncated ({len(header)} bytes)")
    return struct.unpack(f">{ndim}I", header[4:])


def _check_shape(shape, max_shape, expected_size, name):
    if max_shape is not None and any(size > limit for size, limit in zip(shape, max_shape)):
        raise ValueError(f"{name}: the header announces shape {shape} ({expected_size:,} "
                         f"bytes); this dataset's files are at most {tuple(max_shape)}")


def _size_mismatch(name, shape, expected_size, actual_size):
    actual = f"{actual_size:,}" if isinstance(actual_size, int) else actual_size
    raise ValueError(f"{name}: the header announces shape {shape} ({expected_size:,} bytes) "
                     f"but the file holds {actual} bytes")


def write_idx(path, array, compress=None):
    """Write a uint8 ``array`` as an IDX file, atomically; gzipped (reproducibly: no name, no
    time stamp) when ``compress`` is True or, by default, when ``path`` ends in ".gz"."""
    path = os.fspath(path)
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx: array must be uint8, got {array.dtype}")
    header = struct.pack(">HBB", 0, _UNSIGNED_BYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    write_atomic(path, payload)


def write_atomic(path, payload):
    """Write bytes to ``path`` through a temporary file in the same folder and os.replace, so
    that ``path`` holds either its old content or all of the new one."""
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-",
                                             suffix="-" + os.path.basename(path))
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; a data file is readable by all
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
