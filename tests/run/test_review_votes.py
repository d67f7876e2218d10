"""Votes, consensus decisions, adjudication, gold marks, settings, imports' source keys, the migration of a store
written before votes existed, and four annotators writing at once (core.run.reviews, core.run.votes)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.run import reviews, schema
from core.run.review_db import REVIEW_DB_VERSION
from core.run.reviews import CLEAR, KEEP, MISLABELED, RELABEL, REVIEWER, ReviewStore

GIVEN = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])


def _actions(store: ReviewStore) -> dict[int, tuple]:
    frame = store.decisions()
    labels = [None if pd.isna(label) else int(label) for label in frame[reviews.NEW_LABEL]]
    return {int(i): (a, label) for i, a, label in zip(frame[schema.SAMPLE_ID], frame[reviews.ACTION], labels)}


def test_votes_agree_when_they_lead_to_the_same_training_label(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3, given_labels=GIVEN)
    store.record([0], KEEP, "ann")
    store.record([0], RELABEL, "bob", new_label=0)  # a relabel to the given class is a keep
    store.record([1], RELABEL, "ann", new_label=2)
    store.record([1], RELABEL, "bob", new_label=2)
    store.record([2], MISLABELED, "ann")
    store.record([2], MISLABELED, "bob")
    store.record([3], RELABEL, "ann", new_label=1)
    store.record([3], RELABEL, "bob", new_label=2)  # two different classes: disagree
    store.record([4], MISLABELED, "ann")
    store.record([4], RELABEL, "bob", new_label=0)  # remove vs relabel: disagree
    store.record([5], KEEP, "ann")
    store.record([5], MISLABELED, "bob")
    store.record([5], CLEAR, "bob")  # bob withdrew his vote: ann's keep stands alone
    assert _actions(store) == {0: (KEEP, None), 1: (RELABEL, 2), 2: (MISLABELED, None), 5: (KEEP, None)}
    assert store.open_disagreements().tolist() == [3, 4]
    assert store.edits().removed == {2} and store.edits().relabelled == {1: 2}


def test_adjudication_is_final_and_can_be_withdrawn(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3, given_labels=GIVEN)
    store.record([3], RELABEL, "ann", new_label=1)
    store.record([3], KEEP, "bob")
    assert store.open_disagreements().tolist() == [3] and _actions(store) == {}
    store.adjudicate([3], RELABEL, "lead", new_label=1)
    assert store.open_disagreements().tolist() == [] and _actions(store) == {3: (RELABEL, 1)}
    store.record([3], MISLABELED, "carol")  # a vote after the adjudication does not reopen it
    assert _actions(store) == {3: (RELABEL, 1)} and store.resolution().adjudicated.tolist() == [3]
    assert store.undo("lead") == [3]  # the lead's own action undone: the sample is open again
    assert store.open_disagreements().tolist() == [3]
    history = store.history()
    assert history[reviews.KIND].tolist().count(reviews.ADJUDICATION) == 2  # the adjudication and its undo


def test_gold_marks_settle_a_sample_with_its_known_label(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3, given_labels=GIVEN)
    assert store.mark_gold([6, 7], [0, 2], "lead") == 2
    store.record([6], MISLABELED, "ann")
    store.record([6], KEEP, "bob")
    assert store.gold() == {6: 0, 7: 2}
    assert _actions(store) == {6: (KEEP, None), 7: (RELABEL, 2)} and store.open_disagreements().tolist() == []
    store.mark_gold([7], None, "lead")
    assert store.gold() == {6: 0}
    with pytest.raises(ConfigError, match="class index"):
        store.mark_gold([1], 3, "lead")
    with pytest.raises(ConfigError, match="lead's name"):
        store.mark_gold([1], 0, " ")


def test_overlap_and_lease_settings(tmp_path):
    store = ReviewStore(tmp_path)
    assert store.overlap() == 1 and store.lease_seconds() == 600.0
    store.set_overlap(3, "lead")
    store.set_lease_seconds(30, "lead")
    assert ReviewStore(tmp_path).overlap() == 3 and ReviewStore(tmp_path).lease_seconds() == 30.0
    for bad in (0, 11, 2.5):
        with pytest.raises(ConfigError, match="overlap"):
            store.set_overlap(bad, "lead")


def test_source_keys_make_a_second_import_add_nothing(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10)
    assert store.record([1, 2], KEEP, "ann", source_keys=["a1", "a2"]) == 2
    assert store.record([1, 2], KEEP, "ann", source_keys=["a1", "a2"]) == 0
    assert store.record([1], KEEP, "bob", source_keys=["a1"]) == 1  # keys are per reviewer
    assert store.count() == 3
    with pytest.raises(ConfigError, match="source keys"):
        store.record([1, 2], KEEP, "ann", source_keys=["x"])


# The CREATE statement of the review store before votes existed (the release this code replaces), copied verbatim.
TODAYS_CREATE = """
CREATE TABLE IF NOT EXISTS reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('mislabeled', 'relabel', 'keep', 'clear')),
    new_label INTEGER,
    reviewer TEXT NOT NULL,
    created TEXT NOT NULL,
    detector TEXT,
    undoes INTEGER
);
CREATE INDEX IF NOT EXISTS reviews_by_sample ON reviews (sample_id, review_id);
"""


def test_a_store_of_the_previous_release_is_migrated_with_its_history(tmp_path):
    rows = [(1, 3, "mislabeled", None, "ann", "2026-01-01T10:00:00.000+00:00", "iforest", None),
            (2, 4, "relabel", 2, "ann", "2026-01-01T10:00:01.000+00:00", "iforest", None),
            (3, 4, "clear", None, "ann", "2026-01-01T10:00:02.000+00:00", "iforest", 2),
            (4, 5, "keep", None, "bob", "2026-01-01T10:00:03.000+00:00", None, None),
            (5, 5, "mislabeled", None, "ann", "2026-01-01T10:00:04.000+00:00", None, None)]
    with sqlite3.connect(tmp_path / reviews.REVIEWS) as connection:
        connection.executescript(TODAYS_CREATE)
        connection.executemany("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3, given_labels=GIVEN)
    history = store.history()
    assert [tuple(None if pd.isna(v) else v for v in row)
            for row in history[list(reviews.REVIEW_COLUMNS[:8])].astype(object).itertuples(index=False)] == rows
    assert set(history[reviews.KIND]) == {reviews.VOTE} and history[reviews.SOURCE_KEY].isna().all()
    with sqlite3.connect(tmp_path / reviews.REVIEWS) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == REVIEW_DB_VERSION
    assert _actions(store) == {3: (MISLABELED, None)}  # 4 cleared; on 5 bob and ann disagree
    assert store.open_disagreements().tolist() == [5]
    assert store.undo("ann") == [5] and _actions(store) == {3: (MISLABELED, None), 5: (KEEP, None)}
    store.adjudicate([5], MISLABELED, "lead")
    assert len(ReviewStore(tmp_path).history()) == len(rows) + 2  # reopened: nothing lost, nothing doubled


PLAN_SAMPLES, CHUNK = 120, 10


def _vote(worker: int, sample_id: int) -> tuple[str, int | None]:
    """Annotators 0 and 1 keep everything; 2 removes every 4th sample; 3 relabels every 5th to class 1."""
    if worker == 2 and sample_id % 4 == 0:
        return MISLABELED, None
    if worker == 3 and sample_id % 5 == 0:
        return RELABEL, 1
    return KEEP, None


def _annotate(run_path: str, worker: int) -> None:
    store = ReviewStore(run_path, n_samples=PLAN_SAMPLES, n_classes=3, given_labels=np.zeros(PLAN_SAMPLES, int))
    ids = list(range(worker * 20, worker * 20 + 60))  # each sample is decided by up to three annotators
    for start in range(0, len(ids), CHUNK):  # bulk actions of CHUNK samples, grouped by decision
        chunk = ids[start:start + CHUNK]
        groups: dict[tuple, list[int]] = {}
        for sample_id in chunk:
            groups.setdefault(_vote(worker, sample_id), []).append(sample_id)
        for (action, label), members in groups.items():
            store.record(members, action, f"annotator{worker}", new_label=label,
                         detector=f"bulk {worker}-{start}-{action}")  # tags the bulk action


def run_all(processes: list, timeout: float) -> None:
    """Start every process, then wait for each; each must end cleanly within `timeout` seconds."""
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
        assert process.exitcode == 0


def test_four_annotators_at_once_lose_nothing_and_count_every_disagreement(tmp_path):
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    workers = [context.Process(target=_annotate, args=(str(tmp_path), w)) for w in range(4)]
    run_all(workers, 120)
    store = ReviewStore(tmp_path, n_samples=PLAN_SAMPLES, n_classes=3, given_labels=np.zeros(PLAN_SAMPLES, int))
    history = store.history()
    assert len(history) == 4 * 60 and history[reviews.REVIEW_ID].is_unique
    expected_open = set()
    for sample_id in range(PLAN_SAMPLES):
        voters = [w for w in range(4) if w * 20 <= sample_id < w * 20 + 60]
        if len({_vote(w, sample_id) for w in voters}) > 1:
            expected_open.add(sample_id)
    assert set(store.open_disagreements().tolist()) == expected_open and len(expected_open) > 10
    for bulk, rows in history.groupby(reviews.DETECTOR):
        ids = rows[reviews.REVIEW_ID].to_numpy()
        assert (np.diff(np.sort(ids)) == 1).all(), f"{bulk} was interleaved with another writer's rows"
    assert len(store.decisions()) == PLAN_SAMPLES - len(expected_open)


def test_the_store_checks_the_acting_role_and_writes_nothing_when_refused(tmp_path):
    from core.auth.roles import Actor, PermissionDenied

    store = ReviewStore(tmp_path)
    viewer, annotator, lead = Actor("vic", "viewer"), Actor("ann", "annotator"), Actor("lee", "lead")
    with pytest.raises(PermissionDenied, match=r"vic \(viewer\) may not"):
        store.record([1, 2], MISLABELED, viewer)
    with pytest.raises(PermissionDenied):
        store.undo(viewer)
    for refused in (lambda: store.adjudicate([1], KEEP, annotator), lambda: store.set_overlap(2, annotator),
                    lambda: store.mark_gold([3], 1, annotator)):
        with pytest.raises(PermissionDenied, match=r"ann \(annotator\) may not"):
            refused()
    assert store.count() == 0 and store.overlap() == 1 and store.gold() == {}
    store.record([1], MISLABELED, annotator)
    store.adjudicate([1], KEEP, lead)
    assert set(store.history()[REVIEWER]) == {"ann", "lee"}  # the actor's name is what is recorded


def _retrain_while_annotating(run_path: str, rounds: int) -> None:
    from core.pipeline.retrain import retrain_seeds
    from core.run.rundir import RunDir

    for _ in range(rounds):  # each round reads the decisions as they stand mid-writing
        edits = ReviewStore(run_path).edits()
        retrain_seeds(RunDir(run_path), "l2", 0.05, mode="probe", seeds=1, reviews=edits)


def test_four_annotators_and_a_retrain_at_once(digits_run, tmp_path):
    import shutil

    run_path = shutil.copytree(digits_run.path, tmp_path / "run")
    # spawn, not fork: a child forked from a process whose torch already started its thread pools can hang in
    # its first parallel region (the retraining's), as it did here inside the whole suite.
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_annotate, args=(str(run_path), w)) for w in range(4)]
    workers.append(context.Process(target=_retrain_while_annotating, args=(str(run_path), 3)))
    run_all(workers, 300)
    store = ReviewStore(run_path, n_samples=PLAN_SAMPLES, n_classes=3, given_labels=np.zeros(PLAN_SAMPLES, int))
    assert len(store.history()) == 4 * 60  # nothing lost to the concurrent retraining
    assert len(store.open_disagreements()) > 10
    results = pd.read_parquet(run_path / schema.RETRAIN)
    assert (results["reviews_key"].fillna("") != "").any()  # the retraining read decisions while they were written
