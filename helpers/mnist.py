"""MNIST as NumPy arrays without Keras: ``load_data()`` replaces ``keras.datasets.mnist.load_data()``.

    from helpers.mnist import load_data
    (x_train, y_train), (x_test, y_test) = load_data()   # uint8, (60000, 28, 28) (60000,) ...

Where the four IDX files come from (the first rule that applies wins):

1. ``MNIST_DIR``: if this environment variable is set, the files are read from that folder and
   nothing is ever downloaded. Both gzipped (``train-images-idx3-ubyte.gz``) and uncompressed
   (``train-images-idx3-ubyte``) names are accepted. Files there are never changed or deleted.
   Use it for offline classrooms and CI.
2. The cache folder: ``MNIST_CACHE`` if set, else ``pooch.os_cache("grokking-ch8-lab")``
   (``~/.cache/grokking-ch8-lab`` on Linux; ``cache_dir()`` tells you where it is on your machine).
3. A download into the cache folder on first use, trying each URL prefix in ``MIRRORS`` in turn.

Every file is checked against the SHA-256 of its *decompressed* payload (``REGISTRY``): mirrors
gzip the same data differently, so hashes of the ``.gz`` files would not agree. A bad copy in the
cache is deleted (the next call downloads it again); a bad copy in ``MNIST_DIR`` is only reported.

After the first load, the parsed arrays are kept in the cache folder as an uncompressed
``mnist-arrays-<key>.npz``, keyed by the expected checksums and each source file's path, size and
modification time, so later loads skip decompressing and hashing (a changed file is re-verified).
If the cache folder is not writable this speed-up is silently skipped. The returned arrays are
ordinary writable arrays (not views of a memory map), so notebooks may modify them freely.

Command line, e.g. to prepare an offline classroom:

    python -m helpers.mnist download --dir DIR   # fetch and verify the four files into DIR
    export MNIST_DIR=DIR                         # from then on load_data() reads them from DIR
    python -m helpers.mnist verify --dir DIR     # check the files in a folder
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import logging
import math
import mmap
import os
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "MIRRORS",
    "REGISTRY",
    "ChecksumError",
    "IdxFormatError",
    "MnistError",
    "MnistNotFoundError",
    "cache_dir",
    "download",
    "load_data",
    "local_files",
    "read_idx",
    "verified_unchanged",
    "verify",
]

CACHE_NAME = "grokking-ch8-lab"

# URL prefixes tried in order; each serves "<name>.gz". The last one is the original site: it is
# often slow or refuses downloads, and plain http is acceptable only because every file is hashed.
MIRRORS: list[str] = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

# SHA-256 of each decompressed IDX payload (the published checksums of the official files).
REGISTRY: dict[str, str] = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
_PAIRS = ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS))
_IMAGE_SIZE = (28, 28)
_UINT8 = 0x08  # IDX type code for unsigned bytes, the only type MNIST uses
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # same order as _FILES
_NPZ_VERSION = "1"  # bump if the npz layout changes, so old caches are ignored
_DOWNLOAD_TIMEOUT_S = 30  # per connect/read; a stalled mirror must not hang a notebook forever
_DOWNLOAD_COMMAND = "python -m helpers.mnist download --dir DIR"

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class MnistError(RuntimeError):
    """Any problem finding, downloading or reading the MNIST files."""


class IdxFormatError(MnistError):
    """A file is not a well-formed uint8 IDX file, or the image and label files do not match."""


class ChecksumError(MnistError):
    """A file's decompressed payload does not have the expected SHA-256."""


class MnistNotFoundError(MnistError):
    """The files are neither where they should be nor downloadable."""


# ---------------------------------------------------------------------------------------------
# Reading and checking one file


def _ndim_of(name: str) -> int:
    """Return how many dimensions the MNIST file ``name`` has (3 for images, 1 for labels)."""
    return 3 if "images" in name else 1


