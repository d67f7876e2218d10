"""Noise models change exactly round(rate * n) labels, each to another class, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.noise import confusion_probabilities, flip_per_class, inject_noise, task_noise_models
from core.errors import DataError

CLASS_MODELS = task_noise_models("classification")
"""The models that flip classes (tag-set and target models: tests/data/test_task_noise.py)."""


def _labels(n: int, n_classes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, size=n)


def _features(labels: np.ndarray) -> np.ndarray:
    return (labels[:, None] * 3.0 + np.random.default_rng(1).normal(size=(len(labels), 4))).astype(np.float32)


@pytest.mark.parametrize("model", CLASS_MODELS)
@pytest.mark.parametrize("rate", [0.0, 0.05, 0.1, 0.333, 1.0])
def test_exact_count_and_always_another_class(model: str, rate: float) -> None:
    labels = _labels(301, 5)
    noisy = inject_noise(labels, 5, model, rate, np.random.default_rng(0), _features(labels))
    changed = noisy != labels
    assert changed.sum() == round(rate * len(labels))
    assert noisy.dtype == np.int64 and noisy.min() >= 0 and noisy.max() < 5


@pytest.mark.parametrize("model", CLASS_MODELS)
def test_seeded(model: str) -> None:
    labels = _labels(200, 4)

    def run(seed: int) -> np.ndarray:
        return inject_noise(labels, 4, model, 0.2, np.random.default_rng(seed), _features(labels))

    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_pairflip_moves_to_next_class() -> None:
    labels = _labels(100, 3)
    noisy = inject_noise(labels, 3, "pairflip", 0.5, np.random.default_rng(0))
    changed = noisy != labels
    assert np.array_equal(noisy[changed], (labels[changed] + 1) % 3)


def test_symmetric_reaches_every_other_class() -> None:
    labels = np.zeros(3000, dtype=np.int64)
    labels[::2] = 1
    noisy = inject_noise(labels, 4, "symmetric", 0.5, np.random.default_rng(0))
    targets = noisy[(noisy != labels) & (labels == 0)]
    assert set(np.unique(targets)) == {1, 2, 3}


def test_human_confuses_nearby_classes_more() -> None:
    # class means on a line at 0, 1, 10: class 0 should be confused with 1 far more than with 2
    labels = np.repeat([0, 1, 2], 200)
    features = np.array([0.0, 1.0, 10.0])[labels][:, None] + np.random.default_rng(0).normal(0, 0.1, (600, 1))
    probs = confusion_probabilities(labels, 3, features)
    assert np.allclose(probs.sum(axis=1), 1) and np.allclose(np.diag(probs), 0)
    means = np.array([features[labels == c, 0].mean() for c in range(3)])
    dist = np.abs(means[:, None] - means[None, :])
    tau = np.median([dist[0, 1], dist[0, 2], dist[1, 2]])
    weights = np.exp(-dist[0, 1:] / tau)
    assert np.allclose(probs[0, 1:], weights / weights.sum())
    assert probs[0, 1] > 0.7 and probs[2, 1] > probs[2, 0]
    noisy = inject_noise(labels, 3, "human", 0.5, np.random.default_rng(0), features)
    from_zero = noisy[(labels == 0) & (noisy != labels)]
    assert (from_zero == 1).mean() > 0.6


def test_human_needs_features() -> None:
    with pytest.raises(DataError, match="human"):
        inject_noise(_labels(50, 3), 3, "human", 0.2, np.random.default_rng(0))


def test_unknown_model_lists_valid_ones() -> None:
    with pytest.raises(DataError, match="pairflip") as err:
        inject_noise(_labels(10, 2), 2, "bogus", 0.1, np.random.default_rng(0))
    assert "bogus" in str(err.value) and "symmetric" in str(err.value)


def test_flip_per_class_binary() -> None:
    labels = np.repeat([0, 1], 75)
    noisy = flip_per_class(labels, 5, np.random.default_rng(0))
    changed = noisy != labels
    assert changed.sum() == 10
    assert np.bincount(labels[changed]).tolist() == [5, 5]
    assert np.array_equal(noisy[changed], 1 - labels[changed])


def test_flip_per_class_too_few_samples() -> None:
    with pytest.raises(DataError, match="only 2"):
        flip_per_class(np.array([0, 0, 1, 1, 1]), 3, np.random.default_rng(0))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), n_classes=st.integers(2, 12), rate=st.floats(0, 1), seed=st.integers(0, 2**16),
       model=st.sampled_from(CLASS_MODELS))
def test_property_exact_changes(n: int, n_classes: int, rate: float, seed: int, model: str) -> None:
    labels = _labels(n, n_classes, seed)
    noisy = inject_noise(labels, n_classes, model, rate, np.random.default_rng(seed), _features(labels))
    assert (noisy != labels).sum() == round(rate * n)
    assert noisy.min() >= 0 and noisy.max() < n_classes
