"""Review decisions of multi-label (tag sets) and regression (set value) runs: storage without a migration, agreement,
the median of value votes within the tolerance, undo, edits in the task's label form, and loud refusals
(core.run.reviews, core.run.votes, core.run.label_forms)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError, RunDirError
from core.run import schema
from core.run.label_forms import TOLERANCE_FRACTION, ClassForm, TagForm, ValueForm, form_of_run, make_form
from core.run.review_db import REVIEW_DB_VERSION
from core.run.reviews import KEEP, MISLABELED, NEW_LABEL, RELABEL, ReviewEdits, ReviewStore

GIVEN_TAGS = [[0], [1, 2], [], [3], [0, 3]]
GIVEN_VALUES = np.array([10.0, 20.0, 30.0, 40.0, 50.0])


def _write_run(path, task: dict, class_names: list[str], columns: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / schema.MANIFEST).write_text(json.dumps({"task": task, "dataset": {"class_names": class_names}}))
    pd.DataFrame(columns).to_parquet(path / schema.SAMPLES)


@pytest.fixture
def tag_run(tmp_path):
    run = tmp_path / "tags"
    _write_run(run, {"name": "multilabel"}, ["cat", "dog", "car", "tree"],
               {schema.SAMPLE_ID: range(5), schema.GIVEN_TAGS: GIVEN_TAGS})
    return run


@pytest.fixture
def value_run(tmp_path):
    run = tmp_path / "values"
    _write_run(run, {"name": "regression", "center": 30.0, "scale": 5.0}, ["price"],
               {schema.SAMPLE_ID: range(5), schema.GIVEN_VALUE: GIVEN_VALUES})
    return run


def _decided(store: ReviewStore) -> dict:
    frame = store.decisions()
    return {int(i): (a, label) for i, a, label in zip(frame[schema.SAMPLE_ID], frame["action"], frame[NEW_LABEL])}


def test_the_form_comes_from_the_manifest(tag_run, value_run, tmp_path):
    assert isinstance(form_of_run(tag_run), TagForm) and form_of_run(tag_run).n_tags == 4
    assert isinstance(form_of_run(value_run), ValueForm)
    assert form_of_run(value_run).tolerance == pytest.approx(TOLERANCE_FRACTION * 5.0)
    assert isinstance(form_of_run(tmp_path / "none"), ClassForm)  # no manifest: a classification run


def test_a_tag_set_relabel_is_stored_as_json_in_the_existing_column(tag_run):
    store = ReviewStore(tag_run)
    store.record([0], RELABEL, "ann", new_label=[3, 0, 3])
    store.record([1], RELABEL, "ann", new_label=[2])  # one tag: still a set, not a class
    store.record([2], RELABEL, "ann", new_label=[])  # the empty set is a valid label
    with sqlite3.connect(store.path) as connection:
        raw = [row[0] for row in connection.execute(f"SELECT {NEW_LABEL} FROM reviews ORDER BY review_id")]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    assert raw == ["[0, 3]", "[2]", "[]"] and version == REVIEW_DB_VERSION == 2
    assert _decided(store) == {0: (RELABEL, (0, 3)), 1: (RELABEL, (2,)), 2: (KEEP, None)}  # [] is sample 2's given set
    assert store.edits().relabelled == {0: (0, 3), 1: (2,)}


def test_tag_votes_agree_on_the_same_set_and_a_relabel_to_the_given_set_is_a_keep(tag_run):
    store = ReviewStore(tag_run)
    store.record([0], KEEP, "ann")
    store.record([0], RELABEL, "bob", new_label=[0])  # the given set: a keep
    store.record([1], RELABEL, "ann", new_label=[1])
    store.record([1], RELABEL, "bob", new_label=[1, 2, 3])  # different sets: an open disagreement
    store.record([3], MISLABELED, "ann")
    store.record([3], MISLABELED, "bob")
    assert _decided(store) == {0: (KEEP, None), 3: (MISLABELED, None)}
    assert store.open_disagreements().tolist() == [1]
    store.adjudicate([1], RELABEL, "lead", new_label=[1, 3])
    assert store.edits().relabelled == {1: (1, 3)} and store.edits().removed == {3}


def test_bad_tag_relabels_are_refused(tag_run):
    store = ReviewStore(tag_run)
    with pytest.raises(ConfigError, match="tag index"):
        store.record([0], RELABEL, "ann", new_label=[4])
    with pytest.raises(ConfigError, match="set of tag indices"):
        store.record([0], RELABEL, "ann", new_label=2)
    with pytest.raises(ConfigError, match="gold label refused.*tag index"):
        store.mark_gold([0], [[4]], "lead")
    assert store.count() == 0 and store.gold() == {}


def test_value_votes_within_the_tolerance_agree_on_their_median(value_run):
    store = ReviewStore(value_run)  # tolerance 0.1 × scale 5 = 0.5
    store.record([0], RELABEL, "ann", new_label=12.0)
    store.record([0], RELABEL, "bob", new_label=12.4)
    store.record([0], RELABEL, "cid", new_label=12.1)  # median 12.1; every vote within 0.5 of it
    store.record([1], RELABEL, "ann", new_label=25.0)
    store.record([1], RELABEL, "bob", new_label=26.0)  # 0.5 either side of 25.5: still within
    store.record([2], RELABEL, "ann", new_label=31.2)
    store.record([2], KEEP, "bob")  # a keep votes for the given 30.0: 0.6 from their median 30.6, disagree
    store.record([3], KEEP, "ann")
    store.record([3], RELABEL, "bob", new_label=40.0)  # the given value: a keep
    store.record([4], RELABEL, "ann", new_label=5)  # an integer is a value too
    decided = _decided(store)
    assert decided[0] == (RELABEL, pytest.approx(12.1)) and decided[1] == (RELABEL, pytest.approx(25.5))
    assert decided[3] == (KEEP, None) and decided[4] == (RELABEL, 5.0)
    assert store.open_disagreements().tolist() == [2]
    assert store.edits().relabelled == {0: pytest.approx(12.1), 1: pytest.approx(25.5), 4: 5.0}


def test_a_removed_sample_stays_removed_next_to_value_relabels(value_run):
    store = ReviewStore(value_run)
    store.record([0, 1], MISLABELED, "ann")
    store.record([2], RELABEL, "ann", new_label=12.5)  # values decided elsewhere must not turn removes into values
    assert _decided(store) == {0: (MISLABELED, None), 1: (MISLABELED, None), 2: (RELABEL, 12.5)}
    assert store.edits() == ReviewEdits(removed={0, 1}, relabelled={2: 12.5})


def test_value_relabels_survive_sqlite_and_undo(value_run):
    store = ReviewStore(value_run)
    store.record([0], RELABEL, "ann", new_label=7.0)  # SQLite keeps a whole REAL as an integer
    store.record([0], RELABEL, "ann", new_label=7.25)
    assert _decided(store) == {0: (RELABEL, 7.25)}
    assert store.undo("ann") == [0]
    assert _decided(store) == {0: (RELABEL, 7.0)} and isinstance(store.edits().relabelled[0], float)
    assert store.last_action("ann")[NEW_LABEL].tolist() == [7.0]
    with pytest.raises(ConfigError, match="finite"):
        store.record([0], RELABEL, "ann", new_label=float("nan"))
    with pytest.raises(ConfigError, match="needs a number"):
        store.record([0], RELABEL, "ann", new_label="7")


def test_a_run_whose_table_lacks_its_kind_column_fails_loudly(tmp_path):
    run = tmp_path / "broken"
    _write_run(run, {"name": "multilabel"}, ["a", "b"], {schema.SAMPLE_ID: [0], schema.GIVEN_LABEL: [1]})
    store = ReviewStore(run)
    store.record([0], KEEP, "ann")
    with pytest.raises(RunDirError, match="given_tags"):
        store.decisions()


def test_edits_apply_in_each_task_form():
    tags = np.array([[1, 0, 0], [0, 1, 1]], np.uint8)
    applied = ReviewEdits(relabelled={1: (0,)}).apply(tags)
    assert applied.tolist() == [[1, 0, 0], [1, 0, 0]] and tags[1].tolist() == [0, 1, 1]
    assert ReviewEdits(relabelled={0: 2.5}).apply(np.array([1.0, 2.0])).tolist() == [2.5, 2.0]
    assert ReviewEdits(relabelled={0: 2}).apply(np.array([0, 1])).tolist() == [2, 1]
    with pytest.raises(ConfigError, match="does not fit"):
        ReviewEdits(relabelled={0: (1,)}).apply(np.array([0, 1]))
    assert ReviewEdits(relabelled={0: (1, 2)}).key() != ReviewEdits(relabelled={0: (1,)}).key()


def test_make_form_refuses_an_unknown_kind():
    with pytest.raises(ConfigError, match="unknown task kind"):
        make_form("ranking")


@settings(max_examples=40, deadline=None)
@given(tags=st.lists(st.integers(0, 11), max_size=12),
       value=st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12))
def test_labels_survive_the_sqlite_column_unchanged(tmp_path_factory, tags, value):
    """Whatever SQLite's INTEGER affinity does to a stored tag set or value, it reads back as it was written."""
    root = tmp_path_factory.mktemp("roundtrip")
    tag_store = ReviewStore(root, task={"name": "multilabel"}, n_classes=12, given_labels=[[0]])
    tag_store.record([0], RELABEL, "ann", new_label=tags)
    assert tag_store.history()[NEW_LABEL].tolist() == [tuple(sorted(set(tags)))]
    value_store = ReviewStore(root, task={"name": "regression", "scale": 1.0}, split="test", given_labels=[0.5])
    value_store.record([0], RELABEL, "ann", new_label=value)
    stored = value_store.history()[NEW_LABEL].tolist()
    assert stored == [value] and isinstance(stored[0], float)


