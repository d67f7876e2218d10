"""Export outputs land whole, under the name the user chose, and never replace anything.

An export refuses a target that already exists (one line naming it) instead of picking
another name: the user typed the path, and a silently renamed output is easy to miss.
The writing itself is core.run.io's one atomic writer in its exclusive mode (a temporary
sibling, fsynced, then hard-linked to the target, which fails when the target appeared
meanwhile), so even two exports racing for one name cannot overwrite each other. A directory
(the FiftyOne tree, the manifest's images) is filled under a temporary sibling and renamed
into place in one step (core.run.io.atomic_directory).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from core.errors import ConfigError
from core.run.io import atomic_directory, atomic_write


class TargetExists(ConfigError):
    """An export's target (or a file it writes beside it) already exists; callers that pick names
    themselves (`core.export.downloads.save_new`) catch it and try the next name."""


def refuse_existing(*paths: Path) -> None:
    """TargetExists naming the first of `paths` that exists: exports never overwrite."""
    for path in paths:
        if os.path.lexists(path):
            raise TargetExists(f"{path} already exists; exports never overwrite: choose a new --out path "
                               "(or move the old export away)")


def write_new(path: str | os.PathLike, payload: bytes | Callable[[IO[bytes]], None]) -> Path:
    """Write `payload` (bytes, or a function writing to the open binary file it is given) to `path`
    atomically, refusing (TargetExists) when `path` exists, before or by the time the file is complete."""
    path = Path(path)
    refuse_existing(path)
    write = payload if callable(payload) else (lambda handle: handle.write(payload))
    try:
        return atomic_write(path, write, exclusive=True)
    except FileExistsError:
        refuse_existing(path)
        raise


@contextmanager
def new_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; when the block ends without an error it becomes
    `path` (TargetExists when that exists). On an error nothing is left behind."""
    path = Path(path)
    refuse_existing(path)
    try:
        with atomic_directory(path) as tmp:
            yield tmp
    except FileExistsError:
        refuse_existing(path)
        raise


def sidecar(path: Path, suffix: str) -> Path:
    """`<dir>/<stem><suffix>` beside the export `path` (the Label Studio config beside its tasks JSON)."""
    return path.with_name(f"{path.stem}{suffix}")
