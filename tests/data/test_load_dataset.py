"""load_dataset: name vs path dispatch, error messages, and configured noise on user data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig
from core.data.base import Dataset
from core.data.load import load_dataset
from core.data.noise import task_noise_models
from core.data.registry import DATASETS
from core.errors import DataError


def test_registry_names_every_source_with_help() -> None:
    assert {"digits", "mnist5k", "blobs", "moons", "cifar10n", "cifar100n"} <= set(DATASETS)
    assert all(DATASETS.help(name) for name in DATASETS)
    assert all(callable(DATASETS.get(name)) for name in DATASETS)


def test_unknown_name_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(dataset=str(tmp_path / "nope")), 0)
    message = str(err.value)
    assert "nope" in message and "neither a registered dataset" in message
    for name in DATASETS:
        assert name in message


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(DataError, match="data.json") as err:
        load_dataset(DataConfig(dataset=str(path)), 0)
    assert ".csv" in str(err.value) and ".npz" in str(err.value)


def _user_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    table = pd.DataFrame({"label": labels, "a": labels + rng.normal(size=100), "b": rng.normal(size=100)})
    path = tmp_path / "user.csv"
    table.to_csv(path, index=False)
    return path


def test_user_data_has_no_noise_by_default(tmp_path: Path) -> None:
    data = load_dataset(DataConfig(dataset=str(_user_table(tmp_path))), 0)
    assert data.true_train is None


@pytest.mark.parametrize("model", task_noise_models("classification"))
def test_configured_noise_on_user_data(tmp_path: Path, model: str) -> None:
    path = _user_table(tmp_path)
    plain = load_dataset(DataConfig(dataset=str(path)), 0)
    data = load_dataset(DataConfig(dataset=str(path), noise=model, noise_rate=0.15), 0)
    assert isinstance(data, Dataset)
    assert np.array_equal(data.true_train, plain.given_train)
    changed = data.true_train != data.given_train
    assert changed.sum() == round(0.15 * len(data.x_train))
    assert np.array_equal(data.y_test, plain.y_test)
    again = load_dataset(DataConfig(dataset=str(path), noise=model, noise_rate=0.15), 0)
    assert np.array_equal(again.given_train, data.given_train)
    other = load_dataset(DataConfig(dataset=str(path), noise=model, noise_rate=0.15), 1)
    assert not np.array_equal(other.given_train, data.given_train)


def test_noise_model_without_rate_is_noted(tmp_path: Path) -> None:
    data = load_dataset(DataConfig(dataset=str(_user_table(tmp_path)), noise="pairflip"), 0)
    assert data.true_train is None
    assert any("not applied" in note for note in data.notes)


def test_unknown_noise_model_for_user_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="symmetric"):
        load_dataset(DataConfig(dataset=str(_user_table(tmp_path)), noise="bogus", noise_rate=0.1), 0)
