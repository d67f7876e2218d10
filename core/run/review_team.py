"""The review store's team tables: overlap and lease settings, gold marks, leases (core.run.review_db).

`TeamTables` is mixed into `ReviewStore`; it only stores and reads. Who may set these (a lead) is checked by the
caller (core.auth, when users are configured); the API takes the lead's plain name. Queues, progress and
consensus are computed from these in core.review.assignment and core.review.consensus.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.auth.roles import Actor, acting
from core.errors import ConfigError
from core.run import schema
from core.run.label_forms import LabelForm, TagForm
from core.run.review_db import CREATED, REVIEWER, connect, transaction

OVERLAP, LEASE_SECONDS = "overlap", "lease_seconds"
DEFAULT_OVERLAP = 1
"""How many annotators must decide each flagged sample unless a lead sets more (2 or 3 for a double check)."""
MAX_OVERLAP = 10
DEFAULT_LEASE_SECONDS = 600.0
"""How long a sample shown to one annotator stays reserved for it (10 minutes)."""


class TeamTables:
    """Settings, gold marks and leases of one review store (`self.path`, `self.n_samples`, `self.form`)."""

    path: Path
    n_samples: int | None
    n_classes: int | None
    form: LabelForm
    """The run's label form (ReviewStore.form): what a gold label is."""

    def _now(self) -> str:
        return datetime.now(timezone.utc).isoformat(timespec="milliseconds")

    # -- settings -------------------------------------------------------------------------
    def set_overlap(self, overlap: int, lead: str | Actor) -> None:
        """How many annotators must decide each flagged sample (1 to MAX_OVERLAP)."""
        if not isinstance(overlap, (int, np.integer)) or not 1 <= int(overlap) <= MAX_OVERLAP:
            raise ConfigError(f"overlap must be an integer in [1, {MAX_OVERLAP}], got {overlap!r}")
        self._set(OVERLAP, str(int(overlap)), acting(lead, "set_overlap"))

    def set_lease_seconds(self, seconds: float, lead: str | Actor) -> None:
        """How long a sample shown to an annotator stays leased to it (> 0 seconds)."""
        if not float(seconds) > 0:
            raise ConfigError(f"the lease must last more than 0 seconds, got {seconds!r}")
        self._set(LEASE_SECONDS, repr(float(seconds)), acting(lead, "set_overlap"))

    def _set(self, name: str, value: str, lead: str) -> None:
        with connect(self.path) as connection, transaction(connection):
            connection.execute(f"INSERT INTO settings (name, value, lead, {CREATED}) VALUES (?, ?, ?, ?)",
                               (name, value, lead, self._now()))

    def _setting(self, name: str) -> str | None:
        if not self.path.exists():
            return None
        with connect(self.path) as connection:
            row = connection.execute("SELECT value FROM settings WHERE name = ? ORDER BY setting_id DESC LIMIT 1",
                                     (name,)).fetchone()
        return None if row is None else row[0]

    def overlap(self) -> int:
        value = self._setting(OVERLAP)
        return DEFAULT_OVERLAP if value is None else int(value)

    def lease_seconds(self) -> float:
        value = self._setting(LEASE_SECONDS)
        return DEFAULT_LEASE_SECONDS if value is None else float(value)

    # -- gold -----------------------------------------------------------------------------
    def mark_gold(self, sample_ids: Iterable[int], labels: object, lead: str | Actor) -> int:
        """Mark samples gold with their known label in the run's form (core.run.label_forms: a class index, a tag set,
        a value): one label for all, or one each; `labels=None` withdraws the marks. One transaction; returns the
        number of marks written.

        One label for all is a class index or a value (a number), or one tag set (a sequence of tag indices, `[]`
        included); a sequence of labels gives one each (a list of tag sets for a multi-label run). Each label is
        checked and stored as a relabel's `new_label` is (a tag set as JSON text, a value as a REAL)."""
        lead = acting(lead, "set_gold")
        ids = [int(i) for i in sample_ids]
        try:
            values = [None if label is None else self.form.encode(self.form.check(label))
                      for label in self._gold_labels(labels, len(ids))]
        except ConfigError as exc:
            raise ConfigError(f"gold label refused: {exc}") from None
        if self.n_samples is not None and any(not 0 <= i < self.n_samples for i in ids):
            raise ConfigError(f"gold sample id(s) outside [0, {self.n_samples})")
        created = self._now()
        with connect(self.path) as connection, transaction(connection):
            connection.executemany(f"INSERT INTO gold ({schema.SAMPLE_ID}, label, lead, {CREATED}) VALUES (?, ?, ?, ?)",
                                   [(i, v, lead, created) for i, v in zip(ids, values)])
        return len(ids)

    def _gold_labels(self, labels: object, count: int) -> list:
        """`mark_gold`'s labels as one (unchecked) label per sample."""
        one_for_all = labels is None or isinstance(labels, (str, bytes, int, float, np.number))
        if isinstance(self.form, TagForm) and not one_for_all:
            items = list(labels)
            one_for_all = all(isinstance(t, (int, np.integer)) for t in items)  # one tag set ([] included)
            labels = items
        if one_for_all:
            return [labels] * count
        values = list(labels)
        if len(values) != count:
            raise ConfigError(f"{count} gold samples but {len(values)} labels")
        return values

    def gold(self) -> dict[int, object]:
        """{sample_id: known label} of the samples currently marked gold, in the run's canonical form (a class int, a
        sorted tag tuple, a float value)."""
        if not self.path.exists():
            return {}
        with connect(self.path) as connection:
            rows = connection.execute(
                f"SELECT {schema.SAMPLE_ID}, label FROM gold WHERE gold_id IN "
                f"(SELECT MAX(gold_id) FROM gold GROUP BY {schema.SAMPLE_ID})").fetchall()
        return {int(i): self.form.decode(label) for i, label in rows if label is not None}

    # -- leases ---------------------------------------------------------------------------
    def take_leases(self, choose, reviewer: str | Actor, now: float | None = None) -> list[int]:
        """Lease to `reviewer` the samples `choose(active_leases)` picks, in one immediate transaction, so two
        annotators asking at once never get the same sample when the overlap does not call for it.

        `active_leases` is {sample_id: [reviewers holding an unexpired lease]} read inside the transaction;
        `choose` returns the sample ids to lease (in order). Expired leases are dropped on the way."""
        reviewer = acting(reviewer, "record_review")
        now = time.time() if now is None else float(now)
        expires = now + self.lease_seconds()
        with connect(self.path) as connection, transaction(connection):
            connection.execute("DELETE FROM leases WHERE expires <= ?", (now,))
            active: dict[int, list[str]] = {}
            for sample_id, holder in connection.execute(f"SELECT {schema.SAMPLE_ID}, {REVIEWER} FROM leases"):
                active.setdefault(int(sample_id), []).append(holder)
            chosen = [int(i) for i in choose(active)]
            connection.executemany(
                f"INSERT OR REPLACE INTO leases ({schema.SAMPLE_ID}, {REVIEWER}, expires) VALUES (?, ?, ?)",
                [(i, reviewer, expires) for i in chosen])
        return chosen

    def release(self, reviewer: str, sample_ids: Iterable[int] | None = None) -> None:
        """Drop `reviewer`'s leases (on `sample_ids`, or all)."""
        with connect(self.path) as connection, transaction(connection):
            if sample_ids is None:
                connection.execute(f"DELETE FROM leases WHERE {REVIEWER} = ?", (reviewer.strip(),))
            else:
                connection.executemany(f"DELETE FROM leases WHERE {REVIEWER} = ? AND {schema.SAMPLE_ID} = ?",
                                       [(reviewer.strip(), int(i)) for i in sample_ids])

    def leases(self, now: float | None = None) -> dict[int, list[str]]:
        """{sample_id: reviewers holding an unexpired lease}."""
        if not self.path.exists():
            return {}
        now = time.time() if now is None else float(now)
        with connect(self.path) as connection:
            rows = connection.execute(f"SELECT {schema.SAMPLE_ID}, {REVIEWER} FROM leases WHERE expires > ?",
                                      (now,)).fetchall()
        out: dict[int, list[str]] = {}
        for sample_id, holder in rows:
            out.setdefault(int(sample_id), []).append(holder)
        return out