def test_gold_tag_sets_are_stored_as_json_and_settle_their_samples(tag_run):
    store = ReviewStore(tag_run)
    assert store.mark_gold([0, 1], [[0], [2, 1, 2]], "lead") == 2  # one set each
    assert store.mark_gold([2, 3], [3], "lead") == 2  # one set for all: a list of tag indices
    store.mark_gold([4], [], "lead")  # the empty set is a label too
    with sqlite3.connect(store.path) as connection:
        raw = dict(connection.execute("SELECT sample_id, label FROM gold"))
    assert raw == {0: "[0]", 1: "[1, 2]", 2: "[3]", 3: "[3]", 4: "[]"}
    assert store.gold() == {0: (0,), 1: (1, 2), 2: (3,), 3: (3,), 4: ()}
    store.record([1], RELABEL, "ann", new_label=[1])
    store.record([1], KEEP, "bob")  # votes disagree, but the gold mark settles the sample
    # given [[0], [1, 2], [], [3], [0, 3]]: samples 0, 1 and 3 keep their given set, 2 and 4 are relabelled
    assert _decided(store) == {0: (KEEP, None), 1: (KEEP, None), 2: (RELABEL, (3,)), 3: (KEEP, None),
                               4: (RELABEL, ())}
    assert store.open_disagreements().tolist() == []
    assert store.edits().relabelled == {2: (3,), 4: ()}
    store.mark_gold([2], None, "lead")
    assert 2 not in store.gold() and 2 not in _decided(store)
    with pytest.raises(ConfigError, match="2 gold samples but 1 labels"):
        store.mark_gold([0, 1], [[0]], "lead")


