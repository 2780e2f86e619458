"""Are these the official dataset files? The published MD5 of each official file, checked the
first time a file is used (not only on download).

The loaders hash a file's bytes as they read them (``HashingReader``), so the check costs no
second pass over the file, and its verdict is kept for the process, keyed by the file's path,
size and modification time: a file that two splits read is hashed once and warned about once.
A mismatch is a NotOfficialWarning, one line naming the file and saying what differs. A file
that loads but is not the official one is not an error: a re-encoded copy (such as a CIFAR-10
decoded from JPEG files) is a fine dataset, but results on it are not comparable with
published ones, and a copy damaged in a few bytes loads wrong pixels without any other sign.

What is checked against what:
- an archive holding a CIFAR release (any name, gzipped or plain tar): the published MD5 of
  the release's official ``.tar.gz``;
- the members of the python releases (in an archive that is not the official one, or in the
  extracted folder): their MD5 as published by torchvision, so a plain tar or a re-compressed
  archive of the official files passes and a changed batch is named;
- MNIST and Fashion-MNIST ``.gz`` files: their published MD5.
The binary releases' members, and IDX files that are not gzipped, have no published checksum:
an extracted folder or a plain tar of the binary release is reported as unverifiable when it
is an archive, and read unchecked when it is a folder.

Sources: the MD5s are those of the dataset pages (https://www.cs.toronto.edu/~kriz/cifar.html,
http://yann.lecun.com/exdb/mnist/, https://github.com/zalandoresearch/fashion-mnist) as listed in
torchvision/datasets/cifar.py and mnist.py, which also give the python members' MD5s; the sizes
are those of the official files.
"""

import hashlib
import os
import warnings

# the bytes of each official file, by its MD5: a copy of another size was re-encoded or cut,
# one of the same size was changed in place
OFFICIAL_SIZES = {
    "c32a1d4ab5d03f1284b67883e8d87530": 170_052_171,   # cifar-10-binary.tar.gz
    "c58f30108f718f92721af3b95e74349a": 170_498_071,   # cifar-10-python.tar.gz
    "03b5dce01913d631647c71ecec9e9cb8": 168_513_733,   # cifar-100-binary.tar.gz
    "eb9058c3a382ffc7106e4002c42a8d85": 169_001_437,   # cifar-100-python.tar.gz
    "f68b3c2dcbeaaa9fbdd348bbdeb94873": 9_912_422,     # MNIST train-images-idx3-ubyte.gz
    "d53e105ee54ea40749a09fcbcd1e9432": 28_881,        # MNIST train-labels-idx1-ubyte.gz
    "9fb629c4189551a2d022fa330f9573f3": 1_648_877,     # MNIST t10k-images-idx3-ubyte.gz
    "ec29112dd5afa0611ce80d1b7f02629c": 4_542,         # MNIST t10k-labels-idx1-ubyte.gz
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d": 26_421_880,    # Fashion-MNIST train-images
    "25c81989df183df01b3e8a0aad5dffbe": 29_515,        # Fashion-MNIST train-labels
    "bef4ecab320f06d8554ea6380940ec79": 4_422_102,     # Fashion-MNIST t10k-images
    "bb300cfdad3c16e7a12a480ee83cd310": 5_148,         # Fashion-MNIST t10k-labels
}

# the python releases' members, as torchvision lists them
MEMBER_MD5 = {
    "cifar-10-batches-py": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    },
    "cifar-100-python": {
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
        "meta": "7973b15100ade9c7d40fb424638fde48",
    },
}


class NotOfficialWarning(UserWarning):
    """A dataset file loads but is not the official one (see the module docstring)."""


class HashingReader:
    """A binary file object that updates ``digest`` (a hashlib object) with every byte read
    through it, so a loader hashes the file as it reads it."""

    def __init__(self, file, digest):
        self.file, self.digest = file, digest

    def read(self, size=-1):
        data = self.file.read(size)
        self.digest.update(data)
        return data


def md5():
    return hashlib.md5(usedforsecurity=False)


# the verdicts of this process: {(path, size, mtime_ns): warning message or None}
_verdicts = {}


def _key(path):
    status = os.stat(path)
    return os.path.realpath(path), status.st_size, status.st_mtime_ns


def known(path):
    """Whether ``path``, as it is now, already has a verdict in this process."""
    return _key(path) in _verdicts


def record(path, message):
    """Keep the verdict on ``path``: None when it is official, else the warning to give, which
    is given now (once per file, as it is, in a process)."""
    key = _key(path)
    if key in _verdicts:
        return
    _verdicts[key] = message
    if message is not None:
        warnings.warn(message, NotOfficialWarning, stacklevel=3)


def differs(digest, official, size):
    """What differs between a file of ``size`` bytes and MD5 ``digest`` and the official file
    of MD5 ``official``, in a phrase; None when they are the same."""
    if digest == official:
        return None
    official_size = OFFICIAL_SIZES.get(official)
    if size == official_size:
        what = "the same size as the official file, so bytes in it were changed: a damaged " \
               "or modified copy"
    else:
        what = (f"{size:,} bytes where the official file has {official_size:,}: a re-encoded "
                "or modified copy")
    return f"MD5 {digest}, not the published {official}; {what}"


def check_members(members, folder):
    """Phrases for the members (``{name: bytes}``) of the python release ``folder`` that differ
    from the official ones; [] when all match or the release publishes no member MD5s."""
    published = MEMBER_MD5.get(folder, {})
    return [f"{folder}/{name} differs from the official release's (MD5 {digest})"
            for name, data in sorted(members.items()) if name in published
            for digest in [hashlib.md5(data, usedforsecurity=False).hexdigest()]
            if digest != published[name]]
