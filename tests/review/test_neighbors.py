"""Neighbour votes (core.review.neighbors) and the `neighbors` re-ranking method, whose votes take each decision in."""

import numpy as np

from core.review import methods
from core.review.config import RerankConfig
from core.review.inputs import ReviewState
from core.review.neighbors import NeighborTable, candidate_rows, disagreement, neighbor_table
from core.review.refit import Refits
from tests.review.test_loop import toy_inputs


def test_disagreement_counts_the_neighbours_with_another_label_and_skips_removed_ones():
    table = NeighborTable(rows=np.arange(4), neighbors=np.array([[1, 2], [0, 2], [0, 1], [0, 1]]))
    labels = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(disagreement(table, labels, np.zeros(4, bool)), [0.5, 0.5, 1.0, 1.0])
    removed = np.array([False, False, True, False])
    np.testing.assert_allclose(disagreement(table, labels, removed), [0.0, 0.0, 1.0, 1.0])
    nobody = np.array([True, True, False, False])
    assert disagreement(table, labels, nobody)[3] == 0.0, "no voter → no suspicion"


def test_the_table_is_the_exact_nearest_rows_among_the_candidates():
    features = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.1], [5.0, 4.0]], np.float32)
    table = neighbor_table(features, np.arange(5), 1, "euclidean")
    assert table.neighbors[:, 0].tolist() == [1, 0, 3, 2, 3]
    subset = neighbor_table(features, np.array([0, 2, 4]), 1, "euclidean")
    assert subset.rows.tolist() == [0, 2, 4] and set(subset.neighbors[:, 0]) <= {0, 2, 4}


def test_above_the_cap_the_candidates_are_the_reviewed_and_the_most_suspicious():
    priority = np.arange(10, dtype=float)
    assert candidate_rows(10, np.array([1]), priority, 10).tolist() == list(range(10))
    assert candidate_rows(10, np.array([1, 2]), priority, 4).tolist() == [1, 2, 8, 9]


def test_a_relabel_moves_the_scores_of_its_neighbours_at_once():
    inputs, true = toy_inputs()
    noisy = np.flatnonzero(inputs.given_labels != true)
    nothing = ReviewState.from_arrays(inputs.given_labels, [], [])
    before = methods.neighbors_scores(inputs, nothing, Refits(inputs, nothing))
    corrected = ReviewState.from_arrays(inputs.given_labels, noisy[:10], np.ones(10, bool), true[noisy[:10]])
    refits = Refits(inputs, corrected)
    after = methods.neighbors_scores(inputs, corrected, refits)
    table = refits.neighbor_table
    near = np.unique(table.neighbors[np.isin(table.rows, noisy[:10])])
    clean_near = np.setdiff1d(near, noisy)
    assert len(clean_near) and (after[clean_near] <= before[clean_near] + 1e-5).all()
    assert (after[clean_near] < before[clean_near] - 0.05).any(), "a corrected neighbour stops voting against them"


def test_samples_outside_the_candidates_rank_below_every_candidate():
    inputs, true = toy_inputs()
    state = ReviewState.from_arrays(inputs.given_labels, [0, 1], [False, False])
    refits = Refits(inputs, state, RerankConfig(max_rows=60, neighbors=5))
    scores = methods.neighbors_scores(inputs, state, refits)
    inside = refits.neighbor_table.rows
    outside = np.setdiff1d(np.arange(inputs.n_samples), inside)
    assert len(inside) == 60 and {0, 1} <= set(inside.tolist())
    assert scores[outside].max() < scores[inside].min()
