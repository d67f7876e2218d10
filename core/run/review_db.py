"""The review store's SQLite file: its tables, the migration of older files, connections and transactions.

Tables (REVIEW_DB_VERSION 2, kept in `PRAGMA user_version`):

- `reviews`: append-only, one row per action. `kind` says whose decision a row is: `vote` (an annotator's; each
  annotator's latest row on a sample is its vote) or `adjudication` (a lead's final decision on a sample).
  `source_key` names the annotation a row was imported from (unique per reviewer), so importing one file twice
  adds nothing.
- `settings`: append-only (name, value, lead, created); the latest row of a name counts (`overlap`, `lease_seconds`).
- `gold`: append-only marks of gold samples (a known label; NULL withdraws the mark), the latest per sample counts.
- `leases`: which annotator was shown a sample until when (not history: a lease only keeps two annotators from
  racing to one sample, so expired rows are replaced).

A file written before votes existed (version 0: `reviews` without `undoes`, `kind` or `source_key`) is migrated
on open in one `BEGIN IMMEDIATE` transaction: columns are added, every row is kept as it was and reads as a vote.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

from core.errors import ConfigError, RunDirError
from core.run import schema

REVIEW_DB_VERSION = 2
BUSY_TIMEOUT_MS = 30_000

MISLABELED, RELABEL, KEEP, CLEAR = "mislabeled", "relabel", "keep", "clear"
ACTIONS = (MISLABELED, RELABEL, KEEP, CLEAR)
VOTE, ADJUDICATION = "vote", "adjudication"
KINDS = (VOTE, ADJUDICATION)

REVIEW_ID, ACTION, NEW_LABEL = "review_id", "action", "new_label"
REVIEWER, CREATED, DETECTOR, UNDOES = "reviewer", "created", "detector", "undoes"
KIND, SOURCE_KEY = "kind", "source_key"

CREATE_V0 = f"""
CREATE TABLE IF NOT EXISTS reviews (
    {REVIEW_ID} INTEGER PRIMARY KEY AUTOINCREMENT,
    {schema.SAMPLE_ID} INTEGER NOT NULL,
    {ACTION} TEXT NOT NULL CHECK ({ACTION} IN ({", ".join(repr(a) for a in ACTIONS)})),
    {NEW_LABEL} INTEGER,
    {REVIEWER} TEXT NOT NULL,
    {CREATED} TEXT NOT NULL,
    {DETECTOR} TEXT
);
CREATE INDEX IF NOT EXISTS reviews_by_sample ON reviews ({schema.SAMPLE_ID}, {REVIEW_ID});
"""

CREATE_V2 = f"""
CREATE UNIQUE INDEX IF NOT EXISTS reviews_by_source ON reviews ({REVIEWER}, {SOURCE_KEY})
    WHERE {SOURCE_KEY} IS NOT NULL;
CREATE TABLE IF NOT EXISTS settings (
    setting_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, value TEXT NOT NULL,
    lead TEXT NOT NULL, {CREATED} TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gold (
    gold_id INTEGER PRIMARY KEY AUTOINCREMENT, {schema.SAMPLE_ID} INTEGER NOT NULL, label INTEGER,
    lead TEXT NOT NULL, {CREATED} TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    {schema.SAMPLE_ID} INTEGER NOT NULL, {REVIEWER} TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY ({schema.SAMPLE_ID}, {REVIEWER}));
"""

_ADDED_COLUMNS = ((UNDOES, "INTEGER"), (KIND, f"TEXT NOT NULL DEFAULT '{VOTE}'"), (SOURCE_KEY, "TEXT"))

T = TypeVar("T")


def retry(statement: Callable[[], T], attempts: int = 50) -> T:
    """Run a statement that SQLite may refuse with 'database is locked' while another connection switches the
    journal mode or migrates the file (busy_timeout does not cover those)."""
    for attempt in range(attempts):
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the file to REVIEW_DB_VERSION in one immediate transaction (a no-op when another process did)."""
    if connection.execute("PRAGMA user_version").fetchone()[0] >= REVIEW_DB_VERSION:
        return
    retry(lambda: connection.execute("BEGIN IMMEDIATE"))
    try:
        if connection.execute("PRAGMA user_version").fetchone()[0] < REVIEW_DB_VERSION:
            for statement in CREATE_V0.split(";"):
                if statement.strip():
                    connection.execute(statement)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(reviews)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in columns:
                    connection.execute(f"ALTER TABLE reviews ADD COLUMN {name} {declaration}")
            for statement in CREATE_V2.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {REVIEW_DB_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated connection in WAL mode with a busy timeout (autocommit; writers use `transaction`)."""
    if not path.parent.is_dir():
        raise ConfigError(f"run directory {path.parent} does not exist")
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        with closing(connection):
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                retry(lambda: connection.execute("PRAGMA journal_mode = WAL"))
            connection.execute("PRAGMA synchronous = NORMAL")
            _migrate(connection)
            yield connection
    except sqlite3.DatabaseError as exc:  # corrupted file, read-only directory, full disk
        raise RunDirError(f"{path} cannot be used ({exc}); check the file and the directory's "
                          "permissions, or move the file away to start a new review log") from exc


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One BEGIN IMMEDIATE transaction: every write in it lands together or not at all."""
    retry(lambda: connection.execute("BEGIN IMMEDIATE"))
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
