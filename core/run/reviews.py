"""Reviewer decisions on flagged samples, stored in SQLite inside the run directory.

A run directory's `reviews.sqlite` (training samples; `test_reviews.sqlite` for the test
split, whose labels a person can check too) holds one append-only table, `reviews`: every action a
reviewer takes is one row (who, when, which sample, what), so the history is an audit
log and the *current* decision on a sample is its latest row. Actions:

- `mislabeled`: the given label is wrong and the sample should leave the training set;
- `relabel`: the given label is wrong and `new_label` (a class index) is the right one;
- `keep`: a false alarm, the sample stays as it is;
- `clear`: withdraw the previous decision (the sample counts as unreviewed again).

Every row records the state the sample is left in. `undo(reviewer)` reverts that reviewer's last
action (every sample of one bulk action) by appending rows that put each sample back in the state
it had before, each naming the row it reverts in `undoes`; nothing is deleted, so the history
keeps both the decision and its undo, and undoing again steps further back.

Concurrency: the database runs in WAL mode with a busy timeout, and every call that
writes is one `BEGIN IMMEDIATE` transaction (a bulk action over many samples included),
so two browser tabs or two processes reviewing the same run at once lose nothing and
never see a half-applied bulk action.

`edits()` turns the current decisions into `ReviewEdits` (mislabeled ->
removed, relabel -> relabelled) for "retrain with my reviews applied". This module only
stores and reads decisions; writing them out (the review log as CSV, the cleaned manifest)
is an export format like any other (core.export.review_log, core.export.manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError, RunDirError
from core.run import schema

REVIEWS, TEST_REVIEWS = schema.REVIEWS, schema.TEST_REVIEWS
"""The review stores of the training and of the test samples (sample_id = row of the test split: their labels
can be checked too); the file names are defined in core.run.schema."""
STORE_FILES = {"train": REVIEWS, "test": TEST_REVIEWS}

MISLABELED, RELABEL, KEEP, CLEAR = "mislabeled", "relabel", "keep", "clear"
ACTIONS = (MISLABELED, RELABEL, KEEP, CLEAR)
DECISIONS = (MISLABELED, RELABEL, KEEP)
"""Actions that leave a decision in place (`clear` removes one)."""

# Columns of the reviews table and of every frame this module returns.
REVIEW_ID, ACTION, NEW_LABEL = "review_id", "action", "new_label"
REVIEWER, CREATED, DETECTOR, UNDOES = "reviewer", "created", "detector", "undoes"
REVIEW_COLUMNS = (REVIEW_ID, schema.SAMPLE_ID, ACTION, NEW_LABEL, REVIEWER, CREATED, DETECTOR, UNDOES)

BUSY_TIMEOUT_MS = 30_000

_CREATE = f"""
CREATE TABLE IF NOT EXISTS reviews (
    {REVIEW_ID} INTEGER PRIMARY KEY AUTOINCREMENT,
    {schema.SAMPLE_ID} INTEGER NOT NULL,
    {ACTION} TEXT NOT NULL CHECK ({ACTION} IN ({", ".join(repr(a) for a in ACTIONS)})),
    {NEW_LABEL} INTEGER,
    {REVIEWER} TEXT NOT NULL,
    {CREATED} TEXT NOT NULL,
    {DETECTOR} TEXT,
    {UNDOES} INTEGER
);
CREATE INDEX IF NOT EXISTS reviews_by_sample ON reviews ({schema.SAMPLE_ID}, {REVIEW_ID});
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class ReviewEdits:
    """Reviewer decisions applied before retraining: samples removed and labels changed."""

    removed: set[int] = field(default_factory=set)
    relabelled: dict[int, int] = field(default_factory=dict)

    def key(self) -> str:
        if not self.removed and not self.relabelled:
            return ""
        blob = json.dumps({"removed": sorted(self.removed),
                           "relabelled": sorted(self.relabelled.items())}).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class ReviewStore:
    """The review log of one run directory (`<run>/reviews.sqlite`, created on first use).

    Cheap to construct: every method opens its own short-lived connection, so one store
    can be shared by threads, and separate processes can each hold their own.
    """

    def __init__(self, run_path: str | os.PathLike, n_samples: int | None = None,
                 n_classes: int | None = None, split: str = "train") -> None:
        if split not in STORE_FILES:
            raise ConfigError(f"unknown review split {split!r}; valid: {', '.join(STORE_FILES)}")
        self.split = split
        self.path = Path(run_path) / STORE_FILES[split]
        self.n_samples = n_samples
        """When given, sample ids are checked to lie in [0, n_samples)."""
        self.n_classes = n_classes
        """When given, relabel targets are checked to lie in [0, n_classes)."""

    @contextmanager
    def _connect(self):
        if not self.path.parent.is_dir():
            raise ConfigError(f"run directory {self.path.parent} does not exist")
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            with closing(connection):
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._retry(lambda: connection.execute("PRAGMA journal_mode = WAL"))
                connection.execute("PRAGMA synchronous = NORMAL")
                self._retry(lambda: connection.executescript(_CREATE))
                self._add_undoes_column(connection)
                yield connection
        except sqlite3.DatabaseError as exc:  # corrupted file, read-only directory, full disk
            raise RunDirError(f"{self.path} cannot be used ({exc}); check the file and the directory's "
                              "permissions, or move the file away to start a new review log") from exc

    @staticmethod
    def _retry(statement, attempts: int = 50):
        """Run a statement that SQLite may refuse with 'database is locked' while another
        connection switches the journal mode or creates the schema (busy_timeout does not
        cover those)."""
        for attempt in range(attempts):
            try:
                return statement()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))

    def _add_undoes_column(self, connection: sqlite3.Connection) -> None:
        """A review log written before undo existed gains the (empty) `undoes` column; its rows stay as they are."""
        columns = {row[1] for row in connection.execute("PRAGMA table_info(reviews)")}
        if UNDOES in columns:
            return
        try:
            self._retry(lambda: connection.execute(f"ALTER TABLE reviews ADD COLUMN {UNDOES} INTEGER"))
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another connection added it first
                raise

    def journal_mode(self) -> str:
        with self._connect() as connection:
            return connection.execute("PRAGMA journal_mode").fetchone()[0].lower()

    # -- writing ------------------------------------------------------------------------
    def record(self, sample_ids: Iterable[int], action: str, reviewer: str, *, new_label: int | None = None,
               detector: str | None = None) -> int:
        """Record one action on every sample in `sample_ids` in a single transaction.

        Returns the number of rows written. `new_label` is required for (and only for)
        `relabel`; `reviewer` must be a non-empty name.
        """
        ids = [int(i) for i in sample_ids]
        self._check(ids, action, reviewer, new_label)
        if not ids:
            return 0
        created = _now()
        label = int(new_label) if action == RELABEL else None
        rows = [(sample_id, action, label, reviewer.strip(), created, detector) for sample_id in ids]
        with self._connect() as connection:
            self._retry(lambda: connection.execute("BEGIN IMMEDIATE"))
            try:
                connection.executemany(
                    f"INSERT INTO reviews ({schema.SAMPLE_ID}, {ACTION}, {NEW_LABEL}, {REVIEWER}, {CREATED}, "
                    f"{DETECTOR}) VALUES (?, ?, ?, ?, ?, ?)", rows)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return len(rows)

    def _check(self, ids: list[int], action: str, reviewer: str, new_label: int | None) -> None:
        if action not in ACTIONS:
            raise ConfigError(f"unknown review action {action!r}; valid actions: {', '.join(ACTIONS)}")
        if not reviewer or not reviewer.strip():
            raise ConfigError("a review needs the reviewer's name")
        if action == RELABEL:
            if new_label is None:
                raise ConfigError("a relabel review needs the new label")
            if new_label < 0 or (self.n_classes is not None and new_label >= self.n_classes):
                raise ConfigError(f"new label {new_label} is not a class index in [0, {self.n_classes})")
        elif new_label is not None:
            raise ConfigError(f"only a relabel review takes a new label, not {action!r}")
        if self.n_samples is not None:
            bad = [i for i in ids if not 0 <= i < self.n_samples]
            if bad:
                raise ConfigError(f"sample id(s) {bad[:5]} outside [0, {self.n_samples})")

    def _undoable(self, connection: sqlite3.Connection, reviewer: str) -> list[tuple]:
        """Rows (review_id, sample_id, action, new_label, detector) of `reviewer`'s last action not undone yet: its
        latest such row and every row written with it (one bulk action shares its time stamp and action)."""
        not_undone = (f"{UNDOES} IS NULL AND {REVIEW_ID} NOT IN "
                      f"(SELECT {UNDOES} FROM reviews WHERE {UNDOES} IS NOT NULL)")
        last = connection.execute(
            f"SELECT {CREATED}, {ACTION} FROM reviews WHERE {REVIEWER} = ? AND {not_undone} "
            f"ORDER BY {REVIEW_ID} DESC LIMIT 1", (reviewer,)).fetchone()
        if last is None:
            return []
        return connection.execute(
            f"SELECT {REVIEW_ID}, {schema.SAMPLE_ID}, {ACTION}, {NEW_LABEL}, {DETECTOR} FROM reviews "
            f"WHERE {REVIEWER} = ? AND {CREATED} = ? AND {ACTION} = ? AND {not_undone} ORDER BY {REVIEW_ID}",
            (reviewer, *last)).fetchall()

    def last_action(self, reviewer: str) -> pd.DataFrame:
        """The rows `undo(reviewer)` would revert (columns review_id, sample_id, action, new_label, detector); empty
        when there is nothing to undo."""
        columns = [REVIEW_ID, schema.SAMPLE_ID, ACTION, NEW_LABEL, DETECTOR]
        if not self.path.exists() or not reviewer or not reviewer.strip():
            return pd.DataFrame({column: [] for column in columns})
        with self._connect() as connection:
            rows = self._undoable(connection, reviewer.strip())
        return pd.DataFrame(rows, columns=columns).astype({NEW_LABEL: "Int64"})

    def undo(self, reviewer: str) -> list[int]:
        """Revert `reviewer`'s last action not undone yet, in one transaction; returns the sample ids put back.

        Each sample returns to the state its row before the undone one left it in (`clear` when there was none),
        written as a new row by `reviewer` with `undoes` = the undone row's id. A sample that was decided again
        after that action (by anyone, and not undone since) keeps the later decision and is not in the result."""
        if not reviewer or not reviewer.strip():
            raise ConfigError("an undo needs the reviewer's name")
        reviewer = reviewer.strip()
        with self._connect() as connection:
            self._retry(lambda: connection.execute("BEGIN IMMEDIATE"))
            try:
                restored = self._undo_rows(connection, reviewer)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return restored

    def _undo_rows(self, connection: sqlite3.Connection, reviewer: str) -> list[int]:
        created = _now()
        restored = []
        for review_id, sample_id, _, _, detector in self._undoable(connection, reviewer):
            later = connection.execute(
                f"SELECT COUNT(*) FROM reviews WHERE {schema.SAMPLE_ID} = ? AND {REVIEW_ID} > ? AND {UNDOES} IS NULL "
                f"AND {REVIEW_ID} NOT IN (SELECT {UNDOES} FROM reviews WHERE {UNDOES} IS NOT NULL)",
                (sample_id, review_id)).fetchone()[0]
            before = connection.execute(
                f"SELECT {ACTION}, {NEW_LABEL} FROM reviews WHERE {schema.SAMPLE_ID} = ? AND {REVIEW_ID} < ? "
                f"ORDER BY {REVIEW_ID} DESC LIMIT 1", (sample_id, review_id)).fetchone()
            action, label = before if before is not None else (CLEAR, None)
            if later:
                # Decided again since: the later decision stands, but the action counts as undone.
                action, label = connection.execute(
                    f"SELECT {ACTION}, {NEW_LABEL} FROM reviews WHERE {schema.SAMPLE_ID} = ? "
                    f"ORDER BY {REVIEW_ID} DESC LIMIT 1", (sample_id,)).fetchone()
            else:
                restored.append(int(sample_id))
            connection.execute(
                f"INSERT INTO reviews ({schema.SAMPLE_ID}, {ACTION}, {NEW_LABEL}, {REVIEWER}, {CREATED}, {DETECTOR}, "
                f"{UNDOES}) VALUES (?, ?, ?, ?, ?, ?, ?)", (sample_id, action, label, reviewer, created, detector,
                                                           review_id))
        return restored

    # -- reading ------------------------------------------------------------------------
    def history(self) -> pd.DataFrame:
        """Every review row, oldest first (columns REVIEW_COLUMNS)."""
        if not self.path.exists():
            return _empty()
        with self._connect() as connection:
            frame = pd.read_sql_query(f"SELECT {', '.join(REVIEW_COLUMNS)} FROM reviews ORDER BY {REVIEW_ID}",
                                      connection)
        return _typed(frame)

    def decisions(self) -> pd.DataFrame:
        """The current decision per reviewed sample: its latest row, `clear`ed samples dropped.

        Indexed by nothing; one row per sample_id, sorted by sample_id.
        """
        if not self.path.exists():
            return _empty()
        with self._connect() as connection:
            frame = pd.read_sql_query(
                f"SELECT {', '.join(REVIEW_COLUMNS)} FROM reviews WHERE {REVIEW_ID} IN "
                f"(SELECT MAX({REVIEW_ID}) FROM reviews GROUP BY {schema.SAMPLE_ID}) "
                f"AND {ACTION} != '{CLEAR}' ORDER BY {schema.SAMPLE_ID}", connection)
        return _typed(frame)

    def edits(self) -> ReviewEdits:
        """The current decisions as retraining edits: mislabeled -> removed, relabel -> relabelled."""
        return edits_from_decisions(self.decisions())

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])