def test_gold_values_are_stored_as_reals_and_checked(value_run):
    store = ReviewStore(value_run)
    store.mark_gold([0, 1], [10.0, 21], "lead")  # 10.0 is sample 0's given value; 21 an integer value
    store.mark_gold([2], 33.5, "lead")  # one value for all
    gold = store.gold()
    assert gold == {0: 10.0, 1: 21.0, 2: 33.5} and all(isinstance(v, float) for v in gold.values())
    assert _decided(store) == {0: (KEEP, None), 1: (RELABEL, 21.0), 2: (RELABEL, 33.5)}
    for bad, match in ((float("inf"), "finite"), ("7", "needs a number"), ([1.0, 2.0], "1 gold samples but 2")):
        with pytest.raises(ConfigError, match=match):
            store.mark_gold([3], bad, "lead")
    assert 3 not in store.gold()


def test_the_test_split_store_takes_tag_sets_and_values_against_the_test_labels(tag_run, value_run):
    np.save(tag_run / schema.TEST_LABELS, np.array([[1, 0, 0, 1], [0, 0, 0, 0]], np.uint8))
    tags = ReviewStore(tag_run, split="test", n_samples=2)
    assert tags.given_labels() == [(0, 3), ()]
    tags.record([0], RELABEL, "ann", new_label=[3, 0])  # the test label itself: a keep
    tags.record([1], RELABEL, "ann", new_label=[2])
    assert _decided(tags) == {0: (KEEP, None), 1: (RELABEL, (2,))}
    assert not ReviewStore(tag_run).history().shape[0]  # the training store is another file
    np.save(value_run / schema.TEST_LABELS, np.array([3.5, 7.0]))
    values = ReviewStore(value_run, split="test", n_samples=2)
    values.record([0], RELABEL, "ann", new_label=3.5)
    values.record([1], RELABEL, "ann", new_label=9.0)
    assert _decided(values) == {0: (KEEP, None), 1: (RELABEL, 9.0)}
    with pytest.raises(ConfigError, match="outside"):
        values.record([2], KEEP, "ann")
