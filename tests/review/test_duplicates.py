"""Near-duplicate pairs with conflicting labels: the chunked exact k-NN against scikit-learn's brute force,
the pair rules on known-answer data, and bad input."""

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from core.errors import ConfigError
from core.review import duplicates
from core.review.duplicates import (
    conflicting_pairs,
    nearest_rows,
    pair_truth,
    query_rows,
)
from core.run.label_forms import TagForm, ValueForm


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_chunked_neighbours_match_sklearn(metric, monkeypatch):
    monkeypatch.setattr(duplicates, "QUERY_CHUNK", 70)
    monkeypatch.setattr(duplicates, "INDEX_CHUNK", 130)  # several blocks, one shorter than the rest
    features = np.random.default_rng(0).standard_normal((500, 12)).astype(np.float32)
    ids, distances = nearest_rows(features, np.arange(500), 4, metric)
    reference = NearestNeighbors(n_neighbors=5, metric=metric, algorithm="brute").fit(features)
    ref_distances, ref_ids = reference.kneighbors(features)
    np.testing.assert_array_equal(ids, ref_ids[:, 1:])
    np.testing.assert_allclose(distances, ref_distances[:, 1:], atol=1e-5)


def test_a_zero_row_is_at_cosine_distance_one():
    features = np.array([[0, 0], [1, 0], [1, 0.01]], np.float32)
    ids, distances = nearest_rows(features, np.arange(3), 2, "cosine")
    assert distances[0].tolist() == [1.0, 1.0] and ids[1, 0] == 2


def known_pairs():
    """Three tight groups; the odd label out in groups 0 and 1 makes the only conflicting pairs."""
    rng = np.random.default_rng(1)
    centres = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10]], np.float32)
    features = np.repeat(centres, 6, axis=0) + 0.01 * rng.standard_normal((18, 3)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 6)
    labels[2], labels[9] = 1, 2
    return features, labels


def test_pairs_hold_exactly_the_conflicting_neighbours():
    features, labels = known_pairs()
    pairs, facts = conflicting_pairs(features, labels, neighbors=5, distance_quantile=1.0)
    members = set(pairs.sample_a) | set(pairs.sample_b)
    assert {2, 9} <= members and members <= set(range(12))
    assert (pairs.given_a != pairs.given_b).all() and (pairs.sample_a < pairs.sample_b).all()
    assert pairs.distance.is_monotonic_increasing
    assert not pairs.duplicated(["sample_a", "sample_b"]).any()
    assert pairs.mutual.all()  # in a group of 6 every member is among the 5 nearest of every other
    assert facts["n_queries"] == 18 and facts["neighbors"] == 5
    assert list(pairs.columns) == list(duplicates.PAIR_COLUMNS)


def test_the_quantile_keeps_only_the_nearest():
    features, labels = known_pairs()
    everything, _ = conflicting_pairs(features, labels, neighbors=5, distance_quantile=1.0)
    near, facts = conflicting_pairs(features, labels, neighbors=5, distance_quantile=0.2)
    assert len(near) < len(everything) and (near.distance <= facts["threshold"]).all()


def test_queries_are_capped_and_always_include_the_named_rows():
    rows = query_rows(1000, 100, seed=3, always=np.array([5, 999]))
    assert len(rows) == 100 and {5, 999} <= set(rows.tolist()) and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, query_rows(1000, 100, seed=3, always=np.array([5, 999])))
    assert len(query_rows(50, 100, seed=0)) == 50


def test_pair_truth_measures_against_the_noise():
    pairs = pd.DataFrame({"sample_a": [0, 1, 2], "sample_b": [3, 4, 5]})
    noisy = np.array([True, False, False, False, False, True])
    scores = np.array([5.0, 0, 1.0, 1.0, 0, 0.5])
    measured = pair_truth(pairs, noisy, scores)
    assert measured["with_noisy"] == pytest.approx(2 / 3)
    assert measured["suspect_is_noisy"] == pytest.approx(0.5)  # pair (0, 3) right, pair (2, 5) wrong


