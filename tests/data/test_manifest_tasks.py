"""Manifests of tag sets (`labels`) and numeric targets (`target`): inference, truth, splits, --task, noise, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig
from core.data.base import TABULAR
from core.data.load import load_dataset
from core.errors import ConfigError, DataError

TAGS = ["dog|car", "dog", "", "car|cat", "cat", "10|2", " dog | cat "]
"""Raw cells: tag names (numbers among them), an empty set, spaces around names."""
EXPECTED = {"dog|car": {"car", "dog"}, "dog": {"dog"}, "": set(), "car|cat": {"car", "cat"}, "cat": {"cat"},
            "10|2": {"2", "10"}, " dog | cat ": {"cat", "dog"}}


def _table(n: int = 35, seed: int = 0, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"f1": rng.normal(size=n), "f2": rng.normal(size=n), **columns})


def _load(path: Path, **fields):
    return load_dataset(DataConfig(dataset=str(path), **fields), 0)


def _rows(data) -> list[int]:
    return [int(s.split()[1]) for s in data.source_train]


def test_csv_labels_column_is_multilabel(tmp_path: Path) -> None:
    cells = [TAGS[i % len(TAGS)] for i in range(35)]
    path = tmp_path / "tags.csv"
    _table(labels=cells).to_csv(path, index=False)
    data = _load(path)
    assert data.task == "multilabel" and data.kind == TABULAR
    assert data.class_names == ["10", "2", "car", "cat", "dog"]  # text order: not every tag is a number
    assert data.given_train.dtype == np.uint8 and data.given_train.shape == (28, 5)
    assert len(data.y_test) == math.ceil(0.2 * 35) and data.true_train is None
    for row, tags in zip(_rows(data), data.given_train):
        assert {data.class_names[i] for i in np.flatnonzero(tags)} == EXPECTED[cells[row]]
    assert data.x_train.shape == (28, 2)  # the labels column is not a feature
    assert any("unstratified (tag sets and numeric targets are split plainly) 20% test split" in n for n in data.notes)


def test_numeric_tags_sort_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    _table(n=20, labels=["2|10", "1", "10", "2|1"] * 5).to_csv(path, index=False)
    assert _load(path).class_names == ["1", "2", "10"]


def test_parquet_list_column_with_truth_and_split(tmp_path: Path) -> None:
    given = [["a", "b"], ["a"], [], ["c"]] * 5
    truth = [["a"], ["a"], [], ["c", "b"]] * 5
    split = ["train"] * 16 + ["test"] * 4
    path = tmp_path / "tags.parquet"
    _table(n=20, labels=given, true_labels=truth, split=split).to_parquet(path)
    data = _load(path)
    assert data.task == "multilabel" and data.class_names == ["a", "b", "c"]
    assert data.given_train[:4].tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1]]
    assert data.true_train[:4].tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]]
    assert data.y_test.tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]]  # the truth
    assert data.test_labels_verified and not data.test_split_carved


def test_target_column_is_regression(tmp_path: Path) -> None:
    target = np.arange(40) * 3 + 7  # integers make a regression too
    path = tmp_path / "prices.csv"
    _table(n=40, target=target, true_target=target + 0.5).to_csv(path, index=False)
    data = _load(path)
    assert data.task == "regression" and data.class_names == ["target"] and data.n_classes == 1
    assert data.given_train.dtype == np.float64
    rows = _rows(data)
    assert data.given_train.tolist() == [float(target[r]) for r in rows]
    assert data.true_train.tolist() == [target[r] + 0.5 for r in rows]
    assert sorted(data.y_test.tolist() + data.true_train.tolist()) == sorted((target + 0.5).tolist())
    assert len(data.y_test) == 8 and data.x_train.shape[1] == 2


def test_parquet_float_target(tmp_path: Path) -> None:
    path = tmp_path / "dose.parquet"
    _table(n=20, target=np.linspace(0.5, 9.5, 20)).to_parquet(path)
    data = _load(path)
    assert data.task == "regression"
    assert np.allclose(np.sort(np.concatenate([data.given_train, data.y_test])), np.linspace(0.5, 9.5, 20))


def test_task_overrides(tmp_path: Path) -> None:
    numeric = tmp_path / "numeric_label.csv"
    _table(n=20, label=np.arange(20) % 7 * 1.5).to_csv(numeric, index=False)
    data = _load(numeric, task="regression")
    assert data.task == "regression" and data.class_names == ["label"]
    assert set(data.given_train.tolist()) <= {i * 1.5 for i in range(7)}
    assert any("read column 'label' as regression labels (--task regression)" in n for n in data.notes)
    joined = tmp_path / "joined_label.csv"
    _table(n=20, label=["x|y", "y", "x", "z"] * 5).to_csv(joined, index=False)
    assert _load(joined).task == "classification"
    tags = _load(joined, task="multilabel")
    assert tags.task == "multilabel" and tags.class_names == ["x", "y", "z"]
    classes = tmp_path / "class_numbers.csv"
    _table(n=20, target=np.arange(20) % 3).to_csv(classes, index=False)
    data = _load(classes, task="classification")
    assert data.task == "classification" and data.class_names == ["0", "1", "2"]


@pytest.mark.parametrize(("columns", "task", "message"), [
    ({"labels": ["a|b", "b"] * 10}, "classification", "--task classification does not fit a 'labels' column, which "
                                                       "makes a multilabel dataset"),
    ({"labels": ["a|b", "b"] * 10}, "regression", "--task regression does not fit a 'labels' column"),
    ({"target": np.arange(20.0)}, "multilabel", "--task multilabel does not fit a 'target' column, which makes a "
                                                "regression or classification dataset"),
    ({"label": ["cat", "dog"] * 10}, "regression", r"target column 'label' holds 20 non-numeric values in rows 0, 1, "
                                                   r"2, 3, 4 \(and 15 more\), e.g. 'cat' in row 0"),
    ({"labels": ["a", "b"] * 10, "target": np.arange(20.0)}, None, "has the label columns 'labels', 'target'; a "
                                                                    "manifest has one .*; pick one with --task"),
    ({"labels": ["a", "b"] * 10, "target": np.arange(20.0)}, "classification", "--task classification reads 'label', "
                                                                                "which it lacks"),
    ({"label": ["a", "b"] * 10, "true_target": np.arange(20.0)}, None, "has a 'true_target' column but no 'target' "
                                                                        "column"),
])
def test_refused_combinations(tmp_path: Path, columns: dict, task: str | None, message: str) -> None:
    path = tmp_path / "m.csv"
    _table(n=20, **columns).to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as err:
        _load(path, task=task)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_task_picks_one_of_several_label_columns(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    _table(n=20, labels=["a|b", "b"] * 10, target=np.arange(20.0)).to_csv(path, index=False)
    data = _load(path, task="regression")
    assert data.task == "regression" and data.x_train.shape[1] == 2
    assert any("ignored column(s) labels: --task regression reads 'target'" in n for n in data.notes)


@pytest.mark.parametrize(("column", "cells", "message"), [
    ("labels", ["a|b"] * 5 + ["a||b"] + ["b"] * 14, r"column 'labels' row 5 holds an empty tag name in 'a\|\|b'"),
    ("labels", ["a|"] + ["b"] * 19, r"column 'labels' row 0 holds an empty tag name in 'a\|'"),
    ("target", ["1.5"] * 3 + ["12 kg"] + ["2"] * 16, r"target column 'target' holds 1 non-numeric values in rows 3, "
                                                     r"e.g. '12 kg' in row 3"),
    ("target", ["1.5"] * 7 + ["nan", "inf"] + ["2"] * 11, r"target column 'target' holds 2 NaN or infinite values in "
                                                           r"rows 7, 8, e.g. 'nan' in row 7"),
    ("target", ["1.5"] * 7 + [""] + ["2"] * 12, r"target column 'target' holds 1 missing values in rows 7"),
    ("true_target", ["3"] * 2 + ["x"] + ["3"] * 17, r"target column 'true_target' holds 1 non-numeric values"),
])
def test_bad_values_name_file_column_and_row(tmp_path: Path, column: str, cells: list, message: str) -> None:
    base = {"target": ["1"] * 20} if column == "true_target" else {}
    path = tmp_path / "bad.csv"
    _table(n=20, **base, **{column: cells}).to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as err:
        _load(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_parquet_nan_target_and_missing_tag_set(tmp_path: Path) -> None:
    nan = tmp_path / "nan.parquet"
    _table(n=20, target=[1.0] * 4 + [np.nan] + [2.0] * 15).to_parquet(nan)
    with pytest.raises(DataError, match="holds 1 NaN or infinite values in rows 4"):
        _load(nan)
    missing = tmp_path / "missing.parquet"
    _table(n=20, labels=[["a"]] * 19 + [None]).to_parquet(missing)
    with pytest.raises(DataError, match="column 'labels' is missing in row 19; an empty tag set is written as an "
                                        "empty cell or an empty list"):
        _load(missing)


def test_injected_noise_keeps_the_truth(tmp_path: Path) -> None:
    tags = tmp_path / "tags.csv"
    _table(n=60, labels=["a|b", "b", "c", "", "a|c"] * 12).to_csv(tags, index=False)
    plain = _load(tags)
    noisy = _load(tags, noise_rate=0.25)
    assert np.array_equal(noisy.true_train, plain.given_train) and np.array_equal(noisy.y_test, plain.y_test)
    assert (noisy.given_train != noisy.true_train).any(axis=1).sum() == round(0.25 * 48)
    assert any(n.startswith("injected 25% tags noise: 12 tag sets changed") for n in noisy.notes)
    target = tmp_path / "target.csv"
    _table(n=50, target=np.arange(50) * 7.0 + 20).to_csv(target, index=False)
    noisy = _load(target, noise_rate=0.1)
    assert (~np.isclose(noisy.given_train, noisy.true_train)).sum() == 4
    with pytest.raises(DataError, match="noise model 'human' corrupts classification labels; a regression dataset "
                                        "takes targets"):
        _load(target, noise_rate=0.1, noise="human")


def test_config_validates_the_task_name() -> None:
    assert DataConfig(task="multilabel").task == "multilabel"
    with pytest.raises(ConfigError, match="data.task: unknown task 'tags'; valid tasks: classification, multilabel, "
                                          "regression"):
        DataConfig(task="tags")


def test_task_of_a_registered_dataset_must_match() -> None:
    with pytest.raises(DataError, match="dataset 'blobs' is a classification dataset; --task regression does not "
                                        "fit it"):
        load_dataset(DataConfig(dataset="blobs", task="regression"), 0)


def test_cli_has_the_task_option() -> None:
    from typer.testing import CliRunner

    from core.cli.main import app

    runner = CliRunner()
    assert "--task" in runner.invoke(app, ["analyze", "--help"], terminal_width=200).output
    refused = runner.invoke(app, ["analyze", "--dataset", "blobs", "--task", "tags"])
    assert refused.exit_code != 0 and "data.task: unknown task 'tags'" in refused.output
