"""blobs and moons: the paper's sizes with exactly 10 / 20 balanced flips."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import DataConfig
from core.data.base import TABULAR
from core.data.load import load_dataset


@pytest.mark.parametrize("name, n_train, n_test, flips, model", [
    ("blobs", 150, 100, 10, "logreg"),
    ("moons", 250, 100, 20, "mlp"),
])
def test_setup(name: str, n_train: int, n_test: int, flips: int, model: str) -> None:
    data = load_dataset(DataConfig(dataset=name), 0)
    assert data.kind == TABULAR and data.default_model == model
    assert data.x_train.shape == (n_train, 2) and data.x_test.shape == (n_test, 2)
    assert data.x_train.dtype == np.float32
    assert np.bincount(data.true_train).tolist() == [n_train // 2] * 2
    assert np.bincount(data.y_test).tolist() == [n_test // 2] * 2
    changed = data.true_train != data.given_train
    assert changed.sum() == flips
    assert np.bincount(data.true_train[changed]).tolist() == [flips // 2] * 2
    assert np.array_equal(data.given_train[changed], 1 - data.true_train[changed])
    again = load_dataset(DataConfig(dataset=name), 0)
    assert np.array_equal(again.x_train, data.x_train) and np.array_equal(again.given_train, data.given_train)
    other = load_dataset(DataConfig(dataset=name), 1)
    assert not np.array_equal(other.x_train, data.x_train)


def test_noise_rate_replaces_fixed_flips() -> None:
    data = load_dataset(DataConfig(dataset="moons", noise_rate=0.3), 0)
    assert (data.true_train != data.given_train).sum() == round(0.3 * 250)
    assert any("30% symmetric" in note for note in data.notes)
