"""Reviewer decisions on flagged samples, stored in SQLite inside the run directory.

A run directory's `reviews.sqlite` (training samples; `test_reviews.sqlite` for the test
split, whose labels a person can check too) holds one append-only table, `reviews`: every action a
reviewer takes is one row (who, when, which sample, what), so the history is an audit log. Actions:

- `mislabeled`: the given label is wrong and the sample should leave the training set;
- `relabel`: the given label is wrong and `new_label` is the right one, in the run's task form
  (core.run.label_forms): a class index, a tag set (multi-label), or a value ("set value", regression);
- `keep`: a false alarm, the sample stays as it is;
- `clear`: withdraw the previous decision (the sample counts as unreviewed again).

Each row is a *vote* of its reviewer (their latest row on a sample), or a lead's *adjudication*
(`adjudicate`). The *current* decision of a sample is the consensus of its votes (core.run.votes): the lead's
adjudication, else its gold label, else the decision its votes agree on; a sample whose votes disagree has no
decision until a lead adjudicates it (`open_disagreements()`). With one reviewer this is its latest row, as before.

Every row records the state the sample is left in. `undo(reviewer)` reverts that reviewer's last
action (every sample of one bulk action) by appending rows that put each sample back in the state
that reviewer's vote had before, each naming the row it reverts in `undoes`; nothing is deleted, so the history
keeps both the decision and its undo, and undoing again steps further back.

Concurrency: the database runs in WAL mode with a busy timeout, and every call that
writes is one `BEGIN IMMEDIATE` transaction (a bulk action over many samples included),
so two browser tabs or two processes reviewing the same run at once lose nothing and
never see a half-applied bulk action. The file's tables and their migration: core.run.review_db; the team
tables (overlap, gold marks, leases): core.run.review_team.

`edits()` turns the current decisions into `ReviewEdits` (mislabeled -> removed, relabel -> relabelled, in the
task's label form) for "retrain with my reviews applied": the one path the retrain, the exports and the re-ranking
read. This module only stores and reads decisions.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core.auth.roles import Actor, acting
from core.errors import ConfigError
from core.run import schema
from core.run.label_forms import ClassForm, LabelForm, TagForm, form_of_run, make_form, tag_set
from core.run.review_db import (
    ACTION,
    ACTIONS,
    ADJUDICATION,
    BUSY_TIMEOUT_MS,
    CLEAR,
    CREATED,
    DETECTOR,
    KEEP,
    KIND,
    KINDS,
    MISLABELED,
    NEW_LABEL,
    RELABEL,
    REVIEW_ID,
    REVIEWER,
    SOURCE_KEY,
    UNDOES,
    VOTE,
    connect,
    transaction,
)
from core.run.review_team import TeamTables
from core.run.votes import Resolution, resolve

__all__ = ["ACTION", "ACTIONS", "ADJUDICATION", "BUSY_TIMEOUT_MS", "CLEAR", "CREATED", "DETECTOR", "KEEP", "KIND",
           "MISLABELED", "NEW_LABEL", "RELABEL", "REVIEWER", "REVIEW_ID", "SOURCE_KEY", "UNDOES", "VOTE"]

REVIEWS, TEST_REVIEWS = schema.REVIEWS, schema.TEST_REVIEWS
"""The review stores of the training and of the test samples (sample_id = row of the test split: their labels
can be checked too); the file names are defined in core.run.schema."""
STORE_FILES = {"train": REVIEWS, "test": TEST_REVIEWS}

DECISIONS = (MISLABELED, RELABEL, KEEP)
"""Actions that leave a decision in place (`clear` removes one)."""

REVIEW_COLUMNS = (REVIEW_ID, schema.SAMPLE_ID, ACTION, NEW_LABEL, REVIEWER, CREATED, DETECTOR, UNDOES, KIND,
                  SOURCE_KEY)
"""Columns of the reviews table and of every frame this module returns."""


def _now() -> str:
    """Milliseconds: the rows of one bulk action share their time stamp (what `undo` reverts together)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class ReviewEdits:
    """Reviewer decisions applied before retraining: samples removed and labels changed.

    `relabelled` maps a sample id to its new label in the task's form (core.run.label_forms): a class index, a
    sorted tuple of tag indices (multi-label), or a float value (regression). `apply` writes them into a labels
    array of the task's own form."""

    removed: set[int] = field(default_factory=set)
    relabelled: dict[int, int | tuple[int, ...] | float] = field(default_factory=dict)

    def key(self) -> str:
        if not self.removed and not self.relabelled:
            return ""
        relabelled = [(i, list(v) if isinstance(v, tuple) else v) for i, v in sorted(self.relabelled.items())]
        blob = json.dumps({"removed": sorted(self.removed), "relabelled": relabelled}).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """A copy of `labels` ((n,) classes, (n, C) 0/1 tag indicators, or (n,) values) with the relabels
        written in; a tag set goes into a 2-D array, a class or value into a 1-D one (anything else is refused)."""
        out = np.array(labels, copy=True)
        for sample_id, label in self.relabelled.items():
            if isinstance(label, tuple) != (out.ndim == 2):
                raise ConfigError(f"relabel {label!r} of sample {sample_id} does not fit labels of shape {out.shape}")
            if out.ndim == 2:
                out[sample_id] = 0
                out[sample_id, list(label)] = 1
            else:
                out[sample_id] = label
        return out


