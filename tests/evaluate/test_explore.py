"""core.evaluate.explore against slow or library references and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.decomposition import PCA
from sklearn.metrics import average_precision_score
from sklearn.neighbors import NearestNeighbors

from core.errors import ConfigError
from core.evaluate import explore as analysis


@pytest.fixture
def gradients():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(500, 12)) * rng.uniform(0.1, 5, 12)).astype(np.float32)


def test_gradient_pca_matches_sklearn_up_to_sign(gradients, tmp_path):
    standardized = (gradients - gradients.mean(0)) / gradients.std(0)
    reference = PCA(n_components=2).fit_transform(standardized)
    ours = analysis.gradient_pca(gradients)
    assert ours.shape == (500, 2) and ours.dtype == np.float32
    for column in range(2):
        sign = np.sign(np.dot(ours[:, column], reference[:, column]))
        np.testing.assert_allclose(ours[:, column] * sign, reference[:, column], atol=1e-3)
    np.save(tmp_path / "g.npy", gradients)
    mapped = np.load(tmp_path / "g.npy", mmap_mode="r")
    np.testing.assert_allclose(analysis.gradient_pca(mapped), ours, atol=1e-5)


def test_gradient_pca_fitted_on_a_subsample_agrees_with_the_full_fit(monkeypatch):
    rng = np.random.default_rng(3)  # two dominant directions, so the axes are well defined
    gradients = (rng.normal(size=(500, 2)) * [5, 2] @ rng.normal(size=(2, 12))
                 + rng.normal(0, 0.1, (500, 12))).astype(np.float32)
    full = analysis.gradient_pca(gradients)
    monkeypatch.setattr(analysis, "PCA_FIT_ROWS", 200)
    monkeypatch.setattr(analysis, "CHUNK_ROWS", 64)
    coords = analysis.gradient_pca(gradients)
    assert coords.shape == (500, 2) and np.isfinite(coords).all()
    for column in range(2):
        assert abs(np.corrcoef(coords[:, column], full[:, column])[0, 1]) > 0.99


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nearest_neighbors_match_brute_force(gradients, metric, monkeypatch):
    monkeypatch.setattr(analysis, "CHUNK_ROWS", 97)  # chunk borders inside the data
    ids, distances = analysis.nearest_neighbors(gradients, 17, k=8, metric=metric)
    reference = NearestNeighbors(n_neighbors=9, metric=metric, algorithm="brute").fit(gradients.astype(np.float64))
    ref_dist, ref_ids = reference.kneighbors(gradients[17:18].astype(np.float64))
    assert 17 not in ids
    np.testing.assert_array_equal(ids, ref_ids[0][ref_ids[0] != 17][:8])
    np.testing.assert_allclose(distances, ref_dist[0][ref_ids[0] != 17][:8], atol=1e-6)


def test_nearest_neighbors_ties_and_bounds():
    grads = np.array([[1, 0], [1, 0], [2, 0], [0, 1]], np.float32)
    ids, distances = analysis.nearest_neighbors(grads, 0, k=10)
    assert ids.tolist() == [1, 2, 3] and distances[:2].tolist() == pytest.approx([0, 0], abs=1e-12)
    with pytest.raises(ConfigError):
        analysis.nearest_neighbors(grads, 4)
    with pytest.raises(ConfigError):
        analysis.nearest_neighbors(grads, 0, metric="manhattan")


def test_pr_curve_known_answer_and_area():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    truth = np.array([True, False, True, False, False])
    curve = analysis.pr_curve(scores, truth)
    assert curve["recall"].is_monotonic_increasing
    assert curve.iloc[-1][["recall", "precision"]].tolist() == [1.0, pytest.approx(2 / 5)]
    assert analysis.average_precision(scores, truth) == pytest.approx(average_precision_score(truth, scores))
    assert analysis.pr_curve(scores, np.zeros(5, bool)).empty
    rng = np.random.default_rng(1)
    big = analysis.pr_curve(rng.random(50_000), rng.random(50_000) < 0.1, max_points=300)
    assert len(big) <= 300 and big["recall"].iloc[-1] == 1.0


def test_rank_correlations_match_scipy():
    rng = np.random.default_rng(2)
    a = rng.random(300)
    scores = {"a": a, "b": a + rng.normal(0, 0.3, 300), "c": np.round(rng.random(300), 1), "flat": np.ones(300)}
    matrix = analysis.rank_correlations(scores)
    for x in "abc":
        for y in "abc":
            assert matrix.loc[x, y] == pytest.approx(spearmanr(scores[x], scores[y]).statistic)
    assert np.isnan(matrix.loc["flat", "a"]) and np.isnan(matrix.loc["a", "flat"])


def test_flag_overlap_known_answer():
    scores = {"a": np.array([5, 4, 3, 2, 1, 0.0]), "b": np.array([5, 0, 4, 3, 2, 1.0]),
              "c": np.array([0, 1, 2, 3, 4, 5.0])}
    table = analysis.flag_overlap(scores, 2 / 6)  # top 2 each: a={0,1}, b={0,2}, c={4,5}
    rows = {(r.a, r.b): r for r in table.itertuples()}
    assert rows[("a", "b")].both == 1 and rows[("a", "b")].jaccard == pytest.approx(1 / 3)
    assert rows[("a", "c")].both == 0 and rows[("a", "c")].only_a == 2
    assert len(table) == 3


def test_upscale_nearest():
    image = np.arange(4, dtype=np.uint8).reshape(2, 2, 1)
    big = analysis.upscale_nearest(image[None], min_side=6)
    assert big.shape == (1, 6, 6, 1)
    assert big[0, :3, :3, 0].tolist() == [[0] * 3] * 3 and big[0, 5, 5, 0] == 3
    large = np.zeros((1, 64, 64, 3), np.uint8)
    assert analysis.upscale_nearest(large, 64) is large
