"""The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

A file is a 4-byte magic number, then one big-endian uint32 per dimension, then the values
row-major. The magic number is two zero bytes, a type code (0x08 = unsigned byte) and the
number of dimensions: 0x00000803 for images (N, rows, cols), 0x00000801 for labels (N,).
Files are read gzipped or not (recognised by the gzip signature, not by the name).
"""

import gzip
import os
import struct
import tempfile
import zlib

import numpy as np

_UNSIGNED_BYTE = 0x08
_GZIP_SIGNATURE = b"\x1f\x8b"


def read_idx(path, ndim):
    """The uint8 array held by the IDX file at ``path`` (gzipped or not), which must have
    ``ndim`` dimensions. A wrong magic number, a size that disagrees with the header or a
    truncated file raises ValueError naming the file."""
    path = os.fspath(path)
    with open(path, "rb") as file:
        raw = file.read()
    if raw[:2] == _GZIP_SIGNATURE:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise ValueError(f"{path}: the gzip stream is truncated or corrupt ({error})") from None
    return parse_idx(raw, ndim, name=path)


def parse_idx(raw, ndim, name="<bytes>"):
    """The uint8 array held by the (uncompressed) IDX bytes ``raw``; see read_idx."""
    if len(raw) < 4:
        raise ValueError(f"{name}: {len(raw)} bytes is too short for an IDX file")
    zero, type_code, file_ndim = struct.unpack(">HBB", raw[:4])
    expected_magic = (_UNSIGNED_BYTE << 8) | ndim
    if zero != 0 or type_code != _UNSIGNED_BYTE or file_ndim != ndim:
        raise ValueError(f"{name}: magic number 0x{struct.unpack('>I', raw[:4])[0]:08x} is not "
                         f"0x{expected_magic:08x} (unsigned bytes, {ndim} dimensions)")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{name}: the header is truncated ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected_size = header_size + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected_size:
        raise ValueError(f"{name}: the header announces shape {shape} ({expected_size} bytes) "
                         f"but the file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()


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
