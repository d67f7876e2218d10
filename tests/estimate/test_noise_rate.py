"""core.estimate: the noise-rate estimators on known answers, their intervals, posteriors and suggestions."""

from __future__ import annotations

import numpy as np
import pytest

from core.estimate import noise_rate
from core.estimate.noise_rate import (
    EstimateInputs,
    counterfactual_beaten,
    estimate_with_interval,
    fit_mixture,
    posterior,
    precision_recall,
    precision_recall_curve,
)
from core.estimate.registry import NOISE_ESTIMATORS
from core.estimate.suggest import suggest_labels
from core.gradients.last_layer import gradients_from_outputs


def toy(n: int = 2000, classes: int = 5, rate: float = 0.2, seed: int = 0) -> tuple[EstimateInputs, np.ndarray]:
    """Separable classes seen through confident, slightly noisy out-of-fold probabilities; `rate` of the labels
    flipped (exactly round(rate·n)); L2-like scores large for the flipped ones. Returns (inputs, is_noisy)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, classes, n)
    logits = rng.normal(0, 0.5, (n, classes))
    logits[np.arange(n), true] += 5.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true.copy()
    flipped = rng.choice(n, int(round(rate * n)), replace=False)
    given[flipped] = (true[flipped] + rng.integers(1, classes, len(flipped))) % classes
    noisy = given != true
    scores = np.where(noisy, rng.lognormal(2.0, 0.3, n), rng.lognormal(0.0, 0.3, n))
    return EstimateInputs(given, probs.astype(np.float32), probs.astype(np.float32), scores), noisy


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3])
def test_every_estimator_recovers_a_known_rate(rate):
    inputs, noisy = toy(rate=rate)
    for name in NOISE_ESTIMATORS:
        if "classification" in NOISE_ESTIMATORS.entry(name).meta["tasks"]:
            assert NOISE_ESTIMATORS.get(name).rate(inputs) == pytest.approx(noisy.mean(), abs=0.02), name


def test_counterfactual_is_the_gradient_comparison():
    """Fast path vs reference: 'some other label gives a smaller last-layer gradient' from the materialized
    gradients (p − e_c) ⊗ [h, 1] of every class equals p_y < max_c p_c."""
    rng = np.random.default_rng(1)
    n, classes, width = 300, 4, 6
    features = rng.normal(size=(n, width))
    probs = rng.dirichlet(np.ones(classes) * 0.7, n)
    given = rng.integers(0, classes, n)
    norms = np.stack([np.linalg.norm(gradients_from_outputs(features, probs, np.full(n, c), dtype=np.float64), axis=1)
                      for c in range(classes)], axis=1)
    reference = norms[np.arange(n), given] > norms.min(axis=1) + 1e-12
    assert (counterfactual_beaten(probs, given) == reference).all()


def test_mixture_finds_the_upper_component_or_none():
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 1800), rng.normal(5, 0.5, 200)])
    model = fit_mixture(values)
    assert model is not None and model.weights[1] == pytest.approx(0.1, abs=0.01)
    assert model.means[1] == pytest.approx(5, abs=0.1)
    assert fit_mixture(rng.normal(0, 1, 2000)) is None  # BIC: one component
    assert fit_mixture(np.ones(10)) is None


def test_interval_is_seeded_contains_the_estimate_and_narrows_with_n():
    inputs, noisy = toy(n=4000, rate=0.1)
    first = estimate_with_interval("counterfactual", inputs, resamples=100, seed=3)
    assert first == estimate_with_interval("counterfactual", inputs, resamples=100, seed=3)
    assert first.low <= first.value <= first.high and first.low <= noisy.mean() <= first.high
    assert first.as_dict().keys() >= {"value", "low", "high", "method", "level"}
    small = estimate_with_interval("counterfactual", inputs, resamples=100, seed=3, max_rows=400)
    assert small.rows == 400 and (small.high - small.low) > 2 * (first.high - first.low)
    narrow = estimate_with_interval("counterfactual", inputs, resamples=100, seed=3, level=0.5)
    assert narrow.high - narrow.low < first.high - first.low


def test_posteriors_sum_to_the_rate_and_give_precision_and_recall():
    inputs, noisy = toy(rate=0.15)
    for name in NOISE_ESTIMATORS:
        if "classification" not in NOISE_ESTIMATORS.entry(name).meta["tasks"]:
            continue
        rate = NOISE_ESTIMATORS.get(name).rate(inputs)
        probability = posterior(name, inputs, rate)
        assert probability.min() >= 0 and probability.max() <= 1
        if name != "l2_mixture":  # the mixture's responsibilities sum to its weight only approximately
            assert probability.sum() == pytest.approx(rate * len(inputs), rel=1e-6)
    probability = posterior("counterfactual", inputs, noisy.mean())
    precision, recall = precision_recall(probability, inputs.scores, 0.1)
    top = np.argsort(-inputs.scores)[:200]
    assert precision == pytest.approx(probability[top].mean()) and recall == pytest.approx(
        probability[top].sum() / probability.sum())
    assert precision == pytest.approx(1.0, abs=0.02)  # the top 10% are all flipped here, and the posterior says so
    curve = precision_recall_curve(probability, inputs.scores, np.array([0.05, 0.1, 0.2]))
    assert curve["precision"][1] == pytest.approx(precision) and curve["recall"][1] == pytest.approx(recall)
    assert np.isnan(precision_recall(probability, inputs.scores, 0.0001)[0])  # flags no sample


def test_scaled_weights_respect_the_cap():
    weights = np.array([10.0, 1.0, 1.0, 0.0])
    scaled = noise_rate._scaled(weights, 0.5)
    assert scaled.sum() == pytest.approx(2.0) and scaled.max() <= 1.0 and scaled[3] == 0


def test_suggestions_are_the_top_two_classes():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    out = suggest_labels(probs)
    assert out.label.tolist() == [1, 0, 2] and out.runner_up.tolist() == [2, 1, 1]
    assert out.confidence.tolist() == [0.7, 0.5, 0.5] and out.runner_up_confidence.tolist() == [0.2, 0.5, 0.3]


def test_model_error_widens_the_bootstrap_interval_within_0_and_1():
    inputs, _ = toy(n=1000, rate=0.01)
    plain = estimate_with_interval("counterfactual", inputs, resamples=50)
    wide = estimate_with_interval("counterfactual", inputs, resamples=50, model_error=0.03)
    assert (wide.bootstrap_low, wide.bootstrap_high) == (plain.low, plain.high)
    assert wide.low == max(plain.low - 0.03, 0.0) == 0.0 and wide.high == pytest.approx(plain.high + 0.03)
