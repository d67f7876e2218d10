"""FastIsolationForest must give exactly sklearn's IsolationForest numbers, only faster."""

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.utils.estimator_checks import check_estimator

from core.detect import isolation_forest
from core.detect.estimators import outlier_scores
from core.detect.isolation_forest import FastIsolationForest, average_path_length


@pytest.fixture(autouse=True)
def compiled_scoring_on_small_data(monkeypatch):
    """The compiled path normally starts at 4M values; these tests need it on small X."""
    monkeypatch.setattr(isolation_forest, "COMPILED_SCORING_MIN_VALUES", 0)


def _gradients(n: int = 700, d: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    X[: n // 20] *= 4  # a few outliers, so the forest has something to isolate
    return X


def test_average_path_length_matches_known_values():
    np.testing.assert_allclose(average_path_length(np.array([0, 1, 2, 3])),
                               [0, 0, 1, 2 * (np.log(2) + np.euler_gamma) - 4 / 3])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_samples", ["auto", 64, 1.0])
def test_scores_bit_identical_to_sklearn(seed, max_samples):
    X = _gradients(seed=seed)
    ours = FastIsolationForest(n_estimators=30, max_samples=max_samples, random_state=seed).fit(X)
    theirs = IsolationForest(n_estimators=30, max_samples=max_samples, random_state=seed).fit(X)
    new = _gradients(n=300, seed=seed + 10)
    for data in (X, new, X.astype(np.float64), np.asfortranarray(new)):
        np.testing.assert_array_equal(ours.score_samples(data), theirs.score_samples(data))
    np.testing.assert_array_equal(ours.decision_function(new), theirs.decision_function(new))
    np.testing.assert_array_equal(ours.predict(new), theirs.predict(new))


def test_block_boundaries_and_single_rows():
    """Row counts around the 32-row block size score like sklearn, row by row too."""
    X = _gradients(n=200)
    ours = FastIsolationForest(n_estimators=10, random_state=3).fit(X)
    theirs = IsolationForest(n_estimators=10, random_state=3).fit(X)
    for rows in (1, 31, 32, 33, 65):
        np.testing.assert_array_equal(ours.score_samples(X[:rows]), theirs.score_samples(X[:rows]))


def test_missing_values_follow_sklearn():
    X = _gradients(n=400)
    ours = FastIsolationForest(n_estimators=20, random_state=0).fit(X)
    theirs = IsolationForest(n_estimators=20, random_state=0).fit(X)
    holes = X.copy()
    holes[::7, ::3] = np.nan
    np.testing.assert_array_equal(ours.score_samples(holes), theirs.score_samples(holes))


def test_memory_mapped_input(tmp_path):
    X = _gradients()
    path = tmp_path / "g.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    ours = FastIsolationForest(n_estimators=20, random_state=0).fit(mapped)
    theirs = IsolationForest(n_estimators=20, random_state=0).fit(X)
    np.testing.assert_array_equal(ours.score_samples(mapped), theirs.score_samples(X))


def test_feature_subsets_fall_back_to_sklearn():
    X = _gradients()
    ours = FastIsolationForest(n_estimators=20, max_features=0.5, random_state=0).fit(X)
    theirs = IsolationForest(n_estimators=20, max_features=0.5, random_state=0).fit(X)
    np.testing.assert_array_equal(ours.score_samples(X), theirs.score_samples(X))


def test_registry_uses_it_and_keeps_the_sign():
    X = _gradients()
    expected = -IsolationForest(n_estimators=100, random_state=4, n_jobs=1).fit(X).score_samples(X)
    np.testing.assert_array_equal(outlier_scores("iforest", X, seed=4), expected)


def test_small_inputs_skip_the_compiled_path(monkeypatch):
    monkeypatch.setattr(isolation_forest, "COMPILED_SCORING_MIN_VALUES", 10**9)
    monkeypatch.setattr(isolation_forest, "_depth_kernel", lambda: pytest.fail("compiled path used"))
    X = _gradients()
    forest = FastIsolationForest(n_estimators=10, random_state=0).fit(X)
    np.testing.assert_array_equal(forest.score_samples(X),
                                  IsolationForest(n_estimators=10, random_state=0).fit(X).score_samples(X))


def test_sklearn_estimator_contract():
    """Every sklearn estimator check sklearn's own IsolationForest passes, ours passes too."""

    def not_passed(estimator):
        results = check_estimator(estimator, on_fail=None)
        return {r["check_name"] for r in results if r["status"] != "passed"}

    expected = not_passed(IsolationForest(n_estimators=10, random_state=0))
    assert not_passed(FastIsolationForest(n_estimators=10, random_state=0)) == expected


def test_missing_sklearn_internals_fall_back_to_sklearn_scoring(monkeypatch):
    def moved(self):
        raise AttributeError("_decision_path_lengths")

    monkeypatch.setattr(FastIsolationForest, "_flatten_trees", moved)
    monkeypatch.setattr(isolation_forest, "_depth_kernel", lambda: pytest.fail("compiled path used"))
    X = _gradients()
    forest = FastIsolationForest(n_estimators=10, random_state=0).fit(X)
    np.testing.assert_array_equal(forest.score_samples(X),
                                  IsolationForest(n_estimators=10, random_state=0).fit(X).score_samples(X))