@pytest.mark.parametrize("kwargs, message", [
    ({"distance_quantile": 0.0}, "distance_quantile"),
    ({"neighbors": 0}, "neighbors"),
    ({"metric": "manhattan"}, "unknown neighbour metric"),
])
def test_bad_settings_are_one_line(kwargs, message):
    features, labels = known_pairs()
    with pytest.raises(ConfigError, match=message):
        conflicting_pairs(features, labels, **kwargs)


def test_labels_must_match_the_rows():
    with pytest.raises(ConfigError, match="given labels for"):
        conflicting_pairs(np.zeros((4, 2), np.float32), np.zeros(3, np.int64))


def test_tag_sets_conflict_when_they_differ():
    """The same three groups; group 0 holds {0} except {0, 1} at row 2, group 1 {1, 2} except {2, 1} written
    in another order at row 9 (the same set: no conflict), group 2 the empty set except {2} at row 14."""
    features, _ = known_pairs()
    tags = [(0,)] * 6 + [(1, 2)] * 6 + [()] * 6
    tags[2], tags[9], tags[14] = (0, 1), (1, 2), (2,)
    pairs, _ = conflicting_pairs(features, tags, form=TagForm(3), neighbors=5, distance_quantile=1.0)
    members = set(pairs.sample_a) | set(pairs.sample_b)
    assert {2, 14} <= members and not members & set(range(6, 12)), "an equal tag set never conflicts"
    assert all((a in (2, 14)) != (b in (2, 14)) for a, b in zip(pairs.sample_a, pairs.sample_b))
    form = TagForm(3)
    assert [form.decode(raw) for raw in pairs.given_a] == [tags[a] for a in pairs.sample_a]
    assert [form.decode(raw) for raw in pairs.given_b] == [tags[b] for b in pairs.sample_b]


def test_values_conflict_only_beyond_the_tolerance():
    """Group 0's values lie within 0.5 of each other (no conflict at tolerance 0.5); row 9 of group 1 is 0.6 off
    its group (a conflict with each of the five others); group 2 spreads 0.4 apart, all within."""
    features, _ = known_pairs()
    values = np.repeat([10.0, 20.0, 30.0], 6)
    values[:6] += np.linspace(0, 0.5, 6)
    values[9] += 0.6
    values[12:] += np.linspace(0, 0.4, 6)
    pairs, _ = conflicting_pairs(features, values, form=ValueForm(0.5), neighbors=5, distance_quantile=1.0)
    assert len(pairs) and all(9 in pair and max(pair) < 12 for pair in zip(pairs.sample_a, pairs.sample_b))
    strict, _ = conflicting_pairs(features, values, form=ValueForm(0.05), neighbors=5, distance_quantile=1.0)
    members = set(strict.sample_a) | set(strict.sample_b)
    assert members & set(range(6)) and members & set(range(12, 18)), "a tighter tolerance finds the spread groups"
    assert pairs.given_a.dtype == np.float64
    np.testing.assert_array_equal(pairs.given_a, values[pairs.sample_a])
    assert (np.abs(pairs.given_a - pairs.given_b) > 0.5).all()


def test_classes_are_stored_as_before():
    features, labels = known_pairs()
    pairs, _ = conflicting_pairs(features, labels.tolist(), neighbors=5, distance_quantile=1.0)
    assert pairs.given_a.dtype == np.int64 and pairs.given_b.dtype == np.int64


def test_pair_truth_reads_only_the_noise_so_any_kind_is_measured():
    features, _ = known_pairs()
    values = np.repeat([10.0, 20.0, 30.0], 6)
    values[9] += 5.0
    noisy = np.zeros(18, bool)
    noisy[9] = True
    pairs, _ = conflicting_pairs(features, values, form=ValueForm(0.5), neighbors=5, distance_quantile=1.0)
    assert pair_truth(pairs, noisy)["with_noisy"] == 1.0
