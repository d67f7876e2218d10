"""The retraining results table (retrain.parquet): read it, and append a row under a file lock.

One row per retraining request (columns `schema.RETRAIN_COLUMNS`), identified by
`request_key` (the analysis fingerprint, detector, budget, seed, mode, review edits): an
identical request is answered from the table. Two processes appending at once lose no
row: the table is re-read and rewritten (atomically) while holding an exclusive lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager

import pandas as pd

from core.errors import RunDirError
from core.run import schema
from core.run.io import write_parquet
from core.run.rundir import RunDir

BASELINE = ""
"""`detector` of a k = 0 row without reviews: the same model whatever detector asked for it."""

@contextmanager
def _locked(run: RunDir):
    lock_path = run.file(".retrain.lock")
    try:
        handle = open(lock_path, "a+")
    except OSError as exc:
        raise RunDirError(f"cannot record a retraining result in {run.path}: {exc.strerror or exc}; the run "
                          "directory must be writable") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_results(run: RunDir) -> pd.DataFrame:
    """All retraining results recorded for the run (empty frame with the schema's columns if none)."""
    if not run.file(schema.RETRAIN).exists():
        return pd.DataFrame({column: pd.Series(dtype=object) for column in schema.RETRAIN_COLUMNS})
    return run.read_parquet(schema.RETRAIN)


def request_key(fingerprint: str, detector: str, budget: float, seed: int, mode: str, reviews_key: str) -> str:
    blob = json.dumps([fingerprint, detector, round(budget, 6), seed, mode, reviews_key]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]




def append_result(run: RunDir, row: dict) -> None:
    """Add one result row unless a row with its request_key is already there."""
    with _locked(run):
        table = read_results(run)
        if row["request_key"] not in set(table["request_key"]):
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True) if len(table) else pd.DataFrame([row])
            write_parquet(run.file(schema.RETRAIN), table[list(schema.RETRAIN_COLUMNS)])
