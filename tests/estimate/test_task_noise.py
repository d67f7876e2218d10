"""The multi-label and regression noise-rate estimators and suggestions, on hand-made inputs."""

import numpy as np
import pytest

from core.errors import ConfigError
from core.estimate.noise_rate import EstimateInputs, estimator_for, posterior
from core.estimate.suggest import suggest_tags, suggest_values
from core.estimate.task_noise import (
    fit_scale_mixture,
    standardized_residuals,
    tagset_beaten,
    tagset_margin,
)


def multilabel_inputs(sigmoids, given) -> EstimateInputs:
    sigmoids, given = np.asarray(sigmoids, float), np.asarray(given, np.uint8)
    return EstimateInputs(given, sigmoids, sigmoids, np.ones(len(given)), "multilabel")


def test_a_tag_set_is_beaten_when_some_tag_is_more_likely_the_other_way():
    sigmoids = [[0.9, 0.2], [0.4, 0.7], [0.6, 0.45]]
    given = [[1, 0], [1, 1], [0, 0]]
    # row 0 agrees on both tags; row 1: tag 0 given at σ 0.4; row 2: tag 0 missing at σ 0.6
    assert tagset_beaten(sigmoids, given).tolist() == [False, True, True]
    rate = estimator_for("tagset_counterfactual", "multilabel").rate(multilabel_inputs(sigmoids, given))
    assert rate == pytest.approx(2 / 3)


def test_the_tag_set_margin_is_one_minus_the_likelihood_ratio_of_given_and_best_sets():
    sigmoids = [[0.9, 0.2], [0.4, 0.7]]
    given = [[1, 0], [1, 1]]
    # row 1: P(given) = 0.4 · 0.7, P(best = {1}) = 0.6 · 0.7
    assert tagset_margin(sigmoids, given) == pytest.approx([0.0, 1 - 0.4 / 0.6])


def test_the_tag_set_posterior_sums_to_the_rate_and_ranks_by_margin():
    sigmoids = [[0.9, 0.2], [0.4, 0.7], [0.05, 0.95], [0.5, 0.5]]
    given = [[1, 0], [1, 1], [1, 0], [1, 1]]
    noise = posterior("tagset_counterfactual", multilabel_inputs(sigmoids, given), 0.25)
    assert noise.sum() == pytest.approx(1.0)
    assert noise[0] == 0.0 and noise[2] == noise.max()


def test_an_estimator_refuses_a_task_it_does_not_apply_to():
    with pytest.raises(ConfigError, match="confident_joint.*classification runs, not regression"):
        estimator_for("confident_joint", "regression")
    with pytest.raises(ConfigError, match="residual_mixture.*regression runs, not classification"):
        estimator_for("residual_mixture", "classification")
    with pytest.raises(ConfigError, match="counterfactual.*classification runs, not multilabel"):
        estimator_for("counterfactual", "multilabel")


def test_residuals_are_standardized_by_their_median_absolute_deviation():
    given = np.array([10.0, 11.0, 12.0, 13.0, 500.0])
    predictions = np.array([[11.0], [11.0], [11.0], [11.0], [11.0]])
    # residuals 1, 0, −1, −2, −489: median −1, |deviations| 2, 1, 0, 1, 488 → MAD 1
    assert standardized_residuals(predictions, given) == pytest.approx(np.array([2, 1, 0, -1, -488]) / 1.4826)


def regression_inputs(given, oof) -> EstimateInputs:
    return EstimateInputs(np.asarray(given, float), np.asarray(oof, float)[:, None], np.asarray(oof, float)[:, None],
                          np.ones(len(given)), "regression")


def test_the_residual_mixture_finds_the_corrupted_share_and_the_corrupted_samples():
    rng = np.random.default_rng(0)
    truth = rng.normal(100, 15, 1000)
    oof = truth + rng.normal(0, 3, 1000)
    given = truth.copy()
    wrong = rng.choice(1000, 50, replace=False)
    given[wrong] *= 10  # a unit change
    inputs = regression_inputs(given, oof)
    rate = estimator_for("residual_mixture", "regression").rate(inputs)
    assert rate == pytest.approx(0.05, abs=0.01)
    noise = posterior("residual_mixture", inputs, rate)
    clean = np.setdiff1d(np.arange(1000), wrong)
    assert noise[wrong].min() > 0.99 and np.median(noise[clean]) < 0.01


def test_a_single_gaussian_of_residuals_has_no_wide_component():
    values = np.random.default_rng(1).normal(0, 1, 2000)
    assert fit_scale_mixture(values) is None


def test_tag_suggestions_are_the_tags_at_or_above_one_half_with_their_probability():
    suggested = suggest_tags([[0.7, 0.2, 0.5]])
    assert suggested.tags.tolist() == [[1, 0, 1]]
    assert suggested.confidence[0].tolist() == pytest.approx([0.7, 0.8, 0.5])


def test_value_suggestions_take_the_interval_from_the_clean_samples_out_of_fold_residuals():
    predictions = np.array([[10.0], [20.0], [30.0], [40.0], [50.0]])
    oof = np.array([[11.0], [19.0], [30.0], [42.0], [0.0]])
    given = np.array([10.0, 20.0, 30.0, 40.0, 500.0])
    noise = np.array([0.0, 0.1, 0.2, 0.3, 0.99])  # the last one estimated wrong: its residual is left out
    suggested = suggest_values(predictions, given, oof, noise, level=0.5)
    # clean residuals y − ŷ_oof: −1, 1, 0, −2 → 25% and 75% quantiles −1.25 and 0.25
    assert suggested.value.tolist() == [10, 20, 30, 40, 50]
    assert (suggested.low - suggested.value) == pytest.approx([-1.25] * 5)
    assert (suggested.high - suggested.value) == pytest.approx([0.25] * 5)
