"""Tests for helpers.mnist: IDX parsing, checksums, the folder/cache/download order, the CLI and the npz cache.

Most tests use tiny IDX files written to tmp_path (with REGISTRY patched to their checksums) and a
local HTTP server on 127.0.0.1; the last ones use the official files if they are available.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from helpers import mnist
from helpers.mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS

REPO = Path(__file__).resolve().parents[1]
# Read before any fixture clears MNIST_DIR: it says where the official files are.
REAL_DIR = Path(os.environ.get("MNIST_DIR") or REPO.parent / "shared" / "mnist")
NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def has_files(folder: Path) -> bool:
    """Return True if ``folder`` holds all four MNIST files (raw or gzipped)."""
    return all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in NAMES)


needs_real = pytest.mark.skipif(
    not has_files(REAL_DIR),
    reason=f"official MNIST files not found in {REAL_DIR} (set MNIST_DIR to the folder holding them)",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Return ``array`` encoded as an uint8 IDX file."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def sha256(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def write(folder: Path, payloads: dict[str, bytes], gz: bool = True) -> dict[str, Path]:
    """Return the paths of ``payloads`` written into ``folder`` (gzipped or raw)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in payloads.items():
        path = folder / (f"{name}.gz" if gz else name)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        paths[name] = path
    return paths


def closed_port_url() -> str:
    """Return an http URL on 127.0.0.1 where nothing listens (connection refused, like no network)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def listing(folder: Path) -> set[str]:
    """Return every file and folder name under ``folder``, relative to it."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Return a fresh cache folder; no test reads MNIST_DIR, the user's cache or the internet by accident."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MNIST_CACHE", str(cache))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist, "MIRRORS", [closed_port_url()])
    # A proxy from the environment must not intercept requests to the local test server.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return cache


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Return small MNIST-like arrays (5 train, 3 test images) and point REGISTRY at their checksums."""
    rng = np.random.default_rng(8)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: np.array([5, 0, 4, 1, 9], np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        TEST_LABELS: np.array([7, 2, 1], np.uint8),
    }
    monkeypatch.setattr(mnist, "REGISTRY", {n: sha256(idx_bytes(a)) for n, a in arrays.items()})
    return arrays


@pytest.fixture
def payloads(tiny: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Return the IDX bytes of the tiny arrays."""
    return {name: idx_bytes(a) for name, a in tiny.items()}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """Return (served folder, base URL, request log) of an HTTP server on 127.0.0.1 living for one test."""
    root = tmp_path / "www"
    root.mkdir()
    log: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            # /broken/...: promise a big body, send a few bytes, hang up (a download cut midway).
            if self.path.startswith("/broken/"):
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + b"x" * 100)
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.append(f"{int(code) if isinstance(code, HTTPStatus) else code} {self.path}")

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    # Safety net: the server stops by itself even if the teardown below never runs.
    timer = threading.Timer(120, httpd.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_port}", log
    finally:
        timer.cancel()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# ---------------------------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_read_idx_reads_gz_and_raw(tmp_path: Path, tiny: dict[str, np.ndarray], gz: bool) -> None:
    paths = write(tmp_path / "d", {n: idx_bytes(a) for n, a in tiny.items()}, gz=gz)
    images = mnist.read_idx(paths[TRAIN_IMAGES], ndim=3)
    labels = mnist.read_idx(paths[TRAIN_LABELS])
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28)
    np.testing.assert_array_equal(images, tiny[TRAIN_IMAGES])
    np.testing.assert_array_equal(labels, [5, 0, 4, 1, 9])
    assert images.flags.writeable


