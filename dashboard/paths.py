"""Where runs are and which paths a person may type: the dashboard's input checks (no streamlit import)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import ConfigError
from core.run import schema

RUNS_DIR_ENV = "GRADSIFT_RUNS_DIR"
DATA_ROOTS_ENV = "GRADSIFT_DATA_ROOTS"
"""os.pathsep-separated directories a typed dataset path must lie in (default: the working directory)."""
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def runs_dir() -> Path:
    """The directory holding run directories: env GRADSIFT_RUNS_DIR, default `runs`."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


def list_runs(root: Path | None = None) -> list[str]:
    """Paths of the run directories (those with a manifest) directly inside `root`, by name."""
    root = runs_dir() if root is None else root
    if not root.is_dir():
        return []
    return sorted(str(entry) for entry in root.iterdir()
                  if entry.is_dir() and (entry / schema.MANIFEST).is_file())



def allowed_roots() -> list[Path]:
    """Directories a typed dataset path must lie inside (env GRADSIFT_DATA_ROOTS, default cwd)."""
    raw = os.environ.get(DATA_ROOTS_ENV, "")
    roots = [Path(part).expanduser() for part in raw.split(os.pathsep) if part.strip()] or [Path.cwd()]
    return [root.resolve() for root in roots]


def resolve_dataset_path(text: str, roots: list[Path] | None = None) -> Path:
    """The existing, symlink-resolved path typed by the user, refused outside the allowed roots."""
    roots = allowed_roots() if roots is None else roots
    if not text or not text.strip():
        raise ConfigError("type a dataset path (an image folder, a .csv/.parquet manifest or an .npz file)")
    raw = Path(text.strip()).expanduser()
    if not raw.is_absolute():
        raw = roots[0] / raw if roots else raw
    try:
        path = raw.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        raise ConfigError(f"{text.strip()!r} does not exist") from None
    if not any(path == root or path.is_relative_to(root) for root in roots):
        raise ConfigError(f"{path} is outside the allowed data directories ({', '.join(map(str, roots))}); "
                          f"set {DATA_ROOTS_ENV} to allow another directory")
    return path


def check_manifest_files(path: Path, roots: list[Path] | None = None) -> None:
    """Refuse a .csv/.parquet manifest whose image paths leave the allowed roots ('../../somewhere')."""
    from core.data.manifest import referenced_files

    if path.suffix.lower() not in (".csv", ".parquet"):
        return
    roots = allowed_roots() if roots is None else roots
    outside = [file for file in referenced_files(path)
               if not any(file == root or file.is_relative_to(root) for root in roots)]
    if outside:
        raise ConfigError(f"{path} names {len(outside)} file(s) outside the allowed data directories, e.g. "
                          f"{outside[0]}; set {DATA_ROOTS_ENV} to allow them")


def new_run_path(name: str, root: Path | None = None) -> Path:
    """runs_dir()/name for a new run, refusing names that are not plain file names."""
    if not RUN_NAME.match(name or ""):
        raise ConfigError("a run name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return (runs_dir() if root is None else root) / name
