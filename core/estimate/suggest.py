"""A suggested label for every training sample, with its confidence and the runner-up.

The suggestion is the top class of one set of probabilities (`suggest.label_suggester`):

- `out_of_fold`: the out-of-fold probabilities, from models that never saw the sample's label;
- `counterfactual`: the label whose last-layer gradient (p − e_c) ⊗ [h, 1] is the smallest under
  the analyzed model, argmin_c ‖p − e_c‖ = argmax_c p_c of its in-sample probabilities (the model
  that did see the given label, so a memorized wrong label pulls the suggestion towards itself).

Both read only the given labels' models, never a true or test label. The suggestion may equal the
given label (the model agrees with it); the runner-up is then the most likely other class.
docs/budget.md measures which one equals the true label more often on the flagged wrong labels.

Multi-label runs get a tag set (`suggest_tags`: each tag present when its sigmoid reaches ½, the set with
the smallest gradient ‖σ − t‖), regression runs a value with an interval (`suggest_values`), from the
same two sources (docs/tasks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Suggestions:
    """One row per training sample."""

    label: np.ndarray
    """(n,) int64 suggested class."""
    confidence: np.ndarray
    """(n,) float64 its probability."""
    runner_up: np.ndarray
    """(n,) int64 the second most likely class."""
    runner_up_confidence: np.ndarray
    """(n,) float64 its probability."""


def suggest_labels(probs: np.ndarray) -> Suggestions:
    """Top two classes of `probs` (n, C), C ≥ 2; ties go to the lower class index (as argmax)."""
    probs = np.asarray(probs, dtype=np.float64)
    rows = np.arange(len(probs))
    order = np.argsort(-probs, axis=1, kind="stable")
    first, second = order[:, 0], order[:, 1]
    return Suggestions(label=first.astype(np.int64), confidence=probs[rows, first],
                       runner_up=second.astype(np.int64), runner_up_confidence=probs[rows, second])


@dataclass
class TagSuggestions:
    """Multi-label runs: the suggested tag set of each sample and how sure the suggestion is of each tag."""

    tags: np.ndarray
    """(n, C) uint8 the suggested tag indicators: the tag set whose last-layer gradient ‖σ − t‖ is the smallest,
    t_c = [σ_c ≥ ½] of the probabilities read (core.tasks.multilabel.THRESHOLD)."""
    confidence: np.ndarray
    """(n, C) float32 max(σ_c, 1 − σ_c): the probability of the suggested presence or absence of tag c."""


def suggest_tags(sigmoids: np.ndarray) -> TagSuggestions:
    """Per sample and tag, present when its sigmoid reaches ½ (the predicted tag set), with its confidence."""
    from core.tasks.multilabel import THRESHOLD

    sigma = np.asarray(sigmoids, dtype=np.float64)
    return TagSuggestions(tags=(sigma >= THRESHOLD).astype(np.uint8),
                          confidence=np.maximum(sigma, 1 - sigma).astype(np.float32))


@dataclass
class ValueSuggestions:
    """Regression runs: the suggested value of each sample with an interval, in the target's units."""

    value: np.ndarray
    """(n,) float64 the prediction read (the value whose squared-error gradient is zero)."""
    low: np.ndarray
    high: np.ndarray
    """(n,) float64 value + the (1 − level)/2 and (1 + level)/2 quantiles of the out-of-fold residuals y − ŷ_oof
    of the samples estimated clean (noise probability < ½; every sample when none is)."""


def suggest_values(predictions: np.ndarray, given: np.ndarray, oof_predictions: np.ndarray,
                   noise_probability: np.ndarray, level: float) -> ValueSuggestions:
    """The predictions (n, 1) as suggestions, each with the interval a clean label falls in with probability
    `level` by the out-of-fold residuals: how far the records the model never saw lie from its predictions."""
    value = np.asarray(predictions, dtype=np.float64).reshape(len(given), -1)[:, 0]
    residual = np.asarray(given, np.float64) - np.asarray(oof_predictions, np.float64).reshape(len(given), -1)[:, 0]
    clean = np.asarray(noise_probability) < 0.5
    tail = (1.0 - level) / 2
    low, high = np.quantile(residual[clean] if clean.any() else residual, [tail, 1.0 - tail])
    return ValueSuggestions(value=value, low=value + low, high=value + high)