def _read_payload(path: Path) -> bytes:
    """Return the bytes of ``path``, decompressed if it is gzipped."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MnistError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    # Decide by content, not by name: browsers and some servers silently un-gzip a ".gz" download.
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise IdxFormatError(
                f"{path} is not a valid gzip file, probably truncated or corrupt ({exc})."
            ) from exc
    return data


def _parse_idx(data: bytes, path: Path, ndim: int | None = None) -> np.ndarray:
    """Return the uint8 array held in the IDX bytes ``data`` (read from ``path``, named in errors)."""
    if len(data) < 4:
        raise IdxFormatError(f"{path} is too short to be an IDX file ({len(data)} bytes).")
    zeros, type_code, file_ndim = struct.unpack(">HBB", data[:4])
    if zeros != 0 or type_code != _UINT8 or file_ndim == 0 or ndim not in (None, file_ndim):
        magic = int.from_bytes(data[:4], "big")
        want = f"0x{0x800 + ndim:08x}" if ndim else "0x000008NN (uint8 data)"
        raise IdxFormatError(
            f"{path} has magic number 0x{magic:08x}, expected {want}: "
            "it is not the MNIST IDX file it should be."
        )
    header = 4 + 4 * file_ndim
    if len(data) < header:
        raise IdxFormatError(f"{path} is truncated: its header is cut off after {len(data)} bytes.")
    dims = struct.unpack(f">{file_ndim}I", data[4:header])
    expected, actual = math.prod(dims), len(data) - header
    if actual < expected:
        raise IdxFormatError(
            f"{path} is truncated: its header announces shape {dims} = {expected} bytes of data, "
            f"but only {actual} bytes follow."
        )
    if actual > expected:
        raise IdxFormatError(
            f"{path} is too long: its header announces shape {dims} = {expected} bytes of data, "
            f"but {actual - expected} extra bytes follow."
        )
    # frombuffer over immutable bytes is read-only; the copy gives callers a normal writable array.
    return np.frombuffer(data, np.uint8, count=expected, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Return the uint8 array stored in an IDX file (gzipped or not), after checking header and length."""
    p = Path(path)
    return _parse_idx(_read_payload(p), p, ndim)


def _check_sha256(data: bytes, path: Path, name: str) -> None:
    """Return nothing if ``data`` hashes to REGISTRY[name], else raise ChecksumError."""
    expected = REGISTRY[name]
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"Checksum mismatch for {path} (SHA-256 of the decompressed data):\n"
            f"  expected {expected}\n"
            f"  actual   {actual}\n"
            "The file is damaged or is not the official MNIST file."
        )


def _load_file(path: Path, name: str, in_cache: bool) -> np.ndarray:
    """Return the verified array in ``path``; a bad file in the cache is deleted before raising."""
    try:
        data = _read_payload(path)
        _check_sha256(data, path, name)
        return _parse_idx(data, path, _ndim_of(name))
    except (ChecksumError, IdxFormatError) as exc:
        if in_cache:
            path.unlink(missing_ok=True)
            note = "The bad copy was deleted from the cache; run load_data() again to download it afresh."
        else:
            # Never delete outside our cache: MNIST_DIR may be shared or read-only.
            note = (
                "The file was left in place. Replace it with a good copy, for example by deleting "
                f"it and running: {_DOWNLOAD_COMMAND.replace('DIR', str(path.parent))}"
            )
        raise type(exc)(f"{exc}\n{note}") from None


