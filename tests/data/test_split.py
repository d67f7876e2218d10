"""The carved test split is stratified, disjoint, seeded and falls back when it cannot stratify."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.split import carve_test_split, split_note
from core.errors import DataError


def test_stratified_disjoint_and_deterministic() -> None:
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, test = carve_test_split(100, labels, 0.2, seed=0)
    assert len(test) == 20 and len(train) == 80
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(100))
    assert np.bincount(labels[test]).tolist() == [10, 6, 4]
    again = carve_test_split(100, labels, 0.2, seed=0)
    assert np.array_equal(again[1], test)
    assert not np.array_equal(carve_test_split(100, labels, 0.2, seed=1)[1], test)
    assert "stratified 20% test split (seed 0)" in split_note(labels, 0.2, 0)


def test_falls_back_when_a_class_is_a_singleton() -> None:
    labels = np.array([0] * 10 + [1] * 9 + [2])
    train, test = carve_test_split(20, labels, 0.25, seed=0)
    assert len(test) == 5 and len(train) == 15
    assert "unstratified" in split_note(labels, 0.25, 0)


def test_too_few_samples() -> None:
    with pytest.raises(DataError, match="too few"):
        carve_test_split(1, np.array([0]), 0.2, seed=0)
