"""Exports for a page rather than a path: the bytes of a download, or files under the first free name.

The dashboard offers the review log and the cleaned manifest; both are the registered export
formats (core.export.registry), run by the same functions as `gradsift export`, so a download
is byte for byte the file the command line writes. `download` runs the export into a scratch
directory and returns its file, or a zip of everything it wrote when that is more than one file
(the manifest of an image run with its `<stem>_images/` folder). `save_new` writes an export
into a directory under `<stem><suffix>`, else `<stem>-2<suffix>`, `-3`, ...: the first name
whose every output is free, so nothing existing is ever replaced.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.auth.roles import LOCAL_OPERATOR, Actor, require
from core.errors import ConfigError
from core.export.files import TargetExists
from core.export.source import ExportSource, Written, check_only, load_source

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every zip entry's time stamp: the same export gives the same zip bytes."""
MAX_NAMES = 10_000


@dataclass(frozen=True)
class Download:
    """What a download button serves: the file name, its bytes and its MIME type."""

    file_name: str
    data: bytes
    mime: str


def _export(source: ExportSource, fmt: str, out: Path) -> Written:
    from core.export.registry import EXPORT_FORMATS

    EXPORT_FORMATS.check(fmt, "--format")
    return EXPORT_FORMATS.get(fmt)(source, out, check_only(EXPORT_FORMATS.entry(fmt).meta["only"]), None)


def _zip(paths: list[Path], root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                entry = zipfile.ZipInfo(file.relative_to(root).as_posix(), date_time=ZIP_TIME)
                archive.writestr(entry, file.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def download(run_path: str | os.PathLike, fmt: str, file_name: str, split: str = "train",
             actor: Actor = LOCAL_OPERATOR) -> Download:
    """The export `fmt` of the run's `split` (the format's default `--only`) as it would be written to
    `file_name`: that file's bytes, or `<stem>.zip` holding every file it wrote under their export names.
    `actor` must be allowed to export (core.auth.roles: PermissionDenied before anything is read)."""
    require(actor, "export")
    source = load_source(run_path, split)
    with tempfile.TemporaryDirectory(prefix="gradsift-download-") as scratch:
        root = Path(scratch)
        written = _export(source, fmt, root / file_name)
        if len(written.paths) == 1 and written.paths[0].is_file():
            mime = "text/csv" if written.paths[0].suffix.lower() == ".csv" else "application/octet-stream"
            return Download(file_name, written.paths[0].read_bytes(), mime)
        return Download(f"{Path(file_name).stem}.zip", _zip(written.paths, root), "application/zip")


def save_new(run_path: str | os.PathLike, fmt: str, directory: str | os.PathLike, stem: str, suffix: str,
             split: str = "train", actor: Actor = LOCAL_OPERATOR) -> Written:
    """Write the export `fmt` into `directory` as `<stem><suffix>`, or `<stem>-2<suffix>`, `-3`, ...: the first
    name none of whose outputs exists (an existing file is never replaced, even by two savers racing). `actor`
    must be allowed to export."""
    require(actor, "export")
    source = load_source(run_path, split)
    for attempt in range(1, MAX_NAMES):
        name = f"{stem}{suffix}" if attempt == 1 else f"{stem}-{attempt}{suffix}"
        try:
            return _export(source, fmt, Path(directory) / name)
        except TargetExists:
            continue
    raise ConfigError(f"could not find a free file name for {stem}{suffix} in {directory}")
