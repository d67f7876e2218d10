"""core.run.reviews: the SQLite review log, its decisions, undo, and concurrent writers (its exports:
tests/export)."""

from __future__ import annotations

import multiprocessing
import sys

import pandas as pd
import pytest

from core.errors import ConfigError
from core.run import reviews, schema
from core.run.reviews import CLEAR, KEEP, MISLABELED, RELABEL, ReviewStore


def test_record_and_decisions(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3)
    assert store.history().empty and store.decisions().empty and store.count() == 0
    assert store.record([1, 2], MISLABELED, "ann") == 2
    store.record([2], KEEP, "bob", detector="iforest")
    store.record([3], RELABEL, "ann", new_label=2)
    store.record([4], KEEP, "ann")
    store.record([4], CLEAR, "ann")
    history = store.history()
    assert list(history.columns) == list(reviews.REVIEW_COLUMNS)
    assert history[schema.SAMPLE_ID].tolist() == [1, 2, 2, 3, 4, 4]
    assert history[reviews.CREATED].is_monotonic_increasing
    decisions = store.decisions()
    # ann and bob disagree on sample 2: no decision until a lead adjudicates (not the latest row, as before votes)
    assert decisions[[schema.SAMPLE_ID, reviews.ACTION]].values.tolist() == [[1, MISLABELED], [3, RELABEL]]
    assert store.open_disagreements().tolist() == [2]
    store.adjudicate([2], KEEP, "lead")
    decisions = store.decisions()
    assert decisions[[schema.SAMPLE_ID, reviews.ACTION]].values.tolist() == [[1, MISLABELED], [2, KEEP], [3, RELABEL]]
    assert store.open_disagreements().tolist() == []
    edits = store.edits()
    assert edits.removed == {1} and edits.relabelled == {3: 2} and edits.key()
    assert store.journal_mode() == "wal"
    per_sample = reviews.decision_per_sample(decisions, 10)
    assert per_sample.tolist() == ["", MISLABELED, KEEP, RELABEL] + [""] * 6


def test_survives_a_new_store_object(tmp_path):
    ReviewStore(tmp_path).record([5], MISLABELED, "ann")
    assert ReviewStore(tmp_path).edits().removed == {5}


@pytest.mark.parametrize("kwargs, message", [
    (dict(action="delete", reviewer="ann"), "unknown review action"),
    (dict(action=MISLABELED, reviewer="  "), "reviewer's name"),
    (dict(action=RELABEL, reviewer="ann"), "needs the new label"),
    (dict(action=RELABEL, reviewer="ann", new_label=3), "not a class index"),
    (dict(action=KEEP, reviewer="ann", new_label=1), "only a relabel"),
])
def test_invalid_reviews_are_refused(tmp_path, kwargs, message):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3)
    with pytest.raises(ConfigError, match=message):
        store.record([1], **kwargs)
    assert store.count() == 0


def test_out_of_range_ids_refuse_the_whole_bulk_action(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10)
    with pytest.raises(ConfigError, match="outside"):
        store.record([1, 2, 99], MISLABELED, "ann")
    assert store.count() == 0