def _find(folder: Path, name: str) -> Path | None:
    """Return the uncompressed or gzipped copy of ``name`` in ``folder``, or None if neither exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _check_pairs(arrays: dict[str, np.ndarray], paths: dict[str, Path]) -> None:
    """Return nothing if images are 28x28 and each image file has as many items as its label file."""
    for images, labels in _PAIRS:
        x, y = arrays[images], arrays[labels]
        if x.shape[1:] != _IMAGE_SIZE:
            raise IdxFormatError(f"{paths[images]} holds images of shape {x.shape[1:]}, expected 28x28.")
        if len(x) != len(y):
            raise IdxFormatError(
                f"Count mismatch: {paths[images]} has {len(x)} images but {paths[labels]} has "
                f"{len(y)} labels. The two files must come from the same MNIST release."
            )


# ---------------------------------------------------------------------------------------------
# Finding and downloading the files


def cache_dir() -> Path:
    """Return the cache folder: $MNIST_CACHE if set, else pooch.os_cache("grokking-ch8-lab")."""
    env = os.environ.get("MNIST_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    import pooch  # imported lazily so that importing this module stays cheap

    return Path(pooch.os_cache(CACHE_NAME))


def _mnist_dir() -> Path | None:
    """Return the folder named by $MNIST_DIR, or None when it is unset or empty."""
    env = os.environ.get("MNIST_DIR", "").strip()
    return Path(env).expanduser() if env else None


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's info lines while inside; its 'use this known_hash' advice does not apply here."""
    import pooch

    logger = pooch.get_logger()
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(old)


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """Return a short single-line description of ``exc`` for a list of failed mirrors."""
    # requests wraps the useful part ("Connection refused", "Name or service not known") in a
    # retry error; its .reason holds just that, so show it instead of the whole wrapper text.
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    text = " ".join(str(reason or exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_found_message(name: str, folder: Path, failures: list[str]) -> str:
    """Return the beginner-friendly explanation for a file that is neither cached nor downloadable."""
    tried = "\n".join(f"  - {f}" for f in failures) or "  (no mirrors configured)"
    return (
        f"Could not get the MNIST file '{name}'.\n"
        f"It is not in the cache folder {folder}\n"
        f"and downloading it failed from every mirror:\n{tried}\n"
        "This usually means this computer has no internet access.\n"
        "What to do:\n"
        "  1. On a computer with internet, run\n"
        f"         {_DOWNLOAD_COMMAND}\n"
        "     (DIR is any folder name, e.g. mnist_data). It saves and checks the four MNIST files.\n"
        "  2. Copy that folder to this computer and set the environment variable MNIST_DIR to it\n"
        "     before starting Jupyter:  export MNIST_DIR=/path/to/DIR\n"
        "     (Windows: set MNIST_DIR=C:\\path\\to\\DIR), or in the notebook's first cell:\n"
        '         import os; os.environ["MNIST_DIR"] = "/path/to/DIR"'
    )


def _download_one(name: str, folder: Path) -> Path:
    """Return the path of ``<name>.gz`` downloaded into ``folder`` and verified, trying each mirror."""
    import pooch

    target = folder / f"{name}.gz"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A private staging folder: whatever happens (error, bad hash, Ctrl-C), only a verified
        # file is ever moved to its final name, and the staging folder is removed afterwards.
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    except OSError as exc:
        raise MnistNotFoundError(
            _not_found_message(name, folder, [f"cannot write to the cache folder: {_one_line(exc)}"])
        ) from exc
    failures: list[str] = []
    try:
        for base in MIRRORS:
            url = base.rstrip("/") + "/" + target.name
            print(f"Downloading {target.name} from {url}", file=sys.stderr)
            try:
                with _quiet_pooch():
                    got = Path(
                        pooch.retrieve(
                            url,
                            known_hash=None,  # .gz hashes differ between mirrors; we hash the payload
                            fname=target.name,
                            path=staging,
                            downloader=pooch.HTTPDownloader(progressbar=True, timeout=_DOWNLOAD_TIMEOUT_S),
                        )
                    )
            except Exception as exc:  # any failure of one mirror (HTTP error, DNS, timeout) -> next one
                failures.append(f"{url}: {_one_line(exc)}")
                print(f"  failed: {_one_line(exc)}", file=sys.stderr)
                continue
            try:
                data = _read_payload(got)
                _check_sha256(data, got, name)
                _parse_idx(data, got, _ndim_of(name))
            except MnistError as exc:
                got.unlink(missing_ok=True)
                failures.append(f"{url}: downloaded file rejected: {_one_line(exc, 400)}")
                print("  rejected: the downloaded file is damaged (checksum mismatch)", file=sys.stderr)
                continue
            os.chmod(got, 0o644)  # the temp file is private (0600); the data is public
            os.replace(got, target)
            return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    raise MnistNotFoundError(_not_found_message(name, folder, failures))


def _locate() -> tuple[dict[str, Path], bool]:
    """Return the path of each of the four files and whether they live in (and may be fixed in) the cache."""
    folder = _mnist_dir()
    if folder is not None:
        paths = {name: _find(folder, name) for name in _FILES}
        missing = [name for name, path in paths.items() if path is None]
        if missing:
            lacking = ", ".join(f"{m}(.gz)" for m in missing)
            state = "does not exist" if not folder.is_dir() else f"lacks {lacking}"
            raise MnistNotFoundError(
                f"MNIST_DIR is set to {folder}, but that folder {state}.\n"
                "Nothing was downloaded, because MNIST_DIR means 'use the files in this folder'.\n"
                "To fix it, either fill the folder (needs internet):\n"
                f"    {_DOWNLOAD_COMMAND.replace('DIR', str(folder))}\n"
                "or unset MNIST_DIR so that load_data() downloads MNIST into its cache folder."
            )
        return {name: path for name, path in paths.items() if path is not None}, False
    folder = cache_dir()
    return {name: _find(folder, name) or _download_one(name, folder) for name in _FILES}, True


# ---------------------------------------------------------------------------------------------
# The npz cache of parsed arrays


def _npz_path(paths: dict[str, Path]) -> Path | None:
    """Return where the npz for these source files lives, or None if there is no usable cache folder."""
    digest = hashlib.sha256(_NPZ_VERSION.encode())
    try:
        for name in _FILES:
            st = paths[name].stat()
            # The expected checksums are part of the key, and so is each file's identity and
            # version: a replaced or edited source file gets a new key and is verified again.
            source = f"{paths[name].resolve()}|{st.st_size}|{st.st_mtime_ns}"
            digest.update(f"|{name}|{REGISTRY[name]}|{source}".encode())
        folder = cache_dir()
    except (OSError, ImportError):
        return None
    return folder / f"mnist-arrays-{digest.hexdigest()[:20]}.npz"


def _mapped_member(handle, zipped: zipfile.ZipFile, key: str, whole: mmap.mmap) -> np.ndarray:
    """Return the array ``key`` of an uncompressed npz as a view of the mapped file (copy-on-write)."""
    info = zipped.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError("compressed member")
    handle.seek(info.header_offset)
    local = handle.read(30)  # the zip's local file header: name and extra-field lengths at bytes 26-29
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(handle)
    if fortran or dtype.hasobject:
        raise ValueError("unexpected layout")
    count = math.prod(shape)
    return np.frombuffer(whole, dtype=dtype, count=count, offset=handle.tell()).reshape(shape)


def _read_npz(path: Path | None) -> Arrays | None:
    """Return the four arrays stored in the npz at ``path``, or None if it is absent or unusable.

    The arrays are mapped from the file, copy-on-write: nothing is read until it is used, the
    pages are shared by every notebook on the machine (autograding runs many at once), and
    writing into an array changes only this process's copy, never the cache.
    """
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as zipped:
            whole = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
            arrays = tuple(_mapped_member(handle, zipped, key, whole) for key in _NPZ_KEYS)
    except Exception:  # a damaged cache must never stop the lab: fall back to the source files
        return None
    x_train, y_train, x_test, y_test = arrays
    ok = all(a.dtype == np.uint8 for a in arrays) and all(
        x.ndim == 3 and y.ndim == 1 and len(x) == len(y) for x, y in ((x_train, y_train), (x_test, y_test))
    )
    return arrays if ok else None  # type: ignore[return-value]


def _write_npz(path: Path | None, arrays: Arrays) -> None:
    """Return nothing; store ``arrays`` at ``path`` atomically, or skip if the folder is not writable."""
    if path is None:
        return
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mnist-arrays-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **dict(zip(_NPZ_KEYS, arrays)))  # uncompressed: loading is then a plain read
        os.chmod(tmp, 0o644)
        # Atomic rename: a concurrent reader sees either no npz or a complete one, never half of it.
        os.replace(tmp, path)
        tmp = None
    except OSError:
        return  # read-only or full disk: caching is only a speed-up
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    # Arrays of older source versions are dead weight (55 MB each); drop them.
    for old in path.parent.glob("mnist-arrays-*.npz"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ``(x_train, y_train), (x_test, y_test)`` as writable uint8 arrays, as Keras does."""
    paths, in_cache = _locate()
    npz = _npz_path(paths)
    arrays = _read_npz(npz)
    if arrays is None:
        loaded = {name: _load_file(paths[name], name, in_cache) for name in _FILES}
        _check_pairs(loaded, paths)
        arrays = tuple(loaded[name] for name in _FILES)  # type: ignore[assignment]
        _write_npz(npz, arrays)
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def local_files() -> tuple[Path, dict[str, Path | None]]:
    """Return the folder load_data() reads ($MNIST_DIR, else the cache) and each file found there; never downloads."""
    folder = _mnist_dir() or cache_dir()
    return folder, {name: _find(folder, name) for name in _FILES}


def verified_unchanged(paths: dict[str, Path]) -> bool:
    """Tell whether load_data() has verified these four files, unchanged since (their parsed copy is cached)."""
    npz = _npz_path(paths)
    return npz is not None and npz.is_file()


def verify(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Return the path of each of the four checked files in ``folder``; else raise MnistError listing all problems."""
    root = Path(folder).expanduser()
    problems: list[str] = []
    paths: dict[str, Path] = {}
    arrays: dict[str, np.ndarray] = {}
    for name in _FILES:
        path = _find(root, name)
        if path is None:
            problems.append(f"{root / name}(.gz) is missing.")
            continue
        paths[name] = path
        try:
            arrays[name] = _load_file(path, name, in_cache=False)
        except MnistError as exc:
            problems.append(str(exc))
    if not problems:
        try:
            _check_pairs(arrays, paths)
        except MnistError as exc:
            problems.append(str(exc))
    if problems:
        raise MnistError(f"MNIST files in {root} failed verification:\n" + "\n".join(problems))
    return paths


def download(folder: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Return the paths of the four verified files in ``folder`` (default: cache), fetching missing ones."""
    root = Path(folder).expanduser() if folder is not None else cache_dir()
    for name in _FILES:
        if _find(root, name) is None:
            _download_one(name, root)
    # Check everything at the end, including files that were already there.
    return verify(root)


def main(argv: Sequence[str] | None = None) -> int:
    """Return the exit status of the ``download`` / ``verify`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.mnist",
        description="Fetch or check the four MNIST files (for offline use set MNIST_DIR to the folder).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="download the four files into DIR and verify them")
    fetch.add_argument("--dir", type=Path, help="target folder (default: the cache folder)")
    check = commands.add_parser("verify", help="check the four files in DIR against their SHA-256")
    check.add_argument("--dir", type=Path, help="folder to check (default: $MNIST_DIR, else the cache folder)")
    args = parser.parse_args(argv)

    if args.command == "download":
        folder = (args.dir or cache_dir()).expanduser().resolve()
        present = {name for name in _FILES if _find(folder, name) is not None}
        try:
            paths = download(folder)
        except MnistError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        for name, path in paths.items():
            print(f"{'already there' if name in present else 'downloaded'}, verified: {path}")
        print(f"Done. To use these files offline:  export MNIST_DIR={folder}")
        return 0

    folder = (args.dir or _mnist_dir() or cache_dir()).expanduser()
    try:
        paths = verify(folder)
    except MnistError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(f"OK  {path}")
    print(f"All four MNIST files in {folder} match their SHA-256 checksums.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
