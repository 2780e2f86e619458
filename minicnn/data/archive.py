"""Reading tar archives member by member, without extracting them to disk.

The headers are parsed here, not by tarfile, because tarfile reads a pax header or a GNU long
name whole, whatever size its header claims (a 1 GiB claim in a small .tar.gz becomes a 1 GiB
read): here every header, of every type, has its size checked before anything is read for it.
Each header's checksum is checked, the archive must end with tar's zero block, and a gzipped
archive is read through ``gzip.GzipFile`` to its very end: the gzip trailer holds the CRC-32
and the length of the whole stream, and only a read that reaches it checks them, so a flipped
bit or a cut-off tail is an error instead of changed pixels. (A plain tar has no checksum of
its data: minicnn.data.integrity covers the official files' data by their published MD5.)
"""

import gzip
import zlib

from minicnn.data.integrity import HashingReader

_GZIP_SIGNATURE = b"\x1f\x8b"
_READ_ERRORS = (EOFError, OSError, zlib.error)
_BLOCK = 512
_CHUNK = 1 << 16
# tar pads its end with zero blocks up to a whole record (10 KiB by default; writers may use
# larger records): more than this after the end-of-archive marker is not a tar archive
_MAX_TRAILER = 1 << 20
# a dataset archive holds a few files
_MAX_MEMBERS = 1000
# a pax header or a GNU long name holds a path and a few fields
_MAX_EXTENDED_HEADER = 1 << 16
_REGULAR = (b"0", b"\0", b"7")
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")   # links, devices, folders, FIFOs
_PAX, _PAX_GLOBAL, _GNU_LONG_NAME, _GNU_LONG_LINK = b"x", b"g", b"L", b"K"


class _Corrupt(Exception):
    """A tar header or stream that breaks the format."""


def _open(file):
    """The tar stream of ``file``: through GzipFile when it starts as gzip does."""
    start = file.read(2)
    if start == _GZIP_SIGNATURE:
        return gzip.GzipFile(fileobj=_Prepended(start, file), mode="rb")
    return _Prepended(start, file)


class _Prepended:
    """``file`` read on from where it is, as if ``start`` still came first (so that a file is
    read once, from its start to its end, and a digest of it sees every byte once)."""

    def __init__(self, start, file):
        self.start, self.file = start, file

    def read(self, size=-1):
        if 0 <= size < len(self.start):
            data, self.start = self.start[:size], self.start[size:]
            return data
        data, self.start = self.start, b""
        return data + self.file.read(-1 if size < 0 else size - len(data))


def _read(stream, size, keep=True):
    """The next ``size`` bytes of ``stream`` (None when not ``keep``), read in chunks so that
    memory follows what the stream holds; _Corrupt when it ends first."""
    chunks, left = [], size
    while left:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            raise _Corrupt(f"the archive ends {left:,} bytes before its last member does")
        if keep:
            chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks) if keep else None


def _number(field, what):
    """A numeric header field: octal text, or GNU's base-256 (first byte 0x80)."""
    if field[0] == 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise _Corrupt(f"a header's {what} field is not a number ({text[:20]!r})") from None


def _checksum_ok(header):
    """tar's header checksum: the sum of the bytes with the checksum field as 8 spaces (old
    writers summed signed bytes)."""
    stored = _number(header[148:156], "checksum")
    rest = header[:148] + b" " * 8 + header[156:]
    return stored in (sum(rest), sum(b - 256 if b > 127 else b for b in rest))


def _pax_records(data):
    """{key: value} of a pax extended header: records "LENGTH key=value\\n"."""
    records, position = {}, 0
    while position < len(data) and data[position] != 0:
        space = data.find(b" ", position, position + 20)
        length = int(data[position:space]) if space > position and \
            data[position:space].isdigit() else 0
        record = data[position:position + length]
        if length <= space - position or not record.endswith(b"\n") or b"=" not in record:
            raise _Corrupt("a pax header holds a malformed record")
        key, value = record[space - position + 1:-1].split(b"=", 1)
        records[key.decode("utf-8", "replace")] = value
        position += length
    return records