def _empty() -> pd.DataFrame:
    return _typed(pd.DataFrame({column: [] for column in REVIEW_COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({REVIEW_ID: "int64", schema.SAMPLE_ID: "int64", ACTION: "object", NEW_LABEL: "Int64",
                         REVIEWER: "object", CREATED: "object", DETECTOR: "object", UNDOES: "Int64"})


def edits_from_decisions(decisions: pd.DataFrame) -> ReviewEdits:
    """ReviewEdits from a `decisions()` frame."""

    actions = decisions[ACTION].to_numpy()
    ids = decisions[schema.SAMPLE_ID].to_numpy()
    relabel = actions == RELABEL
    return ReviewEdits(
        removed={int(i) for i in ids[actions == MISLABELED]},
        relabelled={int(i): int(label) for i, label in zip(ids[relabel],
                                                             decisions[NEW_LABEL].to_numpy()[relabel])},
    )


def decisions_key(decisions: pd.DataFrame) -> str:
    """A 16-hex fingerprint of the current decisions (every sample's action and new label, keeps included);
    "" when there are none. What a result derived from the reviews (a re-ranking) was made from."""
    if not len(decisions):
        return ""
    ids = decisions[schema.SAMPLE_ID].to_numpy(dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    labels = decisions[NEW_LABEL].fillna(-1).to_numpy(dtype=np.int64)[order]
    blob = json.dumps([ids[order].tolist(), decisions[ACTION].to_numpy()[order].tolist(), labels.tolist()]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def decision_per_sample(decisions: pd.DataFrame, n_samples: int) -> np.ndarray:
    """(n_samples,) object array: each sample's current action, '' when unreviewed."""
    out = np.full(n_samples, "", dtype=object)
    out[decisions[schema.SAMPLE_ID].to_numpy()] = decisions[ACTION].to_numpy()
    return out