def test_read_idx_detects_gzip_by_content_not_name(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    path = tmp_path / f"{TRAIN_LABELS}.gz"
    path.write_bytes(idx_bytes(tiny[TRAIN_LABELS]))  # already un-gzipped, e.g. by a browser
    np.testing.assert_array_equal(mnist.read_idx(path), tiny[TRAIN_LABELS])


@pytest.mark.parametrize(
    "header",
    [b"\x00\x00\x09\x03", b"\x08\x03\x00\x00", b"\x00\x00\x08\x01"],
    ids=["int8-type", "garbage", "labels-as-images"],
)
def test_read_idx_rejects_wrong_magic(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(header + struct.pack(">III", 1, 28, 28) + bytes(784))
    with pytest.raises(mnist.IdxFormatError, match="magic number") as info:
        mnist.read_idx(path, ndim=3)
    assert str(path) in str(info.value)
    assert "0x00000803" in str(info.value)


def test_read_idx_rejects_truncated_and_too_long(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    data = idx_bytes(tiny[TRAIN_IMAGES])
    short, long_ = tmp_path / "short.gz", tmp_path / "long"
    short.write_bytes(gzip.compress(data[:-10]))
    long_.write_bytes(data + b"\x00" * 7)
    with pytest.raises(mnist.IdxFormatError, match="truncated") as info:
        mnist.read_idx(short)
    assert str(short) in str(info.value) and "only 3910 bytes" in str(info.value)
    with pytest.raises(mnist.IdxFormatError, match="7 extra bytes") as info:
        mnist.read_idx(long_)
    assert str(long_) in str(info.value)


def test_read_idx_rejects_cut_gzip_stream(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(tiny[TRAIN_IMAGES]))[:200])
    with pytest.raises(mnist.IdxFormatError, match="gzip") as info:
        mnist.read_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------------
# load_data from MNIST_DIR and the cache


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_load_data_from_mnist_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes], tiny: dict[str, np.ndarray], gz: bool
) -> None:
    write(tmp_path / "data", payloads, gz=gz)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, tiny[TRAIN_IMAGES])
    np.testing.assert_array_equal(y_train, [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(x_test, tiny[TEST_IMAGES])
    np.testing.assert_array_equal(y_test, [7, 2, 1])
    assert all(a.dtype == np.uint8 and a.flags.writeable for a in (x_train, y_train, x_test, y_test))


def test_count_mismatch_names_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes]
) -> None:
    payloads[TRAIN_LABELS] = idx_bytes(np.array([5, 0, 4, 1], np.uint8))
    mnist.REGISTRY[TRAIN_LABELS] = sha256(payloads[TRAIN_LABELS])
    paths = write(tmp_path / "data", payloads)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    with pytest.raises(mnist.IdxFormatError, match="5 images") as info:
        mnist.load_data()
    assert str(paths[TRAIN_IMAGES]) in str(info.value)
    assert str(paths[TRAIN_LABELS]) in str(info.value)


def test_checksum_mismatch_in_mnist_dir_reports_and_keeps_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes]
) -> None:
    good = mnist.REGISTRY[TEST_LABELS]
    payloads[TEST_LABELS] = idx_bytes(np.array([7, 2, 2], np.uint8))  # well-formed but wrong data
    paths = write(tmp_path / "data", payloads)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    with pytest.raises(mnist.ChecksumError) as info:
        mnist.load_data()
    message = str(info.value)
    assert str(paths[TEST_LABELS]) in message
    assert good in message and sha256(payloads[TEST_LABELS]) in message
    assert paths[TEST_LABELS].exists(), "files in MNIST_DIR must never be deleted"


def test_checksum_mismatch_in_cache_deletes_bad_copy(
    isolated: Path, payloads: dict[str, bytes]
) -> None:
    expected = mnist.REGISTRY[TRAIN_IMAGES]
    bad = bytearray(payloads[TRAIN_IMAGES])
    bad[-1] ^= 0xFF
    payloads[TRAIN_IMAGES] = bytes(bad)
    paths = write(isolated, payloads)
    with pytest.raises(mnist.ChecksumError) as info:
        mnist.load_data()
    message = str(info.value)
    assert str(paths[TRAIN_IMAGES]) in message
    assert expected in message and sha256(bytes(bad)) in message
    assert not paths[TRAIN_IMAGES].exists(), "the bad cached copy must be deleted"
    assert all(paths[n].exists() for n in (TRAIN_LABELS, TEST_IMAGES, TEST_LABELS))


def test_missing_file_in_mnist_dir_is_reported_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes]
) -> None:
    del payloads[TEST_IMAGES]
    write(tmp_path / "data", payloads)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))

    def no_download(*args: object) -> None:
        raise AssertionError("must not download when MNIST_DIR is set")

    monkeypatch.setattr(mnist, "_download_one", no_download)
    with pytest.raises(mnist.MnistNotFoundError) as info:
        mnist.load_data()
    message = str(info.value)
    assert "MNIST_DIR" in message and TEST_IMAGES in message
    assert "python -m helpers.mnist download --dir" in message


