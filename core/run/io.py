"""Atomic writes: every file gradsift writes lands whole or not at all. The one writer is here.

`atomic_write` writes a file to a temporary sibling in the same directory, fsyncs it, then
renames it over the target and fsyncs the directory. A process killed at any moment therefore
leaves each file either in its previous complete state or absent, never half written. With
`exclusive=True` (exports) an existing file is never replaced: the finished temporary file is
hard-linked to the target name, which fails when the name is taken, even by a writer racing
for it. `AtomicNpyWriter` (a large array filled through a memory map) and `atomic_directory`
(a tree filled under a temporary name) publish through the same steps.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from core.errors import RunDirError


def _temporary_sibling(path: Path) -> str:
    """An empty temporary file beside `path` (same directory, so a rename is atomic), created with its parents."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RunDirError(f"cannot write {path}: {exc.strerror or exc}; choose a writable directory") from None
    os.close(fd)
    return tmp_name


def _fsync_directory(directory: Path) -> None:
    """Make a rename or link inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp_name: str, path: Path, exclusive: bool) -> None:
    """fsync the finished temporary file and give it the name `path`.

    exclusive=False replaces `path` (os.replace). exclusive=True never replaces anything: a hard link
    fails with FileExistsError when the name is taken; on a file system without hard links the name is
    claimed with O_EXCL first (FileExistsError when taken) and the temporary file renamed over the claim.
    """
    with open(tmp_name, "rb") as handle:
        os.fsync(handle.fileno())
    if not exclusive:
        os.replace(tmp_name, path)
    else:
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (some network or FAT file systems)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            try:
                os.replace(tmp_name, path)
            except BaseException:
                os.unlink(path)  # our own empty claim
                raise
    _fsync_directory(path.parent)


def _discard(tmp_name: str) -> None:
    if os.path.lexists(tmp_name):
        os.unlink(tmp_name)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, exclusive: bool = False) -> Path:
    """Write a file via temp + fsync + rename in the target's directory; returns the path.

    `write` gets the open binary temporary file. exclusive=True: FileExistsError (and nothing written)
    when `path` exists, before or by the time the file is complete, instead of replacing it.
    """
    path = Path(path)
    tmp_name = _temporary_sibling(path)
    try:
        with open(tmp_name, "wb") as handle:
            write(handle)
        _publish(tmp_name, path, exclusive)
    finally:
        _discard(tmp_name)
    return path


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; when the block ends without an error, flush it
    to disk and rename it to `path`. Never replaces anything: FileExistsError when `path` exists (a rename
    would silently replace an empty directory, so that is checked first; a non-empty one or a file makes the
    rename itself fail). On an error nothing is left behind."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise RunDirError(f"cannot write {path}: {exc.strerror or exc}; choose a writable directory") from None
    try:
        yield tmp
        os.sync()  # the files inside reach the disk before the tree appears (one flush, not one per file)
        if os.path.lexists(path):
            raise FileExistsError(path)
        try:
            os.rename(tmp, path)
        except OSError as exc:
            if os.path.lexists(path):
                raise FileExistsError(path) from exc
            raise
        _fsync_directory(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def release_pages(array: np.ndarray) -> None:
    """Drop a memory-mapped array's resident pages from this process (written pages are synced first).

    Pages read or written through a memory map count as the process's resident memory until
    the map is closed: streaming a 4 GB gradient matrix chunk by chunk would otherwise end
    with all 4 GB resident. The data stay on disk and in the page cache, so a later access
    re-reads them cheaply. Anything that is not a memory map is left alone.
    """
    handle = getattr(array, "_mmap", None)
    if handle is None:
        return
    if array.flags.writeable:
        handle.flush()
    handle.madvise(mmap.MADV_DONTNEED)


def take_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """array[rows] as an in-memory copy; a memory map's rows are read from its file with pread.

    Fancy-indexing a memory map faults in whole (large) page-cache folios around every row:
    4,096 random rows of a 2 GB features file mapped 1.1 GB of it. Reading each row's bytes
    with `os.preadv` (in file order) maps nothing, so a 100,000-row subsample costs its own
    size. Anything that is not a row-contiguous memory map is indexed as usual.
    """
    rows = np.asarray(rows, dtype=np.int64)
    handle = getattr(array, "_mmap", None)
    if handle is None or getattr(array, "filename", None) is None or not array[:1].flags.c_contiguous:
        return np.asarray(array[rows])
    row_bytes = array.dtype.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    if len(rows) and (rows.min() < -len(array) or rows.max() >= len(array)):
        raise IndexError(f"row index out of range for {len(array)} rows")
    rows = np.where(rows < 0, rows + len(array), rows)
    # File position of the array's first byte: the map starts at the header offset rounded down
    # to the allocation granularity (how numpy.memmap maps a file).
    map_start = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
    first = array.__array_interface__["data"][0] - np.frombuffer(handle, np.uint8).__array_interface__["data"][0]
    out = np.empty((len(rows), *array.shape[1:]), array.dtype)
    flat = out.reshape(len(rows), -1).view(np.uint8)
    with open(array.filename, "rb", buffering=0) as file:
        descriptor = file.fileno()
        for position in np.argsort(rows, kind="stable"):
            where = map_start + first + int(rows[position]) * array.strides[0]
            if os.preadv(descriptor, [flat[position]], where) != row_bytes:
                raise RunDirError(f"{array.filename} is shorter than its header says (row {rows[position]})")
    return out


class AtomicNpyWriter:
    """Fill a large .npy chunk by chunk through a memory map, then rename it into place.

    Used for the gradient matrix so it never has to exist in RAM at once; until
    `commit()` the target path keeps its previous state.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype=np.float32) -> None:
        self.path = Path(path)
        self.tmp_name = _temporary_sibling(self.path)
        self.array = np.lib.format.open_memmap(self.tmp_name, mode="w+", dtype=dtype, shape=shape)

    def commit(self) -> None:
        self.array.flush()
        del self.array
        try:
            _publish(self.tmp_name, self.path, exclusive=False)
        finally:
            _discard(self.tmp_name)

    def abort(self) -> None:
        _discard(self.tmp_name)


def write_json(path: Path, payload: Any) -> None:
    atomic_write(
        path, lambda f: f.write(json.dumps(payload, indent=2, sort_keys=False, default=_json_default).encode())
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


PARQUET_FACTS_KEY = b"gradsift"
"""Key of the JSON facts a derived table carries in its parquet footer (what it was made from)."""


def write_parquet(path: Path, frame: pd.DataFrame, facts: dict[str, Any] | None = None) -> None:
    """Write `frame` atomically; `facts` (JSON-serializable) go into the file's footer under
    `PARQUET_FACTS_KEY`, so a derived table says what it was computed from (`read_parquet_facts`)."""
    def write(handle: IO[bytes]) -> None:
        buffer = io.BytesIO()
        if facts is None:
            frame.to_parquet(buffer, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            payload = json.dumps(facts, default=_json_default).encode()
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_FACTS_KEY: payload})
            pq.write_table(table, buffer)
        handle.write(buffer.getvalue())

    atomic_write(path, write)


def read_parquet_facts(path: Path) -> dict[str, Any]:
    """The facts `write_parquet` stored in a file's footer ({} when it has none); reads no rows."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    payload = metadata.get(PARQUET_FACTS_KEY)
    return json.loads(payload) if payload else {}


def write_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