class ReviewStore(TeamTables):
    """The review log of one run directory (`<run>/reviews.sqlite`, created on first use).

    Cheap to construct: every method opens its own short-lived connection, so one store
    can be shared by threads, and separate processes can each hold their own.
    """

    def __init__(self, run_path: str | os.PathLike, n_samples: int | None = None,
                 n_classes: int | None = None, split: str = "train", given_labels: np.ndarray | None = None,
                 task: dict | str | None = None) -> None:
        if split not in STORE_FILES:
            raise ConfigError(f"unknown review split {split!r}; valid: {', '.join(STORE_FILES)}")
        self.split = split
        self.path = Path(run_path) / STORE_FILES[split]
        self.n_samples = n_samples
        """When given, sample ids are checked to lie in [0, n_samples)."""
        self.n_classes = n_classes
        """When given, relabel targets are checked to lie in [0, n_classes)."""
        self._given_labels = given_labels
        """(n,) given labels, so a relabel to the given class agrees with a keep; read from the run when None."""
        self._task = task
        """The task kind (a name or manifest entry); read from the run's manifest when None."""
        self._form: LabelForm | None = None

    @property
    def form(self) -> LabelForm:
        """How this run's relabels look (core.run.label_forms): classes, tag sets or values."""
        if self._form is None:
            self._form = (make_form(self._task, self.n_classes) if self._task is not None
                          else form_of_run(self.path.parent, self.n_classes))
        return self._form

    def _connect(self):
        return connect(self.path)

    def journal_mode(self) -> str:
        with self._connect() as connection:
            return connection.execute("PRAGMA journal_mode").fetchone()[0].lower()

    def given_labels(self) -> np.ndarray | list | None:
        """The split's given labels in the task's canonical form (classes (n,) int64, a list of tag tuples, values
        (n,) float64), None when the run has none (yet). A run whose table lacks its kind's given column is an error
        (core.run.label_forms), never read as another kind."""
        form = self.form
        if self._given_labels is not None:
            if isinstance(form, TagForm):  # (n, C) 0/1 indicators, or one tag-index list per sample
                if isinstance(self._given_labels, np.ndarray) and self._given_labels.ndim == 2:
                    return [tuple(np.flatnonzero(row).tolist()) for row in self._given_labels]
                return [tag_set(tags) for tags in self._given_labels]
            return np.asarray(self._given_labels, np.int64 if isinstance(form, ClassForm) else np.float64)
        if isinstance(form, ClassForm):
            try:
                return form.given_labels(self.path.parent, self.split)
            except (OSError, ValueError, KeyError):
                return None
        return form.given_labels(self.path.parent, self.split)

    # -- writing ------------------------------------------------------------------------
    def record(self, sample_ids: Iterable[int], action: str, reviewer: str | Actor, *, new_label: object = None,
               detector: str | None = None, kind: str = VOTE, source_keys: Sequence[str] | None = None) -> int:
        """Record one action on every sample in `sample_ids` in a single transaction.

        Returns the number of rows written. `new_label` is required for (and only for)
        `relabel`, in the run's task form (a class index, an iterable of tag indices, a number);
        `reviewer` must be a non-empty name. Each row is `reviewer`'s vote (`kind=VOTE`) or, through
        `adjudicate`, a lead's final decision. `source_keys` (one per sample) name the imported annotations: a
        row whose (reviewer, source key) is already stored is skipped, so importing one file twice adds nothing.
        `reviewer` may be an `Actor` (the dashboard's signed-in user): its role is checked here (record_review, or
        adjudicate for an adjudication) before anything is written.
        """
        if kind not in KINDS:
            raise ConfigError(f"unknown review kind {kind!r}; valid: {', '.join(KINDS)}")
        reviewer = acting(reviewer, "adjudicate" if kind == ADJUDICATION else "record_review")
        ids = [int(i) for i in sample_ids]
        label = self._check(ids, action, reviewer, new_label)
        keys = [None] * len(ids) if source_keys is None else [str(k) for k in source_keys]
        if len(keys) != len(ids):
            raise ConfigError(f"{len(ids)} samples but {len(keys)} source keys")
        if not ids:
            return 0
        created = _now()
        rows = [(sample_id, action, label, reviewer.strip(), created, detector, kind, key)
                for sample_id, key in zip(ids, keys)]
        with self._connect() as connection, transaction(connection):
            before = connection.total_changes
            ignore = "OR IGNORE " if source_keys is not None else ""  # only where a source key may repeat a row
            connection.executemany(
                f"INSERT {ignore}INTO reviews ({schema.SAMPLE_ID}, {ACTION}, {NEW_LABEL}, {REVIEWER}, {CREATED}, "
                f"{DETECTOR}, {KIND}, {SOURCE_KEY}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return connection.total_changes - before

    def adjudicate(self, sample_ids: Iterable[int], action: str, lead: str | Actor, *,
                   new_label: object = None) -> int:
        """The lead's final decision on `sample_ids` (`clear` withdraws it): it overrides the votes."""
        return self.record(sample_ids, action, lead, new_label=new_label, kind=ADJUDICATION)

    def _check(self, ids: list[int], action: str, reviewer: str, new_label: object) -> int | str | float | None:
        """Refuse a bad action; returns what the new_label column stores (None unless a relabel)."""
        if action not in ACTIONS:
            raise ConfigError(f"unknown review action {action!r}; valid actions: {', '.join(ACTIONS)}")
        if not reviewer or not reviewer.strip():
            raise ConfigError("a review needs the reviewer's name")
        if action == RELABEL:
            if new_label is None:
                raise ConfigError("a relabel review needs the new label")
            label = self.form.encode(self.form.check(new_label))
        elif new_label is not None:
            raise ConfigError(f"only a relabel review takes a new label, not {action!r}")
        if self.n_samples is not None:
            bad = [i for i in ids if not 0 <= i < self.n_samples]
            if bad:
                raise ConfigError(f"sample id(s) {bad[:5]} outside [0, {self.n_samples})")
        return label if action == RELABEL else None

    def _undoable(self, connection: sqlite3.Connection, reviewer: str) -> list[tuple]:
        """Rows (review_id, sample_id, action, new_label, detector, kind) of `reviewer`'s last action not undone yet:
        its latest such row and every row written with it (one bulk action shares its time stamp and action)."""
        not_undone = (f"{UNDOES} IS NULL AND {REVIEW_ID} NOT IN "
                      f"(SELECT {UNDOES} FROM reviews WHERE {UNDOES} IS NOT NULL)")
        last = connection.execute(
            f"SELECT {CREATED}, {ACTION}, {KIND} FROM reviews WHERE {REVIEWER} = ? AND {not_undone} "
            f"ORDER BY {REVIEW_ID} DESC LIMIT 1", (reviewer,)).fetchone()
        if last is None:
            return []
        return connection.execute(
            f"SELECT {REVIEW_ID}, {schema.SAMPLE_ID}, {ACTION}, {NEW_LABEL}, {DETECTOR}, {KIND} FROM reviews "
            f"WHERE {REVIEWER} = ? AND {CREATED} = ? AND {ACTION} = ? AND {KIND} = ? AND {not_undone} "
            f"ORDER BY {REVIEW_ID}", (reviewer, *last)).fetchall()

    def last_action(self, reviewer: str) -> pd.DataFrame:
        """The rows `undo(reviewer)` would revert (columns review_id, sample_id, action, new_label, detector); empty
        when there is nothing to undo."""
        columns = [REVIEW_ID, schema.SAMPLE_ID, ACTION, NEW_LABEL, DETECTOR]
        if not self.path.exists() or not reviewer or not reviewer.strip():
            return pd.DataFrame({column: [] for column in columns})
        with self._connect() as connection:
            rows = [row[:5] for row in self._undoable(connection, reviewer.strip())]
        return _decoded(pd.DataFrame(rows, columns=columns), self.form)

    def undo(self, reviewer: str | Actor) -> list[int]:
        """Revert `reviewer`'s last action not undone yet, in one transaction; returns the sample ids put back.

        Each sample's vote (or adjudication) by `reviewer` returns to the state its row before the undone one left
        it in (`clear` when there was none), written as a new row by `reviewer` with `undoes` = the undone row's id.
        Other reviewers' votes are theirs and stay. A sample `reviewer` decided again after that action keeps the
        later decision and is not in the result."""
        reviewer = acting(reviewer, "record_review")
        with self._connect() as connection, transaction(connection):
            return self._undo_rows(connection, reviewer)

    def _undo_rows(self, connection: sqlite3.Connection, reviewer: str) -> list[int]:
        created = _now()
        restored = []
        mine = f"{schema.SAMPLE_ID} = ? AND {REVIEWER} = ? AND {KIND} = ?"
        for review_id, sample_id, _, _, detector, kind in self._undoable(connection, reviewer):
            key = (sample_id, reviewer, kind)
            later = connection.execute(
                f"SELECT COUNT(*) FROM reviews WHERE {mine} AND {REVIEW_ID} > ? AND {UNDOES} IS NULL "
                f"AND {REVIEW_ID} NOT IN (SELECT {UNDOES} FROM reviews WHERE {UNDOES} IS NOT NULL)",
                (*key, review_id)).fetchone()[0]
            before = connection.execute(
                f"SELECT {ACTION}, {NEW_LABEL} FROM reviews WHERE {mine} AND {REVIEW_ID} < ? "
                f"ORDER BY {REVIEW_ID} DESC LIMIT 1", (*key, review_id)).fetchone()
            action, label = before if before is not None else (CLEAR, None)
            if later:
                # Decided again since: the later decision stands, but the action counts as undone.
                action, label = connection.execute(
                    f"SELECT {ACTION}, {NEW_LABEL} FROM reviews WHERE {mine} ORDER BY {REVIEW_ID} DESC LIMIT 1",
                    key).fetchone()
            else:
                restored.append(int(sample_id))
            connection.execute(
                f"INSERT INTO reviews ({schema.SAMPLE_ID}, {ACTION}, {NEW_LABEL}, {REVIEWER}, {CREATED}, {DETECTOR}, "
                f"{UNDOES}, {KIND}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sample_id, action, label, reviewer, created, detector, review_id, kind))
        return restored

    # -- reading ------------------------------------------------------------------------
    def history(self) -> pd.DataFrame:
        """Every review row (one per vote, adjudication or undo), oldest first (columns REVIEW_COLUMNS)."""
        if not self.path.exists():
            return _empty(self.form)
        with self._connect() as connection:
            frame = pd.read_sql_query(f"SELECT {', '.join(REVIEW_COLUMNS)} FROM reviews ORDER BY {REVIEW_ID}",
                                      connection)
        return _typed(frame, self.form)

    def resolution(self) -> Resolution:
        """Votes, decisions, open disagreements, adjudications and gold samples (core.run.votes.resolve)."""
        history = self.history()
        gold = self.gold() if self.path.exists() else {}
        needs_given = bool(len(history)) or bool(gold)
        return resolve(history, self.given_labels() if needs_given else None, gold, self.form)

    def decisions(self) -> pd.DataFrame:
        """The current decision per decided sample: the consensus of its votes (module docstring), `clear`ed
        samples and open disagreements left out. One row per sample_id, sorted by sample_id."""
        return self.resolution().decisions

    def open_disagreements(self) -> np.ndarray:
        """(d,) int64 samples whose votes disagree and that no lead has adjudicated: left out of `decisions()`."""
        return self.resolution().open_disagreements

    def edits(self) -> ReviewEdits:
        """The current decisions as retraining edits: mislabeled -> removed, relabel -> relabelled."""
        return edits_from_decisions(self.decisions())

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])