def test_no_files_and_no_network_gives_clear_error(isolated: Path, tiny: dict[str, np.ndarray]) -> None:
    mirrors = [closed_port_url(), closed_port_url()]
    mnist.MIRRORS[:] = mirrors
    with pytest.raises(mnist.MnistNotFoundError) as info:
        mnist.load_data()
    message = str(info.value)
    assert "MNIST_DIR" in message
    assert "python -m helpers.mnist download --dir DIR" in message
    assert "no internet" in message and "Connection refused" in message
    assert all(f"{m}{TRAIN_IMAGES}.gz" in message for m in mirrors), "each mirror tried is listed"
    assert listing(isolated) == set(), "a failed download must leave no file behind"


def test_unwritable_cache_folder_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: dict[str, bytes]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("MNIST_CACHE", str(blocker / "cache"))
    write(tmp_path / "data", payloads)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    (x_train, _), _ = mnist.load_data()
    assert x_train.shape == (5, 28, 28)


# ---------------------------------------------------------------------------------------------
# Downloads from a local server


def test_download_skips_404_mirror_and_fills_cache(
    server: tuple[Path, str, list[str]], isolated: Path, payloads: dict[str, bytes], tiny: dict[str, np.ndarray]
) -> None:
    root, base, log = server
    write(root / "good", payloads)
    mnist.MIRRORS[:] = [f"{base}/missing/", f"{base}/good/"]
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, tiny[TRAIN_IMAGES])
    np.testing.assert_array_equal(y_test, [7, 2, 1])
    assert f"404 /missing/{TRAIN_IMAGES}.gz" in log and f"200 /good/{TRAIN_IMAGES}.gz" in log
    files = listing(isolated)
    assert {f"{n}.gz" for n in NAMES} <= files
    assert len(files) == 5 and sum(f.startswith("mnist-arrays-") for f in files) == 1, files
    for name in NAMES:  # what landed in the cache is exactly the verified payload
        assert sha256(gzip.decompress((isolated / f"{name}.gz").read_bytes())) == mnist.REGISTRY[name]


def test_corrupt_mirror_is_rejected_and_next_one_used(
    server: tuple[Path, str, list[str]], isolated: Path, payloads: dict[str, bytes]
) -> None:
    root, base, log = server
    write(root / "good", payloads)
    corrupt = dict(payloads)
    corrupt[TRAIN_LABELS] = idx_bytes(np.array([1, 1, 1, 1, 1], np.uint8))
    write(root / "corrupt", corrupt)
    mnist.MIRRORS[:] = [f"{base}/corrupt/", f"{base}/good/"]
    (_, y_train), _ = mnist.load_data()
    np.testing.assert_array_equal(y_train, [5, 0, 4, 1, 9])
    assert f"200 /corrupt/{TRAIN_LABELS}.gz" in log and f"200 /good/{TRAIN_LABELS}.gz" in log
    assert len(listing(isolated)) == 5, listing(isolated)


def test_all_mirrors_bad_leaves_nothing_behind(
    server: tuple[Path, str, list[str]], isolated: Path, payloads: dict[str, bytes]
) -> None:
    root, base, _ = server
    write(root / "corrupt", {n: p + b"\x00" for n, p in payloads.items()})
    mnist.MIRRORS[:] = [f"{base}/broken/", f"{base}/corrupt/"]
    with pytest.raises(mnist.MnistNotFoundError) as info:
        mnist.load_data()
    message = str(info.value)
    assert "/broken/" in message and "/corrupt/" in message and "rejected" in message
    assert listing(isolated) == set(), "a failed download must leave no file behind"


