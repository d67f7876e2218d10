"""The embedded multi-label and regression sources: mnist_pairs, diabetes, regression_synth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from core.config import DataConfig
from core.data.base import IMAGE, TABULAR
from core.data.embedded import read_mnist5k
from core.data.load import load_dataset
from core.data.pairs import DIGIT_CONFUSIONS
from core.errors import DataError


@pytest.fixture(scope="module")
def pairs():
    return load_dataset(DataConfig(dataset="mnist_pairs"), 0)


@pytest.fixture(scope="module")
def mnist():
    return read_mnist5k()


def _digits_of(halves: np.ndarray, lookup: dict[bytes, int]) -> set[int]:
    return {lookup[halves[:, :, :28].tobytes()], lookup[halves[:, :, 28:].tobytes()]}


def test_pairs_shapes_and_tags_are_the_digits_shown(pairs, mnist) -> None:
    images, digits = mnist
    assert pairs.task == "multilabel" and pairs.kind == IMAGE and pairs.class_names == [str(d) for d in range(10)]
    assert pairs.x_train.shape == (2400, 1, 28, 56) and pairs.x_test.shape == (600, 1, 28, 56)
    assert pairs.given_train.shape == (2400, 10) and pairs.given_train.dtype == np.uint8
    for image, truth, source in zip(pairs.x_train[:300], pairs.true_train[:300], pairs.source_train[:300]):
        left, right = (int(i) for i in source.removeprefix("mnist5k rows ").split("+"))
        assert np.array_equal(image[:, :, :28], images[left]) and np.array_equal(image[:, :, 28:], images[right])
        assert set(np.flatnonzero(truth).tolist()) == {digits[left], digits[right]}
    assert (pairs.true_train.sum(axis=1) == 1).any()  # a pair of one digit has one tag


def test_pairs_test_set_is_clean_and_shares_no_digit_image(pairs, mnist) -> None:
    images, digits = mnist
    lookup = {image.tobytes(): int(d) for image, d in zip(images, digits)}
    train_halves = {h.tobytes() for image in pairs.x_train for h in (image[:, :, :28], image[:, :, 28:])}
    test_halves = {h.tobytes() for image in pairs.x_test for h in (image[:, :, :28], image[:, :, 28:])}
    assert not train_halves & test_halves
    for image, tags in zip(pairs.x_test, pairs.y_test):
        assert set(np.flatnonzero(tags).tolist()) == _digits_of(image, lookup)


def test_pairs_default_noise_is_ten_percent_tag_errors(pairs) -> None:
    wrong = (pairs.given_train != pairs.true_train).any(axis=1)
    assert wrong.sum() == 240
    removed = (pairs.true_train == 1) & (pairs.given_train == 0)
    added = (pairs.true_train == 0) & (pairs.given_train == 1)
    swaps = np.flatnonzero((removed.sum(axis=1) == 1) & (added.sum(axis=1) == 1))
    assert len(swaps) > 40
    for row in swaps:
        gone, new = int(np.flatnonzero(removed[row])[0]), int(np.flatnonzero(added[row])[0])
        held = set(np.flatnonzero(pairs.true_train[row]).tolist())
        assert new == next(d for d in DIGIT_CONFUSIONS[gone] if d not in held)
    assert any(note.startswith("injected 10% tags noise: 240 tag sets changed") for note in pairs.notes)


def test_pairs_seeded_and_rate_configurable() -> None:
    again = load_dataset(DataConfig(dataset="mnist_pairs", noise_rate=0.05), 0)
    other = load_dataset(DataConfig(dataset="mnist_pairs", noise_rate=0.05), 1)
    assert (again.given_train != again.true_train).any(axis=1).sum() == 120
    assert not np.array_equal(again.x_train, other.x_train)
    with pytest.raises(DataError, match="noise model 'symmetric' corrupts classification labels"):
        load_dataset(DataConfig(dataset="mnist_pairs", noise="symmetric"), 0)


def test_diabetes_records_and_corrupted_targets() -> None:
    data = load_dataset(DataConfig(dataset="diabetes"), 0)
    bunch = load_diabetes()
    assert data.task == "regression" and data.kind == TABULAR and data.class_names == ["progression"]
    assert data.x_train.shape == (353, 10) and data.x_test.shape == (89, 10)
    rows = [int(s.split()[1]) for s in data.source_train]
    assert np.array_equal(data.true_train, bunch.target[rows])
    assert np.allclose(data.x_train, bunch.data[rows])
    test_rows = sorted(set(range(442)) - set(rows))
    assert np.array_equal(np.sort(data.y_test), np.sort(bunch.target[test_rows]))
    assert (~np.isclose(data.given_train, data.true_train)).sum() == round(0.08 * 353) == 28
    assert data.test_labels_verified
    clean = load_dataset(DataConfig(dataset="diabetes", noise_rate=0.0), 0)
    assert np.array_equal(clean.given_train, clean.true_train)


def test_regression_synth_size_noise_and_seed() -> None:
    data = load_dataset(DataConfig(dataset="regression_synth"), 0)
    assert data.task == "regression" and data.x_train.shape == (40_000, 10) and data.x_test.shape == (10_000, 10)
    assert (~np.isclose(data.given_train, data.true_train)).sum() == 3200
    assert np.array_equal(np.round(data.true_train, 2), data.true_train)  # typed to cents
    assert 100 < np.median(data.true_train) < 500
    # the target depends on the features beyond a line: a linear fit leaves more error than the added noise
    design = np.c_[data.x_test, np.ones(len(data.x_test))]
    coef, *_ = np.linalg.lstsq(design, data.y_test, rcond=None)
    assert np.sqrt(np.mean((design @ coef - data.y_test) ** 2)) > 10
    other = load_dataset(DataConfig(dataset="regression_synth", noise_rate=0.0), 1)
    assert not np.array_equal(other.x_train[:5], data.x_train[:5])
    assert np.array_equal(other.given_train, other.true_train)
