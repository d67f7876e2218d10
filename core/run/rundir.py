"""A run directory: its manifest, its stages, and validated access to its files.

Files are written atomically (core.run.io). Stage completion is recorded in the
manifest only after the stage's files are in place, so a rerun redoes exactly the
stages that did not finish.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.detect.flagging import Flagging
from core.errors import ConfigError, RunDirError
from core.run import schema
from core.run.io import now_iso, write_json
from core.versions import package_versions

WRITER_LOCK = ".analysis.lock"
"""Lock file of the process writing a run directory (core.pipeline.runner holds it for a whole analysis)."""


class RunDir:
    """A run directory: paths, the manifest, and validated table access."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self) -> bool:
        return self.file(schema.MANIFEST).exists()

    # -- manifest -----------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        path = self.file(schema.MANIFEST)
        if not self.path.exists():
            raise RunDirError(f"run directory {self.path} does not exist")
        if not path.exists():
            raise RunDirError(f"{self.path} is not a gradsift run directory: {schema.MANIFEST} is missing")
        try:
            manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunDirError(f"{path} is corrupted ({exc}); delete the run directory and rerun") from exc
        version = manifest.get("schema_version")
        if version != schema.SCHEMA_VERSION:
            raise RunDirError(
                f"{path} was written with run-directory schema {version!r}; this gradsift reads schema "
                f"{schema.SCHEMA_VERSION}. Re-analyze: gradsift analyze --dataset "
                f"{manifest.get('config', {}).get('data', {}).get('dataset', '<dataset>')} --out <new directory> "
                "(or the same --out with --overwrite, which keeps the old files in replaced-*/)"
            )
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.file(schema.MANIFEST), manifest)

    def flagging(self) -> Flagging:
        """The run's flagging decision (the manifest's `flagging`, written by the samples stage)."""
        manifest = self.read_manifest()
        if "flagging" not in manifest:
            raise RunDirError(f"{self.path} has no flagging decision yet; rerun `gradsift analyze` on it to finish it")
        return Flagging.from_dict(manifest["flagging"])

    def config(self) -> RunConfig:
        try:
            return RunConfig.from_dict(self.read_manifest()["config"])
        except (KeyError, TypeError, ConfigError) as exc:
            raise RunDirError(f"{self.file(schema.MANIFEST)} holds an invalid config: {exc}") from exc

    def _check_target(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"--out {self.path} exists and is not a directory")
        if self.path.exists() and not self.exists() and any(entry.name != WRITER_LOCK for entry in self.path.iterdir()):
            raise RunDirError(f"--out {self.path} is a non-empty directory that is not a gradsift run; "
                              "choose an empty or new directory")

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the directory for one writer: a second process analyzing it at the same time is refused
        (it would interleave stage files), with a line saying so; released when the block ends."""
        self._check_target()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.file(WRITER_LOCK), "a+")
        except OSError as exc:
            raise RunDirError(f"cannot write in {self.path}: {exc.strerror or exc}; choose a writable --out") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirError(f"{self.path} is being analyzed by another gradsift process; wait for it to "
                                  "finish, or analyze into another --out") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def create(self, config: RunConfig, fingerprint: str, **entries: Any) -> dict[str, Any]:
        """Write the manifest of a new run made with `config` (whose `RunConfig.fingerprint()` is `fingerprint`)
        plus `entries`, and return it. Call it inside `writing()`; core.pipeline.open_run decides when a run
        is new."""
        self._check_target()
        manifest = {
            "schema_version": schema.SCHEMA_VERSION,
            "created": now_iso(),
            "config": config.to_dict(),
            "config_fingerprint": fingerprint,
            "packages": package_versions(),
            "stages": {},
            "history": [],
            **entries,
        }
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_manifest(manifest)
        return manifest

    def reopen(self) -> dict[str, Any]:
        """The manifest of an existing run, after removing writes interrupted before their rename."""
        self._check_target()
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink()  # a write interrupted before its rename: never part of the run
        return self.read_manifest()

    def set_aside(self, names: list[str] | None = None) -> Path | None:
        """Move the named files (default: every file of the run) into replaced-<time>/ instead of deleting them;
        the folder, or None when none of the files existed."""
        entries = [entry for entry in self.path.iterdir()
                   if entry.name != WRITER_LOCK and not entry.name.startswith("replaced-")
                   and (names is None or entry.name in names)]
        if not entries:
            return None
        backup = self.path / f"replaced-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
        backup.mkdir()
        for entry in entries:
            os.replace(entry, backup / entry.name)
        return backup

    def stage_done(self, manifest: dict[str, Any], stage: str, files: tuple[str, ...], fingerprint: str) -> bool:
        """Whether `stage` finished with this `fingerprint` (what it read then is what it reads now) and its files
        are all present."""
        record = manifest.get("stages", {}).get(stage)
        return bool(record and record.get("complete") and record.get("fingerprint") == fingerprint
                    and all(self.file(f).exists() for f in files))

    def finish_stage(self, manifest: dict[str, Any], stage: str, seconds: float, fingerprint: str,
                     **facts: Any) -> None:
        manifest.setdefault("stages", {})[stage] = {"complete": True, "seconds": round(seconds, 3),
                                                    "fingerprint": fingerprint, **facts}
        self.write_manifest(manifest)

    # -- tables and arrays ----------------------------------------------------------
    def _load(self, name: str, loader: Callable[[Path], Any]) -> Any:
        """Load a run file, turning absence and damage into RunDirErrors that say what to do."""
        path = self.file(name)
        if not path.exists():
            raise RunDirError(f"{path} is missing; rerun `gradsift analyze` on this directory to finish it")
        try:
            return loader(path)
        except Exception as exc:  # pyarrow and numpy raise many types for damaged files
            raise RunDirError(f"{path} is corrupted or truncated ({type(exc).__name__}: {exc}); "
                              "delete it and rerun `gradsift analyze` to recompute it") from exc

    def read_parquet(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return self._load(name, lambda path: pd.read_parquet(path, columns=columns))

    def read_parquet_facts(self, name: str) -> dict[str, Any]:
        """The facts a derived table carries in its footer (core.run.io.write_parquet); {} when none."""
        from core.run.io import read_parquet_facts

        return self._load(name, read_parquet_facts)

    def read_npy(self, name: str, mmap: bool = False) -> np.ndarray:
        return self._load(name, lambda path: np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None))

    def read_npz(self, name: str) -> dict[str, np.ndarray]:
        def load(path: Path) -> dict[str, np.ndarray]:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}

        return self._load(name, load)

    def test_labels(self) -> np.ndarray:
        """The test labels in the task's form ((n_test,) int64 classes), stored by the evaluate stage (the only
        stage that reads them)."""
        labels = self.read_npy(schema.TEST_LABELS)
        return labels.astype(np.int64, copy=False) if labels.dtype.kind in "iub" and labels.ndim == 1 else labels

    def task(self):
        """The run's task kind (core.tasks), as the data stage recorded it; runs without one classify."""
        from core.tasks.base import task_from_dict

        return task_from_dict(self.read_manifest().get("task"))

    def validation_rows(self) -> np.ndarray:
        """(m,) int64 rows of the training split that form the validation split."""
        return self.read_npz(schema.ERM_OUTPUTS)["val_rows"].astype(np.int64, copy=False)

    def sample_columns(self) -> list[str]:
        """The columns of samples.parquet, read from its footer (no rows)."""
        import pyarrow.parquet as pq

        return self._load(schema.SAMPLES, lambda path: list(pq.read_schema(path).names))

    def read_samples(self, columns: list[str] | None = None) -> pd.DataFrame:
        """samples.parquet, checked against the schema; only `columns` when given (a million-row
        table is ~0.5 GB in memory whole, a few MB per numeric column)."""
        self.read_manifest()
        if columns is not None:
            missing = [c for c in columns if c not in self.sample_columns()]
            if missing:
                raise RunDirError(f"{self.file(schema.SAMPLES)} lacks column(s) {', '.join(missing)}")
            return self.read_parquet(schema.SAMPLES, columns=columns)
        frame = self.read_parquet(schema.SAMPLES)
        task = (self.read_manifest().get("task") or {}).get("name", "classification")
        required = (schema.REQUIRED_SAMPLE_COLUMNS if task == "classification"
                    else schema.COMMON_SAMPLE_COLUMNS + schema.TASK_SAMPLE_COLUMNS[task])
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise RunDirError(f"{self.file(schema.SAMPLES)} lacks column(s) {', '.join(missing)}; "
                              "it was not written by this gradsift version")
        return frame


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable 'field: old -> new' lines for two config dicts."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return lines
