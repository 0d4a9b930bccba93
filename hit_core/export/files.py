"""Cache files that are safe to share between processes: hashing, atomic writes, locks.

Several trackers (one ROS node per camera, a benchmark beside a node) may build the same
cached graph or engine at the same time. Every cache file is therefore written to a
temporary file in the destination folder and moved into place with ``os.replace`` (a
reader sees either the old file or the complete new one, never a torn write), and the
build itself runs under an exclusive lock file so the second process waits and then
reuses the first one's result instead of building it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hit_core.errors import ExportError

DEFAULT_CACHE_DIR = Path("~/.cache/hit_ros")

_HASH_CHUNK = 1 << 20


def resolve_cache_dir(cache_dir: str | Path | None, subdir: str) -> Path:
    """``cache_dir/subdir`` (default ``~/.cache/hit_ros/subdir``), created if missing."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE_DIR.expanduser()
    path = root / subdir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create the cache folder {path} ({error}); pass a writable cache directory") from error
    return path


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file.

    The bytes go to a temporary file in the same folder (same file system), are flushed
    to disk, and the file is renamed over ``path`` with ``os.replace``. On any error the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


@contextlib.contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path + ".lock"`` for the duration of the block.

    Other processes using the same lock wait; the lock is released when the block ends
    or the process dies (``flock`` semantics), so a crashed builder never blocks forever.
    """
    lock_path = Path(f"{path}.lock")
    with open(lock_path, "a+b") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