def _name(field):
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _walk(stream, archive, max_size, want):
    """Yields (name, data) for each member of the tar ``stream``: data is the bytes of a regular
    file for which ``want(name)`` holds, else None. Every size a header claims (pax headers and
    GNU long names included) is checked before anything is read for it: at most
    _MAX_EXTENDED_HEADER for those, at most ``max_size`` (None: any) for the members."""
    long_name = pax = None
    while True:
        header = stream.read(_BLOCK)
        if len(header) < _BLOCK:
            raise _Corrupt("the archive ends without tar's end-of-archive block")
        if header == bytes(_BLOCK):
            return
        if not _checksum_ok(header):
            raise _Corrupt("a header's checksum does not match")
        kind, size = header[156:157], _number(header[124:136], "size")
        if kind in (_PAX, _PAX_GLOBAL, _GNU_LONG_NAME, _GNU_LONG_LINK):
            if size > _MAX_EXTENDED_HEADER:
                raise ValueError(f"{archive}: a {_KIND_NAMES[kind]} header claims {size:,} "
                                 f"bytes, more than the {_MAX_EXTENDED_HEADER:,} it can need")
            data = _read(stream, size)
            _read(stream, -size % _BLOCK, keep=False)
            if kind == _PAX:
                pax = _pax_records(data)
            elif kind == _PAX_GLOBAL:
                _pax_records(data)
            elif kind == _GNU_LONG_NAME:
                long_name = _name(data)
            continue
        name = long_name
        if name is None:
            name = _name(header[0:100])
            if header[257:263] == b"ustar\0" and header[345] != 0:
                name = _name(header[345:500]) + "/" + name
        if pax is not None:
            if "path" in pax:
                name = pax["path"].decode("utf-8", "surrogateescape")
            if "size" in pax:
                if not pax["size"].isdigit():
                    raise _Corrupt("a pax header's size is not a number")
                size = int(pax["size"])
        long_name = pax = None
        if kind in _NO_DATA:
            yield name, None
            continue
        if max_size is not None and size > max_size:
            raise ValueError(f"{archive}: member {name} holds {size:,} bytes, more than the "
                             f"{max_size:,} its format allows")
        keep = kind in _REGULAR and want(name)
        data = _read(stream, size, keep)
        _read(stream, -size % _BLOCK, keep=False)
        yield name, data


_KIND_NAMES = {_PAX: "pax", _PAX_GLOBAL: "global pax", _GNU_LONG_NAME: "GNU long-name",
               _GNU_LONG_LINK: "GNU long-link"}


def _drain(archive, stream):
    """Read the rest of ``stream`` (which, for gzip, checks the CRC and the length)."""
    trailer = 0
    while chunk := stream.read(_CHUNK):
        trailer += len(chunk)
        if trailer > _MAX_TRAILER:
            raise ValueError(f"{archive}: more than {_MAX_TRAILER:,} bytes follow the end of "
                             "the tar archive")


def _corrupt(archive, error):
    return ValueError(f"{archive}: the archive is truncated or corrupt "
                      f"({type(error).__name__.lstrip('_')}: {error})")


def read_archive_members(archive, names, max_size=None, digest=None):
    """{basename: bytes} for the regular-file members of the tar ``archive`` (gzipped or not)
    whose basenames are in ``names``, read in one pass without extracting to disk. A member
    larger than ``max_size`` bytes, wanted or not, is refused before it is read, and so is a
    pax header or GNU long name of more than _MAX_EXTENDED_HEADER bytes, and an archive of more
    than _MAX_MEMBERS members. A truncated or corrupt archive (header checksums, and the gzip
    CRC and length, included), an oversized one, or one that lacks a name, raises ValueError
    naming it. ``digest`` (a hashlib object) is updated with every byte of the file."""
    found = {}

    def want(name):
        basename = name.rsplit("/", 1)[-1]
        return basename in names and basename not in found

    try:
        with open(archive, "rb") as file:
            stream = _open(file if digest is None else HashingReader(file, digest))
            for count, (name, data) in enumerate(_walk(stream, archive, max_size, want), 1):
                if count > _MAX_MEMBERS:
                    raise ValueError(f"{archive}: more than {_MAX_MEMBERS} members; not a "
                                     "dataset archive")
                if data is not None:
                    found[name.rsplit("/", 1)[-1]] = data
            _drain(archive, stream)
    except (_Corrupt, *_READ_ERRORS) as error:
        raise _corrupt(archive, error) from None
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValueError(f"{archive}: the archive does not hold {', '.join(missing)}")
    return found


def archive_top_folder(archive):
    """The folder named by the first member of the tar ``archive``."""
    try:
        with open(archive, "rb") as file:
            first = next(_walk(_open(file), archive, None, lambda name: False), None)
    except (_Corrupt, *_READ_ERRORS) as error:
        raise _corrupt(archive, error) from None
    if first is None:
        raise ValueError(f"{archive}: the archive is empty")
    return first[0].lstrip("./").split("/", 1)[0]