def test_cut_download_is_retried_on_next_mirror(
    server: tuple[Path, str, list[str]], isolated: Path, payloads: dict[str, bytes]
) -> None:
    root, base, log = server
    write(root / "good", payloads)
    mnist.MIRRORS[:] = [f"{base}/broken/", f"{base}/good/"]
    (x_train, _), _ = mnist.load_data()
    assert x_train.shape == (5, 28, 28)
    assert f"200 /broken/{TRAIN_IMAGES}.gz" in log
    assert len(listing(isolated)) == 5, listing(isolated)


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_download_then_verify(
    server: tuple[Path, str, list[str]], tmp_path: Path, payloads: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    root, base, _ = server
    write(root / "good", payloads)
    mnist.MIRRORS[:] = [f"{base}/good/"]
    target = tmp_path / "class-data"
    assert mnist.main(["download", "--dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert listing(target) == {f"{n}.gz" for n in NAMES}
    assert out.count("downloaded, verified") == 4 and f"export MNIST_DIR={target}" in out

    assert mnist.main(["download", "--dir", str(target)]) == 0  # second run: nothing to fetch
    assert capsys.readouterr().out.count("already there, verified") == 4

    assert mnist.main(["verify", "--dir", str(target)]) == 0
    assert capsys.readouterr().out.count("OK ") == 4

    (target / f"{TEST_LABELS}.gz").write_bytes(gzip.compress(idx_bytes(np.array([0, 0, 0], np.uint8))))
    assert mnist.main(["verify", "--dir", str(target)]) == 1
    err = capsys.readouterr().err
    assert "Checksum mismatch" in err and TEST_LABELS in err
    assert (target / f"{TEST_LABELS}.gz").exists(), "verify must only report"


def test_cli_verify_reports_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert mnist.main(["verify", "--dir", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert all(f"{n}(.gz) is missing" in err for n in NAMES)


# ---------------------------------------------------------------------------------------------
# The npz cache


def test_npz_cache_is_used_the_second_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path, payloads: dict[str, bytes], tiny: dict[str, np.ndarray]
) -> None:
    write(tmp_path / "data", payloads)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    (first, _), _ = mnist.load_data()
    assert len(list(isolated.glob("mnist-arrays-*.npz"))) == 1
    first[0, 0, 0] ^= 0xFF  # callers may modify what they got; the cache must not change

    def no_read(path: Path) -> bytes:
        raise AssertionError(f"source file {path} read although the npz cache is valid")

    monkeypatch.setattr(mnist, "_read_payload", no_read)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, tiny[TRAIN_IMAGES])
    np.testing.assert_array_equal(y_test, [7, 2, 1])
    assert x_train.flags.writeable and x_train.dtype == np.uint8
    assert [p.name for p in isolated.iterdir() if p.name.endswith(".tmp")] == []


def test_npz_cache_is_invalidated_when_a_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path, payloads: dict[str, bytes]
) -> None:
    paths = write(tmp_path / "data", payloads, gz=False)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    mnist.load_data()
    old_npz = set(isolated.glob("mnist-arrays-*.npz"))
    # Same size, different content, newer mtime: must be re-verified, not served from the npz.
    label_file = paths[TRAIN_LABELS]
    label_file.write_bytes(idx_bytes(np.array([5, 0, 4, 1, 8], np.uint8)))
    st = label_file.stat()
    os.utime(label_file, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with pytest.raises(mnist.ChecksumError, match=TRAIN_LABELS):
        mnist.load_data()
    # Put good data back (yet another mtime): loads again and replaces the old npz.
    label_file.write_bytes(payloads[TRAIN_LABELS])
    os.utime(label_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    (_, y_train), _ = mnist.load_data()
    np.testing.assert_array_equal(y_train, [5, 0, 4, 1, 9])
    new_npz = set(isolated.glob("mnist-arrays-*.npz"))
    assert len(new_npz) == 1 and new_npz != old_npz


def test_damaged_npz_falls_back_to_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path, payloads: dict[str, bytes]
) -> None:
    write(tmp_path / "data", payloads)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "data"))
    mnist.load_data()
    (npz,) = isolated.glob("mnist-arrays-*.npz")
    npz.write_bytes(npz.read_bytes()[:100])
    (_, y_train), _ = mnist.load_data()
    np.testing.assert_array_equal(y_train, [5, 0, 4, 1, 9])
    assert npz.stat().st_size > 100, "the damaged npz should have been rewritten"


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    cache = tmp_path / "never-created"
    code = "import helpers.mnist"
    env = {**os.environ, "MNIST_CACHE": str(cache)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not cache.exists()


# ---------------------------------------------------------------------------------------------
# The official files


@needs_real
def test_real_mnist(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setenv("MNIST_DIR", str(REAL_DIR))
    for attempt in ("cold", "warm"):  # the second call comes from the npz cache
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,), attempt
        assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,), attempt
        assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
        assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
        assert y_test[:5].tolist() == [7, 2, 1, 0, 4]
        assert x_train.max() == 255 and y_train.max() == 9
        assert x_train.flags.writeable
    assert len(list(isolated.glob("mnist-arrays-*.npz"))) == 1


@needs_real
def test_real_mnist_checksums_via_cli(tmp_path: Path) -> None:
    env = {**os.environ, "MNIST_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "helpers.mnist", "verify", "--dir", str(REAL_DIR)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("OK ") == 4 and "match their SHA-256" in result.stdout