def _empty(form: LabelForm | None = None) -> pd.DataFrame:
    return _typed(pd.DataFrame({column: [] for column in REVIEW_COLUMNS}), form)


def _decoded(frame: pd.DataFrame, form: LabelForm | None) -> pd.DataFrame:
    """`new_label` as Int64 classes, or (other kinds) an object column of canonical labels, None where NULL."""
    if form is None or isinstance(form, ClassForm):
        return frame.astype({NEW_LABEL: "Int64"})
    labels = [None if raw is None or (isinstance(raw, float) and np.isnan(raw)) else form.decode(raw)
              for raw in frame[NEW_LABEL].astype(object)]
    out = frame.copy()
    out[NEW_LABEL] = pd.Series(labels, index=frame.index, dtype=object)
    return out


def _typed(frame: pd.DataFrame, form: LabelForm | None = None) -> pd.DataFrame:
    frame = frame.astype({REVIEW_ID: "int64", schema.SAMPLE_ID: "int64", ACTION: "object", REVIEWER: "object",
                          CREATED: "object", DETECTOR: "object", UNDOES: "Int64", KIND: "object", SOURCE_KEY: "object"})
    return _decoded(frame, form)


def edits_from_decisions(decisions: pd.DataFrame) -> ReviewEdits:
    """ReviewEdits from a `decisions()` frame."""

    actions = decisions[ACTION].to_numpy()
    ids = decisions[schema.SAMPLE_ID].to_numpy()
    relabel = actions == RELABEL
    return ReviewEdits(
        removed={int(i) for i in ids[actions == MISLABELED]},
        relabelled={int(i): _plain(label) for i, label in zip(ids[relabel],
                                                                decisions[NEW_LABEL].to_numpy()[relabel])},
    )