def test_missing_run_directory(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ReviewStore(tmp_path / "nope").record([1], KEEP, "ann")


def _write_reviews(run_path: str, worker: int, count: int) -> None:
    store = ReviewStore(run_path, n_samples=1000)
    for i in range(count):  # one transaction each: maximal interleaving with the other writer
        store.record([worker * count + i], MISLABELED if i % 2 else KEEP, f"worker{worker}")


def test_two_processes_reviewing_at_once_lose_nothing(tmp_path):
    # fork starts in milliseconds; the children use only sqlite3 (no torch threads to inherit).
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    workers = [context.Process(target=_write_reviews, args=(str(tmp_path), w, 200)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    history = ReviewStore(tmp_path).history()
    assert len(history) == 400
    assert sorted(history[schema.SAMPLE_ID]) == list(range(400))
    assert history[reviews.REVIEWER].value_counts().to_dict() == {"worker0": 200, "worker1": 200}
    assert history[reviews.REVIEW_ID].is_unique


def _state(store: ReviewStore) -> dict[int, tuple]:
    decisions = store.decisions()
    return {int(row[schema.SAMPLE_ID]): (row[reviews.ACTION], None if pd.isna(row[reviews.NEW_LABEL])
                                         else int(row[reviews.NEW_LABEL])) for _, row in decisions.iterrows()}


def test_undo_steps_back_through_decisions_and_keeps_the_history(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3)
    store.record([1], KEEP, "ann")
    store.record([1], RELABEL, "ann", new_label=2)
    store.record([4, 5], MISLABELED, "ann")  # one bulk action
    store.record([7], KEEP, "bob")
    assert store.last_action("ann")[schema.SAMPLE_ID].tolist() == [4, 5]
    assert store.undo("ann") == [4, 5]  # the whole bulk action, back to unreviewed
    assert _state(store) == {1: (RELABEL, 2), 7: (KEEP, None)}
    assert store.undo("ann") == [1]  # the relabel: back to keep
    assert _state(store) == {1: (KEEP, None), 7: (KEEP, None)}
    assert store.undo("ann") == [1]
    assert _state(store) == {7: (KEEP, None)}
    assert store.undo("ann") == [] and store.last_action("ann").empty  # nothing left of ann's
    history = store.history()
    assert len(history) == 5 + 4  # nothing deleted: 5 decision rows, 4 undo rows
    undone = history.loc[history[reviews.UNDOES].notna(), reviews.UNDOES].astype(int).tolist()
    assert undone == [3, 4, 2, 1]  # each undo row names the row it reverts
    assert store.decisions()[schema.SAMPLE_ID].tolist() == [7]  # bob's decision untouched


def test_undo_withdraws_only_the_reviewers_own_vote(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3)
    store.record([2], MISLABELED, "ann")
    store.record([2], KEEP, "bob")
    assert _state(store) == {} and store.open_disagreements().tolist() == [2]  # two votes that disagree
    assert store.undo("ann") == [2]  # ann's vote withdrawn; bob's vote is his and stays
    assert _state(store) == {2: (KEEP, None)}
    assert store.last_action("ann").empty
    assert store.undo("bob") == [2]
    assert _state(store) == {}


def test_undo_keeps_a_later_decision_by_the_same_reviewer(tmp_path):
    store = ReviewStore(tmp_path, n_samples=10, n_classes=3)
    store.record([2, 3], MISLABELED, "ann")
    store.record([2], KEEP, "ann")
    store.record([5], RELABEL, "ann", new_label=1)
    assert store.undo("ann") == [5]
    assert store.undo("ann") == [2]  # the keep on 2 is undone: back to mislabeled
    assert store.undo("ann") == [2, 3]
    assert _state(store) == {}


def test_undo_needs_a_name(tmp_path):
    with pytest.raises(ConfigError, match="reviewer's name"):
        ReviewStore(tmp_path).undo(" ")


def test_a_log_from_before_undo_gains_the_column(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / reviews.REVIEWS) as connection:
        connection.executescript(
            "CREATE TABLE reviews (review_id INTEGER PRIMARY KEY AUTOINCREMENT, sample_id INTEGER NOT NULL, "
            "action TEXT NOT NULL, new_label INTEGER, reviewer TEXT NOT NULL, created TEXT NOT NULL, detector TEXT);"
            "INSERT INTO reviews (sample_id, action, reviewer, created) VALUES (3, 'keep', 'ann', '2025-01-01');")
    store = ReviewStore(tmp_path)
    assert store.history()[reviews.UNDOES].isna().all() and _state(store) == {3: (KEEP, None)}
    assert store.undo("ann") == [3] and store.decisions().empty
