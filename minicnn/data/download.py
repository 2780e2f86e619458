"""Download the official dataset files, check their published MD5, and put them in place
atomically.

A file is fetched into a temporary file in the target folder, checked, and only then renamed
(os.replace) to its final name; an archive's members are written to a temporary folder that is
renamed into place the same way. So an interrupted or corrupt download never leaves a file or a
folder that looks complete. Without network access the first connection fails within
``TIMEOUT`` seconds with a message that says where to put the files by hand.

The dataset classes hold their base URL in a ``mirror`` class attribute (e.g.
``CIFAR10.mirror``); point it elsewhere to use another mirror or a local server.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from minicnn.data.archive import read_archive_members

TIMEOUT = 10.0  # seconds for connecting and for each read
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed (no network, an HTTP error, a short body or a wrong checksum)."""


def _progress(name, done, total, started, stream):
    elapsed = max(time.monotonic() - started, 1e-9)
    rate = done / elapsed / 1e6
    if total:
        bar = "#" * int(30 * done / total)
        stream.write(f"\r{name}: [{bar:<30}] {100 * done / total:5.1f}% "
                     f"{done / 1e6:.1f}/{total / 1e6:.1f} MB {rate:.1f} MB/s")
    else:
        stream.write(f"\r{name}: {done / 1e6:.1f} MB {rate:.1f} MB/s")
    stream.flush()


def download_file(url, path, md5, hint="", timeout=None, stream=None):
    """Fetch ``url`` to ``path`` (atomically), with a progress bar on ``stream`` (stderr), and
    check that its MD5 is ``md5``. Raises DownloadError, whose message ends with ``hint``."""
    path = Path(path)
    stream = sys.stderr if stream is None else stream
    timeout = TIMEOUT if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-",
                                             suffix="-" + path.name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            digest = _fetch(url, file, path.name, timeout, stream, hint)
        if digest != md5:
            raise DownloadError(f"{url}: checksum mismatch (MD5 {digest}, expected {md5}); "
                                f"the file was not kept. {hint}")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _fetch(url, file, name, timeout, stream, hint):
    """Copy the body at ``url`` into ``file``; returns its MD5 hex digest."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done, started = 0, time.monotonic()
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                file.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                _progress(name, done, total, started, stream)
            stream.write("\n")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"could not download {url} ({reason}). {hint}") from None
    if total and done != total:
        raise DownloadError(f"{url}: the download stopped after {done} of {total} bytes. {hint}")
    return digest.hexdigest()


def download_and_extract(url, root, archive_name, md5, folder, members, hint=""):
    """Download the tar archive at ``url`` into ``root/archive_name`` (MD5 ``md5``), then
    write its ``members`` (basenames) into ``root/folder``: into a temporary folder first,
    renamed into place when every member is written. Returns the folder."""
    root = Path(root)
    archive = root / archive_name
    if not archive.is_file():
        download_file(url, archive, md5, hint=hint)
    contents = read_archive_members(archive, set(members))
    target = root / folder
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".partial-{folder}-"))
    try:
        for name, data in contents.items():
            with open(staging / name, "wb") as file:
                file.write(data)
        os.chmod(staging, 0o755)
        if target.exists():
            raise DownloadError(f"{target} exists but is incomplete; remove it and retry")
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
