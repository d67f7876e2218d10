"""core.review.consensus (CROWDLAB, agreement, the adjudication queue, the team summary, blind review) and
core.review.assignment (queues with overlap, leases, gold samples, progress) on small hand-made stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.review import assignment, consensus
from core.review.team_simulation import answers, majority_vote, simulate_votes
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL, REVIEWER, ReviewStore

N, C = 40, 3
GIVEN = np.arange(N) % C


def _probs(truth: np.ndarray, confidence: float = 0.6) -> np.ndarray:
    probs = np.full((len(truth), C), (1 - confidence) / (C - 1))
    probs[np.arange(len(truth)), truth] = confidence
    return probs


def _store(tmp_path) -> ReviewStore:
    return ReviewStore(tmp_path, n_samples=N, n_classes=C, given_labels=GIVEN)


def test_agreement_is_krippendorffs_alpha_on_the_outcomes():
    perfect = pd.DataFrame({schema.SAMPLE_ID: [0, 0, 1, 1, 2, 2], REVIEWER: ["a", "b"] * 3,
                            consensus.OUTCOME: [0, 0, 1, 1, -1, -1]})
    assert consensus.agreement(perfect)["value"] == pytest.approx(1.0)
    # Units (0, 1) and (1, 0), by hand: coincidences o01 = o10 = 2, n0 = n1 = 2, n = 4; observed disagreement
    # Do = 4/4 = 1, expected De = 2 * n0 * n1 / (n (n - 1)) = 8/12; alpha = 1 - Do/De = -0.5
    crossed = pd.DataFrame({schema.SAMPLE_ID: [0, 0, 1, 1], REVIEWER: ["a", "b", "a", "b"],
                            consensus.OUTCOME: [0, 1, 1, 0]})
    assert consensus.agreement(crossed)["value"] == pytest.approx(-0.5)
    single = perfect[perfect[REVIEWER] == "a"]
    assert consensus.agreement(single) == {"metric": consensus.AGREEMENT_METRIC, "value": None, "n_samples": 0}


def test_crowdlab_follows_the_better_annotator_and_ranks_quality():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, C, 200)
    votes = pd.concat([pd.DataFrame({schema.SAMPLE_ID: np.arange(200), REVIEWER: name,
                                     consensus.OUTCOME: answers(truth, accuracy, C, rng)})
                       for name, accuracy in (("good", 0.95), ("fair", 0.75), ("poor", 0.5))])
    lab = consensus.crowdlab(votes, _probs(truth, 0.5))
    quality = lab.annotators["annotator_quality"]
    assert quality["good"] > quality["fair"] > quality["poor"]
    accuracy = (lab.labels["consensus_label"].to_numpy() == truth[lab.labels.index.to_numpy()]).mean()
    assert accuracy > 0.95
    majority = majority_vote(votes, rng)
    assert accuracy >= (majority.to_numpy() == truth).mean()


def test_remove_votes_enter_crowdlab_as_missing_labels():
    votes = pd.DataFrame({schema.SAMPLE_ID: [0, 0, 1, 1, 2, 2], REVIEWER: ["a", "b"] * 3,
                          consensus.OUTCOME: [0, -1, 1, 1, -1, -1]})
    matrix = consensus.vote_matrix(votes, classes_only=True)
    assert np.isnan(matrix.loc[0, "b"]) and matrix.loc[0, "a"] == 0 and matrix.loc[2].isna().all()


def test_adjudication_queue_shows_votes_and_the_model_side_by_side(tmp_path):
    store = _store(tmp_path)
    truth = GIVEN.copy()
    store.record([1, 2], KEEP, "ann")
    store.record([1], RELABEL, "bob", new_label=2)
    store.record([2], KEEP, "bob")
    store.record([3], MISLABELED, "ann")
    store.record([3], KEEP, "bob")
    for i in range(4, 20):  # enough agreeing votes for CROWDLAB to run
        store.record([i], KEEP, "ann")
        store.record([i], KEEP, "bob")
    queue = consensus.adjudication_queue(store, _probs(truth))
    disagreements = queue[queue["reason"] == "disagreement"]
    assert disagreements[schema.SAMPLE_ID].tolist() in ([1, 3], [3, 1])
    row = disagreements.set_index(schema.SAMPLE_ID).loc[1]
    assert sorted((v["reviewer"], v["action"], v["new_label"]) for v in row["votes"]) == [
        ("ann", KEEP, None), ("bob", RELABEL, 2)]
    assert row["suggested_label"] == truth[1] and row["suggested_prob"] == pytest.approx(0.6)
    assert consensus.accept_consensus(store, "lead", [1], _probs(truth)) == 1  # the model backs ann's keep
    assert store.decisions().set_index(schema.SAMPLE_ID).loc[1, "action"] == KEEP
    assert store.resolution().adjudicated.tolist() == [1]
    store.adjudicate([3], KEEP, "lead")
    assert consensus.adjudication_queue(store, _probs(truth)).query("reason == 'disagreement'").empty


def test_team_summary_counts_and_per_annotator_figures(tmp_path):
    store = _store(tmp_path)
    store.mark_gold([30, 31], [0, 1], "lead")  # given labels 0 and 1: both keep
    store.record([30, 31], KEEP, "ann")
    store.record([30], KEEP, "bob")
    store.record([31], MISLABELED, "bob")
    store.record([0, 1, 2, 3], KEEP, "ann")
    store.record([0, 1, 2], KEEP, "bob")
    store.record([3], MISLABELED, "bob")  # open
    store.record([4], RELABEL, "bob", new_label=2)
    store.record([4], RELABEL, "carol", new_label=1)
    store.adjudicate([4], RELABEL, "lead", new_label=2)
    summary = consensus.team_summary(store, _probs(GIVEN), role_of=lambda name: None)
    people = {a["name"]: a for a in summary["annotators"]}
    assert people["ann"]["decided"] == 6 and people["bob"]["decided"] == 7 and people["carol"]["decided"] == 1
    assert people["ann"]["gold_accuracy"] == 1.0 and people["bob"]["gold_accuracy"] == 0.5
    assert people["carol"]["gold_accuracy"] is None and people["carol"]["role"] is None
    assert people["carol"]["agreement_with_consensus"] == 0.0  # its vote on 4 lost to the adjudication
    # ann: samples 0-2 and 30-31 agree with their consensus (3 is open: CROWDLAB's label, the model's keep)
    assert people["ann"]["agreement_with_consensus"] == 1.0
    assert summary["consensus"]["disagreements_open"] == 1 and summary["consensus"]["adjudicated"] == 1
    assert summary["consensus"]["samples_decided"] == 6  # 0, 1, 2, 4, 30, 31
    assert summary["agreement"]["metric"] == consensus.AGREEMENT_METRIC and summary["agreement"]["n_samples"] == 7


def test_blind_review_shows_an_annotator_only_its_own_votes(tmp_path):
    store = _store(tmp_path)
    store.record([5], KEEP, "ann")
    store.record([5], MISLABELED, "bob")
    assert consensus.votes_visible_to(store, "ann")[REVIEWER].tolist() == ["ann"]
    assert consensus.votes_visible_to(store, "carol").empty
    assert sorted(consensus.votes_visible_to(store, "lead", [5], lead=True)[REVIEWER]) == ["ann", "bob"]


def test_queues_follow_the_overlap_and_leases(tmp_path):
    store = _store(tmp_path)
    ranking = [9, 3, 7, 1, 5]
    store.set_overlap(2, "lead")
    assert assignment.next_samples(store, ranking, "ann", 2, now=1000.0) == [9, 3]
    assert assignment.next_samples(store, ranking, "bob", 2, now=1001.0) == [9, 3]  # overlap 2: both get them
    assert assignment.next_samples(store, ranking, "carol", 2, now=1002.0) == [7, 1]  # 9 and 3 are taken twice
    store.record([9], KEEP, "ann")
    store.release("ann", [9])
    assert assignment.annotator_queue(store, ranking, "ann", now=1003.0) == [3, 7, 1, 5]
    assert assignment.annotator_queue(store, ranking, "dave", now=1003.0) == [7, 1, 5]
    assert assignment.annotator_queue(store, ranking, "dave", now=5000.0) == [9, 3, 7, 1, 5]  # leases expired
    store.record([9], KEEP, "bob")
    assert 9 not in assignment.annotator_queue(store, ranking, "dave", now=5000.0)  # two votes: done


def test_a_lease_stops_counting_once_its_holder_voted(tmp_path):
    store = _store(tmp_path)
    store.set_overlap(2, "lead")
    assert assignment.next_samples(store, [9], "ann", 1, now=0.0) == [9]
    assert assignment.next_samples(store, [9], "bob", 1, now=1.0) == [9]
    assert assignment.annotator_queue(store, [9], "carol", now=2.0) == []  # two leases: taken twice
    store.record([9], KEEP, "ann")  # ann voted; her lease still runs but no longer holds a place
    assert assignment.annotator_queue(store, [9], "carol", now=3.0) == []  # ann's vote + bob's lease
    store.release("bob")
    assert assignment.annotator_queue(store, [9], "carol", now=4.0) == [9]


def test_overlap_one_hands_each_sample_to_one_annotator(tmp_path):
    store = _store(tmp_path)
    ranking = list(range(10))
    first = assignment.next_samples(store, ranking, "ann", 3, now=0.0)
    second = assignment.next_samples(store, ranking, "bob", 3, now=0.0)
    assert first == [0, 1, 2] and second == [3, 4, 5]


def test_gold_samples_are_mixed_into_every_queue_and_progress(tmp_path):
    store = _store(tmp_path)
    store.mark_gold([20, 21], [2, 0], "lead")
    ranking = list(range(12))
    queue = assignment.annotator_queue(store, ranking, "ann")
    assert queue[9] == 20 and queue[:9] == list(range(9)) and queue[-1] == 21 and len(queue) == 14
    store.record([20, 21, 0, 1], KEEP, "ann")
    assert 20 not in assignment.annotator_queue(store, ranking, "ann")
    assert 20 in assignment.annotator_queue(store, ranking, "bob")
    report = assignment.progress(store, ranking)
    assert report["overall"] == {"samples": 12, "complete": 2, "votes_cast": 2, "votes_needed": 12,
                                 "open_disagreements": 0, "adjudicated": 0, "overlap": 1}
    assert report["annotators"] == [{"name": "ann", "decided": 2, "gold_answered": 2, "queue_left": 10}]


def test_simulated_votes_share_the_work_and_keep_the_accuracy():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 10, 3000)
    votes = simulate_votes(np.arange(3000), truth, 10, (0.9, 0.6, 0.3), 2, rng)
    assert (votes.groupby(schema.SAMPLE_ID).size() == 2).all()
    per = votes.groupby(REVIEWER).apply(
        lambda p: (p[consensus.OUTCOME].to_numpy() == truth[p[schema.SAMPLE_ID]]).mean()
    )
    assert per["annotator_90"] == pytest.approx(0.9, abs=0.03) and per["annotator_30"] == pytest.approx(0.3, abs=0.03)
    sizes = votes.groupby(REVIEWER).size().to_dict()
    assert sizes == {"annotator_90": 2000, "annotator_60": 2000, "annotator_30": 2000}


def test_the_team_simulation_on_a_run(digits_run):
    from core.review.team_simulation import consensus_accuracy, decisions_per_correction

    flagged = int(digits_run.read_samples([schema.IS_FLAGGED])[schema.IS_FLAGGED].sum())
    record = consensus_accuracy(digits_run.path, seed=0)
    assert record["n_flagged"] == flagged
    for key in ("annotator_95", "annotator_85", "annotator_70", "majority_vote", "crowdlab", "agreed_else_lead"):
        assert 0.0 <= record[key] <= 1.0
    assert isinstance(record["quality_order_right"], bool) and set(record["quality"]) == {
        "annotator_95", "annotator_85", "annotator_70"}
    single, double = decisions_per_correction(digits_run.path, seed=0)
    assert single["decisions"] == flagged
    gold = round(0.05 * flagged)
    assert double["decisions"] == 2 * flagged + 3 * gold + double["adjudications"]
    assert double["gold_answers"] == 3 * gold
    assert single["decisions_per_correction"] == pytest.approx(single["decisions"] / single["corrected"])
