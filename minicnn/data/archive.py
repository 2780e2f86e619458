"""Reading tar archives member by member, without extracting them to disk.

A gzipped archive is read through ``gzip.GzipFile``, to its very end: the gzip trailer holds the
CRC-32 and the length of the whole stream, and only a read that reaches it checks them
(tarfile's own stream reader never does), so a flipped bit or a cut-off tail is an error
instead of changed pixels.
"""

import gzip
import tarfile
import zlib

_GZIP_SIGNATURE = b"\x1f\x8b"
_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)
_CHUNK = 1 << 16
# tar pads its end with zero blocks up to a whole record (10 KiB by default; writers may use
# larger records): more than this after the end-of-archive marker is not a tar archive
_MAX_TRAILER = 1 << 20
# a dataset archive holds a few files; tarfile keeps every member's header in memory
_MAX_MEMBERS = 1000


def _open(file):
    """The stream tarfile reads of ``file``: through GzipFile when it starts as gzip does."""
    if file.read(2) == _GZIP_SIGNATURE:
        file.seek(0)
        return gzip.GzipFile(fileobj=file, mode="rb")
    file.seek(0)
    return file


def _drain(archive, stream):
    """Read the rest of ``stream`` (which, for gzip, checks the CRC and the length)."""
    trailer = 0
    while chunk := stream.read(_CHUNK):
        trailer += len(chunk)
        if trailer > _MAX_TRAILER:
            raise ValueError(f"{archive}: more than {_MAX_TRAILER:,} bytes follow the end of "
                             "the tar archive")


def read_archive_members(archive, names, max_size=None):
    """{basename: bytes} for the regular-file members of the tar ``archive`` whose basenames
    are in ``names``, read in one pass without extracting to disk. A member larger than
    ``max_size`` bytes, wanted or not, is refused before it is read, and so is an archive of
    more than _MAX_MEMBERS members. A truncated or corrupt archive (gzip CRC and length
    included), an oversized one, or one that lacks a name, raises ValueError naming it."""
    found = {}
    try:
        with open(archive, "rb") as file:
            stream = _open(file)
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for count, member in enumerate(tar, 1):
                    if count > _MAX_MEMBERS:
                        raise ValueError(f"{archive}: more than {_MAX_MEMBERS} members; not a "
                                         "dataset archive")
                    if max_size is not None and member.size > max_size:
                        raise ValueError(f"{archive}: member {member.name} holds "
                                         f"{member.size:,} bytes, more than the "
                                         f"{max_size:,} its format allows")
                    basename = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and basename in names and basename not in found:
                        found[basename] = tar.extractfile(member).read()
            _drain(archive, stream)
    except _READ_ERRORS as error:
        raise ValueError(f"{archive}: the archive is truncated or corrupt "
                         f"({type(error).__name__}: {error})") from None
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValueError(f"{archive}: the archive does not hold {', '.join(missing)}")
    return found


def archive_top_folder(archive):
    """The folder named by the first member of the tar ``archive``."""
    try:
        with open(archive, "rb") as file, tarfile.open(fileobj=_open(file),
                                                       mode="r|*") as tar:
            first = tar.next()
    except _READ_ERRORS as error:
        raise ValueError(f"{archive}: the archive is truncated or corrupt "
                         f"({type(error).__name__}: {error})") from None
    if first is None:
        raise ValueError(f"{archive}: the archive is empty")
    return first.name.lstrip("./").split("/", 1)[0]
