import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from core.detect.estimators import NormDetector, outlier_scores
from core.detect.flagging import flag, flag_count, rank_of
from core.detect.registry import DETECTORS
from core.errors import ConfigError


def test_flag_takes_exactly_round_budget_n():
    rng = np.random.default_rng(0)
    for n in (7, 100, 1437):
        scores = rng.normal(size=n)
        for budget in (0.05, 0.1, 0.33):
            if round(budget * n) == 0:
                continue
            mask = flag(scores, budget)
            assert mask.sum() == round(budget * n)
            assert scores[mask].min() >= scores[~mask].max()


def test_flag_breaks_ties_by_sample_order():
    scores = np.array([1.0, 3.0, 3.0, 3.0, 0.0])
    assert flag(scores, 0.4).tolist() == [False, True, True, False, False]
    assert rank_of(scores).tolist() == [4, 1, 2, 3, 5]


def test_flag_puts_nan_last():
    scores = np.array([np.nan, 1.0, 2.0, np.nan])
    assert flag(scores, 0.5).tolist() == [False, True, True, False]


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.0, 1.5])
def test_flag_rejects_budgets_outside_unit_interval(budget):
    with pytest.raises(ConfigError, match="budget"):
        flag_count(budget, 100)


def test_flag_rejects_budget_that_flags_nothing():
    with pytest.raises(ConfigError, match="flags"):
        flag_count(0.001, 100)


def test_scores_are_higher_for_outliers_for_every_detector():
    rng = np.random.default_rng(1)
    inliers = rng.normal(size=(200, 5))
    outliers = rng.normal(size=(5, 5)) * 8 + 10
    gradients = np.vstack([inliers, outliers])
    for name in DETECTORS:
        if DETECTORS.entry(name).target is None:  # `residual`: scored from the stored r only (test_residual_detector)
            continue
        scores = outlier_scores(name, gradients, seed=0)
        assert scores.shape == (205,)
        top = np.argsort(-scores)[:5]
        assert set(top) == set(range(200, 205)), name


def test_iforest_scores_are_seeded():
    gradients = np.random.default_rng(2).normal(size=(300, 4))
    a = outlier_scores("iforest", gradients, seed=3)
    b = outlier_scores("iforest", gradients, seed=3)
    c = outlier_scores("iforest", gradients, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_norm_detector_scores_are_norms():
    gradients = np.random.default_rng(3).normal(size=(50, 6))
    assert np.allclose(outlier_scores("l1", gradients), np.abs(gradients).sum(1))
    assert np.allclose(outlier_scores("l2", gradients), np.linalg.norm(gradients, axis=1))


def test_unknown_detector_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="iforest"):
        outlier_scores("nope", np.zeros((3, 2)))


def test_norm_detector_follows_the_sklearn_contract():
    check_estimator(NormDetector())
