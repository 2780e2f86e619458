"""Reading tar archives member by member, without extracting them to disk."""

import tarfile
import zlib

_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)


def read_archive_members(archive, names):
    """{basename: bytes} for the regular-file members of the tar ``archive`` whose basenames
    are in ``names``, read in one pass without extracting to disk. A truncated or corrupt
    archive, or one that lacks a name, raises ValueError naming the archive."""
    found = {}
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                basename = member.name.rsplit("/", 1)[-1]
                if member.isfile() and basename in names and basename not in found:
                    found[basename] = tar.extractfile(member).read()
                    if len(found) == len(names):
                        break
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
        with tarfile.open(archive, mode="r|*") as tar:
            first = tar.next()
    except _READ_ERRORS as error:
        raise ValueError(f"{archive}: the archive is truncated or corrupt "
                         f"({type(error).__name__}: {error})") from None
    if first is None:
        raise ValueError(f"{archive}: the archive is empty")
    return first.name.lstrip("./").split("/", 1)[0]
