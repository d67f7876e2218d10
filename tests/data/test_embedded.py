"""digits and mnist5k: shapes, split, default 10% symmetric training noise, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import DataConfig, TrainConfig
from core.data.base import IMAGE
from core.data.load import load_dataset
from core.errors import DataError
from core.models.choice import choose_model


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(), 0)


def test_digits_is_the_default_and_well_formed(digits) -> None:
    assert DataConfig().dataset == "digits"
    assert digits.kind == IMAGE and choose_model(digits, TrainConfig()).name == "cnn"
    assert digits.x_train.dtype == np.uint8 and digits.x_train.shape[1:] == (1, 8, 8)
    assert digits.x_train.max() == 255
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(digits.x_test) == 360
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.given_train.dtype == np.int64 and digits.y_test.dtype == np.int64
    assert len(digits.source_train) == len(digits.x_train)


def test_digits_default_noise(digits) -> None:
    n_train = len(digits.x_train)
    assert (digits.true_train != digits.given_train).sum() == round(0.1 * n_train)
    assert any("symmetric" in note and "144 labels changed" in note for note in digits.notes)
    assert any("stratified 20% test split (seed 0)" in note for note in digits.notes)


def test_digits_test_labels_are_clean() -> None:
    from sklearn.datasets import load_digits

    data = load_dataset(DataConfig(), 0)
    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    rows = {images[i].tobytes(): bunch.target[i] for i in range(len(images))}
    assert all(rows[x[0].tobytes()] == y for x, y in zip(data.x_test, data.y_test))


def test_digits_deterministic(digits) -> None:
    again = load_dataset(DataConfig(), 0)
    assert np.array_equal(again.given_train, digits.given_train)
    assert np.array_equal(again.x_test, digits.x_test)
    other = load_dataset(DataConfig(), 1)
    assert not np.array_equal(other.x_test, digits.x_test)
    assert not np.array_equal(other.given_train != other.true_train, digits.given_train != digits.true_train)


@pytest.mark.parametrize("model", ["symmetric", "pairflip", "human"])
def test_digits_noise_override(model: str) -> None:
    data = load_dataset(DataConfig(noise=model, noise_rate=0.25), 3)
    changed = data.true_train != data.given_train
    assert changed.sum() == round(0.25 * len(data.x_train))
    if model == "pairflip":
        assert np.array_equal(data.given_train[changed], (data.true_train[changed] + 1) % 10)


def test_digits_noise_rate_zero_means_clean() -> None:
    data = load_dataset(DataConfig(noise_rate=0.0), 0)
    assert data.true_train is not None
    assert np.array_equal(data.true_train, data.given_train)
    assert any("no label noise" in note for note in data.notes)


def test_unknown_noise_model() -> None:
    with pytest.raises(DataError, match="unknown noise model 'gaussian'"):
        load_dataset(DataConfig(noise="gaussian"), 0)


def test_mnist5k() -> None:
    data = load_dataset(DataConfig(dataset="mnist5k"), 0)
    assert data.x_train.shape == (4000, 1, 28, 28) and data.x_test.shape == (1000, 1, 28, 28)
    assert data.x_train.dtype == np.uint8 and choose_model(data, TrainConfig()).name == "cnn"
    assert np.bincount(data.y_test).tolist() == [100] * 10
    assert (data.true_train != data.given_train).sum() == 400
    # shuffled: the label-sorted file order does not survive into the training set
    assert not np.all(np.diff(data.true_train) >= 0)
    assert data.source_train[0].startswith("row ")
    again = load_dataset(DataConfig(dataset="mnist5k"), 0)
    assert np.array_equal(again.given_train, data.given_train) and again.source_train == data.source_train
    other = load_dataset(DataConfig(dataset="mnist5k"), 1)
    assert other.source_train != data.source_train
