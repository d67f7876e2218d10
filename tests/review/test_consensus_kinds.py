"""Consensus and agreement of multi-label and regression votes (core.review.consensus_kinds through
core.review.consensus), each figure computed by hand in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.review import consensus
from core.run import schema
from core.run.label_forms import TagForm, ValueForm
from core.run.reviews import KEEP, MISLABELED, RELABEL, REVIEWER, ReviewStore

GIVEN_TAGS = [[0], [1, 2], [3], [], []]
GIVEN_VALUES = np.array([10.0, 20.0, 30.0, 40.0])


def _tag_store(tmp_path) -> ReviewStore:
    return ReviewStore(tmp_path, n_samples=5, task={"name": "multilabel", "class_names": list("abcd")},
                       given_labels=GIVEN_TAGS)


def _value_store(tmp_path) -> ReviewStore:
    # tolerance = 0.1 × scale 5 = 0.5
    return ReviewStore(tmp_path, n_samples=4, task={"name": "regression", "center": 25.0, "scale": 5.0},
                       given_labels=GIVEN_VALUES)


def _tag_votes(store: ReviewStore) -> None:
    store.record([0], RELABEL, "ann", new_label=[0, 1])
    store.record([0], KEEP, "bob")  # the given {0}
    store.record([0], RELABEL, "cid", new_label=[0, 2])
    store.record([1], KEEP, "ann")  # the given {1, 2}
    store.record([1], RELABEL, "bob", new_label=[1])


def test_tags_take_the_per_tag_majority_and_ties_go_to_the_model(tmp_path):
    store = _tag_store(tmp_path)
    _tag_votes(store)
    assert store.open_disagreements().tolist() == [0, 1]
    probs = np.full((5, 4), 0.1)
    probs[1, 2] = 0.8  # sample 1's tie on tag 2 (1 vote of 2) goes to the model: present
    queue = consensus.adjudication_queue(store, probs=probs).set_index(schema.SAMPLE_ID)
    # Sample 0: tag shares 3/3, 1/3, 1/3, 0 -> {0}; agreeing shares 1, 2/3, 2/3, 1 -> quality 10/12.
    assert queue.loc[0, "consensus_label"] == [0]
    assert queue.loc[0, "consensus_quality"] == pytest.approx(10 / 12)
    # Sample 1: shares 0, 1, 1/2, 0 -> tie on tag 2 -> {1, 2}; agreeing 1, 1, 1/2, 1 -> 7/8.
    assert queue.loc[1, "consensus_label"] == [1, 2]
    assert queue.loc[1, "consensus_quality"] == pytest.approx(7 / 8)
    assert queue.loc[1, "suggested_label"] == [2]  # the model's own tags: sigmoid ≥ 0.5
    assert consensus.adjudication_queue(store, probs=None).set_index(schema.SAMPLE_ID).loc[1, "consensus_label"] == [1]


def test_accepting_the_tag_consensus_keeps_or_relabels(tmp_path):
    store = _tag_store(tmp_path)
    _tag_votes(store)
    assert consensus.accept_consensus(store, "lead", probs=None) == 2
    # Sample 0's consensus {0} is the given set: a keep; sample 1's {1} (the tie without a model): a relabel.
    assert store.edits().relabelled == {1: (1,)} and store.open_disagreements().tolist() == []


def test_tag_annotator_quality_and_alpha(tmp_path):
    store = _tag_store(tmp_path)
    _tag_votes(store)
    probs = np.full((5, 4), 0.1)
    probs[1, 2] = 0.8
    summary = consensus.team_summary(store, probs=probs)
    quality = {row["name"]: row["quality"] for row in summary["annotators"]}
    # (sample, tag) decisions agreeing with the consensus: ann 3/4 on 0, 4/4 on 1; bob 4/4, 3/4; cid 3/4.
    assert quality == {"ann": pytest.approx(7 / 8), "bob": pytest.approx(7 / 8), "cid": pytest.approx(3 / 4)}
    assert summary["consensus"]["quality_method"] == "multilabel"


def test_krippendorff_nominal_per_tag():
    votes = pd.DataFrame({schema.SAMPLE_ID: [0, 0, 1, 1], REVIEWER: ["a", "b", "a", "b"],
                          consensus.OUTCOME: [(0,), (0,), (1,), (0, 1)]})
    result = consensus.agreement(votes, TagForm(2))
    # Units (sample, tag): (1,1), (0,0), (0,1), (1,1): o11 = 4, o00 = 2, o01 = o10 = 1, n = 8, n1 = 5, n0 = 3;
    # Do = 2/8, De = 2·3·5/(8·7) = 30/56, alpha = 1 − (2/8)/(30/56) = 8/15.
    assert result["value"] == pytest.approx(8 / 15) and result["n_samples"] == 2
    # Tag 0: units (1,1), (0,1): Do = 2/4, De = 2·1·3/(4·3) = 1/2 -> 0; tag 1: (0,0), (1,1) -> 1.
    assert result["per_tag"] == {0: pytest.approx(0.0), 1: pytest.approx(1.0)}


def test_values_take_the_median_and_agree_within_the_tolerance(tmp_path):
    store = _value_store(tmp_path)
    store.record([0], KEEP, "ann")  # the given 10.0
    store.record([0], RELABEL, "bob", new_label=12.0)
    store.record([0], RELABEL, "cid", new_label=10.3)
    store.record([1], MISLABELED, "ann")
    store.record([1], RELABEL, "bob", new_label=20.0)
    assert store.open_disagreements().tolist() == [0, 1]
    queue = consensus.adjudication_queue(store, probs=np.array([[11.0], [19.0], [30.0], [40.0]]))
    queue = queue.set_index(schema.SAMPLE_ID)
    # Median of 10.0, 12.0, 10.3 = 10.3; within 0.5 of it: 10.0 and 10.3 -> quality 2/3.
    assert queue.loc[0, "consensus_label"] == pytest.approx(10.3)
    assert queue.loc[0, "consensus_quality"] == pytest.approx(2 / 3)
    assert queue.loc[0, "suggested_label"] == 11.0
    # Sample 1: the remove vote names no value; the one value vote is the consensus (quality 1).
    assert queue.loc[1, "consensus_label"] == 20.0 and queue.loc[1, "consensus_quality"] == 1.0
    assert consensus.accept_consensus(store, "lead", probs=None) == 2
    assert store.edits().relabelled == {0: pytest.approx(10.3)}  # 20.0 is sample 1's given value: a keep
    assert store.edits().removed == set()


def test_krippendorff_interval_for_values():
    votes = pd.DataFrame({schema.SAMPLE_ID: [0, 0, 1, 1, 2, 2, 3], REVIEWER: ["a", "b"] * 3 + ["a"],
                          consensus.OUTCOME: [10.0, 12.0, 20.0, 20.0, 30.0, 29.0, 99.0]})
    result = consensus.agreement(votes, ValueForm(0.5))
    # Sample 3 has one vote: left out. Do = (1/6)·(2·2² + 0 + 2·1²) = 10/6;
    # De = (1/(6·5))·2·(6·Σv² − (Σv)²) = 2·(6·2785 − 121²)/30 = 4138/30; alpha = 1 − Do/De = 1 − 50/4138.
    assert result == {"metric": "krippendorff_alpha_interval", "value": pytest.approx(1 - 50 / 4138),
                      "n_samples": 3}


def test_gradsift_reviews_json_on_a_value_run(digits_run, tmp_path):
    import json

    from typer.testing import CliRunner

    from core.cli.main import app
    from tests.kind_runs import regression_run

    run = regression_run(digits_run, tmp_path / "values")
    given = pd.read_parquet(run.file(schema.SAMPLES))[schema.GIVEN_VALUE].to_numpy()
    store = ReviewStore(run.path)  # tolerance: 0.1 × the fixture's scale 2.0 = 0.2
    store.record([0, 1], KEEP, "ann")
    store.record([0], RELABEL, "bob", new_label=float(given[0]) + 0.1)  # within 0.2 of the median: agree
    store.record([1], RELABEL, "bob", new_label=float(given[1]) + 1.0)  # each vote 0.5 from their median > 0.2: open
    result = CliRunner().invoke(app, ["reviews", str(run.path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["consensus"]["samples_decided"] == 1 and summary["consensus"]["disagreements_open"] == 1
    assert summary["agreement"]["metric"] == "krippendorff_alpha_interval"
    # Sample 0 is decided: relabel to the median given + 0.05.
    assert store.edits().relabelled == {0: pytest.approx(float(given[0]) + 0.05)}


def test_agreement_without_votes_is_none():
    empty = pd.DataFrame({schema.SAMPLE_ID: [], REVIEWER: [], consensus.OUTCOME: []})
    assert consensus.agreement(empty, TagForm(3))["value"] is None
    assert consensus.agreement(empty, ValueForm(0.5))["value"] is None


def test_gold_accuracy_of_tag_sets_and_of_values_within_the_tolerance(tmp_path):
    (tmp_path / "tags").mkdir()
    (tmp_path / "values").mkdir()
    tags = _tag_store(tmp_path / "tags")
    tags.mark_gold([0, 1], [[0, 1], [1, 2]], "lead")
    _tag_votes(tags)  # ann: {0, 1} on 0 (right), keep {1, 2} on 1 (right); bob: keep {0} (wrong), {1} (wrong)
    people = {p["name"]: p for p in consensus.team_summary(tags, probs=np.full((5, 4), 0.1))["annotators"]}
    assert (people["ann"]["gold_accuracy"], people["bob"]["gold_accuracy"]) == (1.0, 0.0)
    assert people["cid"]["gold_accuracy"] == 0.0 and people["cid"]["n_gold"] == 1

    values = _value_store(tmp_path / "values")  # tolerance 0.5
    values.mark_gold([0, 1], [12.0, 20.0], "lead")
    values.record([0], RELABEL, "ann", new_label=12.4)  # 0.4 from the gold value: right
    values.record([0], RELABEL, "bob", new_label=12.6)  # 0.6 from it: wrong
    values.record([1], KEEP, "ann")  # the given 20.0 is the gold value: right
    values.record([1], MISLABELED, "bob")  # a remove names no value: wrong
    people = {p["name"]: p for p in consensus.team_summary(values, probs=np.zeros((4, 1)))["annotators"]}
    assert (people["ann"]["gold_accuracy"], people["bob"]["gold_accuracy"]) == (1.0, 0.0)
    assert people["ann"]["n_gold"] == 2


def test_the_leased_queue_of_a_tag_run_mixes_in_its_gold_tag_sets(tmp_path):
    from core.review import assignment

    store = _tag_store(tmp_path)
    store.mark_gold([4], [[2]], "lead")
    ranking = [0, 2, 3]  # the flagged samples; the gold sample 4 is not flagged
    assert assignment.next_samples(store, ranking, "ann", count=2, now=0.0) == [0, 2]
    assert store.leases(now=1.0) == {0: ["ann"], 2: ["ann"]}
    # overlap 1: ann's leased samples are not bob's; the gold sample comes after the work (gold_every 10)
    assert assignment.next_samples(store, ranking, "bob", count=5, now=1.0) == [3, 4]
    store.record([0], RELABEL, "ann", new_label=[0, 1])
    store.record([4], RELABEL, "ann", new_label=[2])  # ann's gold answer: right
    assert assignment.annotator_queue(store, ranking, "ann", now=2.0) == [2]
    report = assignment.progress(store, ranking)
    assert report["overall"]["complete"] == 1 and report["overall"]["samples"] == 3
    assert report["annotators"][0]["gold_answered"] == 1