def _plain(label: object) -> int | tuple[int, ...] | float:
    """A decided label as a plain Python value of its kind (class int, tag tuple, float value)."""
    if isinstance(label, tuple):
        return tuple(int(t) for t in label)
    if isinstance(label, (float, np.floating)):
        return float(label)
    return int(label)


def decisions_key(decisions: pd.DataFrame) -> str:
    """A 16-hex fingerprint of the current decisions (every sample's action and new label, keeps included);
    "" when there are none. What a result derived from the reviews (a re-ranking) was made from."""
    if not len(decisions):
        return ""
    ids = decisions[schema.SAMPLE_ID].to_numpy(dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    raw = decisions[NEW_LABEL].to_numpy(dtype=object)[order]
    labels = [-1 if label is None or label is pd.NA else _plain(label) for label in raw]
    labels = [list(label) if isinstance(label, tuple) else label for label in labels]
    blob = json.dumps([ids[order].tolist(), decisions[ACTION].to_numpy()[order].tolist(), labels]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def decision_per_sample(decisions: pd.DataFrame, n_samples: int) -> np.ndarray:
    """(n_samples,) object array: each sample's current action, '' when unreviewed."""
    out = np.full(n_samples, "", dtype=object)
    out[decisions[schema.SAMPLE_ID].to_numpy()] = decisions[ACTION].to_numpy()
    return out
