"""Export outputs land whole, under the name the user chose, and never replace anything.

An export refuses a target that already exists (one line naming it) instead of picking
another name: the user typed the path, and a silently renamed output is easy to miss.
Files are written to a temporary sibling, fsynced, then hard-linked to the target, which
fails when the target appeared meanwhile, so even two exports racing for one name cannot
overwrite each other. A directory (the FiftyOne tree) is filled under a temporary sibling
and renamed into place in one step; a rename never replaces a non-empty directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import ConfigError, RunDirError


def refuse_existing(*paths: Path) -> None:
    """ConfigError naming the first of `paths` that exists: exports never overwrite."""
    for path in paths:
        if os.path.lexists(path):
            raise ConfigError(f"{path} already exists; exports never overwrite: choose a new --out path "
                              "(or move the old export away)")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_sibling(path: Path) -> tuple[int, str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RunDirError(f"cannot write {path}: {exc.strerror or exc}; choose a writable --out") from None


def write_new(path: str | os.PathLike, payload: bytes | Callable[[Path], None]) -> Path:
    """Write `payload` (bytes, or a function writing the file at the path it is given) to `path`
    atomically, refusing (ConfigError) when `path` exists, before or by the time the file is complete."""
    path = Path(path)
    refuse_existing(path)
    fd, tmp_name = _temporary_sibling(path)
    tmp = Path(tmp_name)
    try:
        if callable(payload):
            os.close(fd)
            payload(tmp)
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # exclusive: fails when the name is taken
        except FileExistsError:
            refuse_existing(path)
            raise
        except OSError:  # a file system without hard links: check, then rename
            refuse_existing(path)
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_directory(path.parent)
    return path


@contextmanager
def new_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; when the block ends without an error, flush it
    to disk and rename it to `path` (refusing an existing one). On an error nothing is left behind."""
    path = Path(path)
    refuse_existing(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise RunDirError(f"cannot write {path}: {exc.strerror or exc}; choose a writable --out") from None
    try:
        yield tmp
        os.sync()  # the files inside reach the disk before the tree appears (one flush, not one per file)
        refuse_existing(path)
        try:
            os.rename(tmp, path)  # never replaces a non-empty directory or a file
        except OSError:
            refuse_existing(path)
            raise
        _fsync_directory(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def sidecar(path: Path, suffix: str) -> Path:
    """`<dir>/<stem><suffix>` beside the export `path` (the Label Studio config beside its tasks JSON)."""
    return path.with_name(f"{path.stem}{suffix}")
