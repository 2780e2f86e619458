"""download=True against a local HTTP server on 127.0.0.1 (never the real network): the
official archive format, published-checksum checks, interrupted downloads and no network."""

import gzip
import hashlib
import http.server
import io
import socket
import struct
import tarfile
import threading

import numpy as np
import pytest

from minicnn.data import CIFAR10, MNIST, DownloadError
from minicnn.data import download as download_module

RECORD = 3073


def cifar10_binary_archive(rng, per_batch=4):
    """A small cifar-10-binary.tar.gz in the official layout, and the test split it holds."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for name in names:
            records = rng.integers(0, 256, size=(per_batch, RECORD), dtype=np.uint8)
            records[:, 0] %= 10
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = records.nbytes
            tar.addfile(info, io.BytesIO(records.tobytes()))
        meta = "\n".join(f"class_{i}" for i in range(10)).encode()
        info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return buffer.getvalue(), records


class Server:
    """Serves ``files`` ({url path: bytes}); ``truncate`` sends half of each body after a full
    Content-Length and closes the connection. Counts the requests."""

    def __init__(self, files):
        self.files = files
        self.truncate = False
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if server.truncate else body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def cifar_server(monkeypatch, rng):
    archive, test_records = cifar10_binary_archive(rng)
    server = Server({"/cifar-10-binary.tar.gz": archive})
    monkeypatch.setattr(CIFAR10, "mirror", server.url)
    monkeypatch.setattr(CIFAR10.releases[0], "md5", hashlib.md5(archive).hexdigest())
    yield server, test_records
    server.close()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cifar10_download_extracts_and_loads(tmp_path, cifar_server, capsys):
    server, test_records = cifar_server
    ds = CIFAR10(tmp_path / "data", train=False, download=True)
    np.testing.assert_array_equal(ds.labels, test_records[:, 0])
    np.testing.assert_array_equal(ds.images.reshape(len(ds), -1), test_records[:, 1:])
    assert ds.classes[3] == "class_3"
    assert leftovers(tmp_path / "data") == ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]
    assert len(leftovers(tmp_path / "data" / "cifar-10-batches-bin")) == 7
    assert "100.0%" in capsys.readouterr().err  # the progress bar went to stderr
    CIFAR10(tmp_path / "data", train=True, download=True)
    assert server.requests == 1  # already there: not fetched again


def test_checksum_mismatch_is_refused(tmp_path, cifar_server, monkeypatch):
    monkeypatch.setattr(CIFAR10.releases[0], "md5", "0" * 32)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        CIFAR10(tmp_path, download=True)
    assert leftovers(tmp_path) == []


def test_interrupted_download_leaves_nothing_complete_looking(tmp_path, cifar_server):
    server, _ = cifar_server
    server.truncate = True
    with pytest.raises(DownloadError, match="stopped after"):
        CIFAR10(tmp_path, download=True)
    assert leftovers(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        CIFAR10(tmp_path)


def test_offline_fails_at_once_with_where_to_put_the_files(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port that nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(CIFAR10, "mirror", f"http://127.0.0.1:{port}/")
    with pytest.raises(DownloadError) as error:
        CIFAR10(tmp_path, download=True)
    message = str(error.value)
    assert "could not download" in message and "refused" in message.lower()
    assert "cifar-10-binary.tar.gz" in message and str(tmp_path) in message
    assert leftovers(tmp_path) == []


def test_mnist_download(tmp_path, rng, monkeypatch):
    files, resources, expected = {}, [], {}
    for prefix, count in (("train", 6), ("t10k", 3)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        expected[prefix] = images, labels
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = struct.pack(">I", 0x0800 | array.ndim) + \
                struct.pack(f">{array.ndim}I", *array.shape)
            body = gzip.compress(header + array.tobytes())
            name = f"{prefix}-{kind}-ubyte.gz"
            files["/" + name] = body
            resources.append((name, hashlib.md5(body).hexdigest()))
    server = Server(files)
    try:
        monkeypatch.setattr(MNIST, "mirror", server.url)
        monkeypatch.setattr(MNIST, "resources", resources)
        ds = MNIST(tmp_path, train=False, download=True)
        np.testing.assert_array_equal(ds.images[:, 0], expected["t10k"][0])
        np.testing.assert_array_equal(ds.labels, expected["t10k"][1])
        assert server.requests == 4
        MNIST(tmp_path, train=True, download=True)
        assert server.requests == 4
    finally:
        server.close()


def test_download_file_writes_atomically(tmp_path):
    server = Server({"/blob": b"x" * 1000})
    try:
        url = server.url + "blob"
        target = download_module.download_file(url, tmp_path / "blob",
                                               hashlib.md5(b"x" * 1000).hexdigest(),
                                               stream=io.StringIO())
        assert target.read_bytes() == b"x" * 1000
        server.truncate = True
        with pytest.raises(DownloadError):
            download_module.download_file(url, tmp_path / "other", "0" * 32, stream=io.StringIO())
        assert leftovers(tmp_path) == ["blob"]
    finally:
        server.close()


def test_download_when_root_names_the_archive(tmp_path, cifar_server):
    ds = CIFAR10(tmp_path / "cifar-10-binary.tar.gz", train=False, download=True)
    assert len(ds) == 4
    assert leftovers(tmp_path) == ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]
