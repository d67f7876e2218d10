"""Tag sets and numeric targets in .npz archives and model-outputs files (npz and parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig
from core.data.base import OUTPUTS, TABULAR
from core.data.load import load_dataset
from core.errors import DataError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 3))
Y = (RNG.random((30, 4)) < 0.4).astype(np.int64)
Y[0] = [1, 0, 0, 0]
Y[1] = [0, 1, 1, 1]
TARGETS = np.round(RNG.uniform(10, 500, 30), 2)


def _save(tmp_path: Path, name: str = "data.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _load(path: Path, **fields):
    return load_dataset(DataConfig(dataset=str(path), **fields), 0)


def _rows(data) -> list[int]:
    return [int(s.split()[1]) for s in data.source_train]


def test_tag_indicators_are_multilabel(tmp_path: Path) -> None:
    truth = Y.copy()
    truth[:, 0] = 1
    data = _load(_save(tmp_path, X=X, Y=Y, Y_true=truth, tag_names=np.array(["cat", "dog", "car", "sky"])))
    assert data.task == "multilabel" and data.kind == TABULAR and data.class_names == ["cat", "dog", "car", "sky"]
    rows = _rows(data)
    assert len(rows) == 24 and data.given_train.dtype == np.uint8
    assert np.array_equal(data.given_train, Y[rows]) and np.array_equal(data.true_train, truth[rows])
    test_rows = sorted(set(range(30)) - set(rows))
    assert np.array_equal(data.y_test, truth[test_rows])  # the truth
    assert any("read multilabel labels from key Y" in note for note in data.notes)


def test_tag_indicators_with_a_test_split_and_default_names(tmp_path: Path) -> None:
    data = _load(_save(tmp_path, X=X, Y=Y.astype(bool), X_test=X[:5], Y_test=Y[:5].astype(np.float32)))
    assert data.class_names == ["0", "1", "2", "3"] and not data.test_split_carved
    assert np.array_equal(data.given_train, Y) and np.array_equal(data.y_test, Y[:5])


def test_float_targets_are_regression(tmp_path: Path) -> None:
    data = _load(_save(tmp_path, X=X, y=TARGETS, y_true=TARGETS + 1))
    assert data.task == "regression" and data.class_names == ["target"]
    rows = _rows(data)
    assert np.array_equal(data.given_train, TARGETS[rows]) and np.array_equal(data.true_train, TARGETS[rows] + 1)
    test = _load(_save(tmp_path, "t.npz", X=X, y=TARGETS, X_test=X[:4], y_test=np.array([1.5, 2, 3, 4])))
    assert test.task == "regression" and test.y_test.tolist() == [1.5, 2.0, 3.0, 4.0]


def test_whole_floats_stay_classes_unless_told(tmp_path: Path) -> None:
    path = _save(tmp_path, X=X, y=np.arange(30.0) % 3)
    assert _load(path).task == "classification"
    data = _load(path, task="regression")
    assert data.task == "regression" and set(data.given_train.tolist()) <= {0.0, 1.0, 2.0}


def test_joined_tag_texts_read_as_tags(tmp_path: Path) -> None:
    data = _load(_save(tmp_path, X=X, y=np.array(["a|b", "b", "", "c|a", "c"] * 6)), task="multilabel")
    assert data.task == "multilabel" and data.class_names == ["a", "b", "c"]
    cells = ["a|b", "b", "", "c|a", "c"]
    for row, tags in zip(_rows(data), data.given_train):
        assert {data.class_names[i] for i in np.flatnonzero(tags)} == set(filter(None, cells[row % 5].split("|")))


@pytest.mark.parametrize(("arrays", "task", "fragments"), [
    (dict(X=X, Y=Y * 2), None, ["key Y must hold only 0 and 1", "row 0 column 0 holds 2"]),
    (dict(X=X, Y=Y, y=Y[:, 0]), None, ["has both y", "and Y"]),
    (dict(X=X, Y=Y[:, 0]), None, ["key Y has shape (30,), expected (30, C)"]),
    (dict(X=X, Y=Y, tag_names=np.array(["a", "b"])), None, ["tag_names must hold 4 distinct names"]),
    (dict(X=X, Y=Y, X_test=X[:2], Y_test=Y[:2, :3]), None, ["same number of tags"]),
    (dict(X=X, Y=Y), "regression", ["--task regression does not fit key Y"]),
    (dict(X=X, y=TARGETS), "multilabel", ["--task multilabel does not fit a float y with fractions, which makes a "
                                          "regression or classification dataset"]),
    (dict(X=X, y=TARGETS), "classification", ["'y' holds non-integer numbers"]),
    (dict(X=X, y=np.r_[TARGETS[:29], np.inf]), None, ["target column 'y' holds 1 NaN or infinite values in "
                                                      "positions 29"]),
])
def test_refused_archives(tmp_path: Path, arrays: dict, task: str | None, fragments: list[str]) -> None:
    path = _save(tmp_path, "bad.npz", **arrays)
    with pytest.raises(DataError) as err:
        _load(path, task=task)
    message = str(err.value)
    assert "bad.npz" in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_noise_on_an_archive_of_targets(tmp_path: Path) -> None:
    data = _load(_save(tmp_path, X=X, y=TARGETS), noise_rate=0.25)
    assert (~np.isclose(data.given_train, data.true_train)).sum() == 6


# --- model outputs ---------------------------------------------------------------------------------

FEATURES = RNG.normal(size=(30, 5)).astype(np.float32)


def test_multilabel_outputs_npz(tmp_path: Path) -> None:
    probs = np.full((30, 4), 0.25)
    data = _load(_save(tmp_path, features=FEATURES, Y=Y, probs=probs, tag_names=np.array(list("abcd")),
                       features_test=FEATURES[:3], logits_test=np.array([[0.0, np.log(3), 0, 0]] * 3),
                       Y_test=Y[:3]))
    assert data.task == "multilabel" and data.kind == OUTPUTS and data.class_names == list("abcd")
    assert np.allclose(data.train_probs, 0.25) and data.train_probs.shape == (30, 4)
    assert np.allclose(data.test_probs, [[0.5, 0.75, 0.5, 0.5]] * 3)  # sigmoid(0) and sigmoid(log 3)
    assert np.array_equal(data.given_train, Y) and data.source_train[:2] == ["row 0", "row 1"]


def test_regression_outputs_npz(tmp_path: Path) -> None:
    data = _load(_save(tmp_path, features=FEATURES, y=TARGETS, preds=TARGETS + 2, y_true=TARGETS,
                       features_test=FEATURES[:4], preds_test=np.arange(4.0)[:, None], y_test=np.arange(4.0)))
    assert data.task == "regression" and data.class_names == ["target"]
    assert data.train_probs.shape == (30, 1) and np.allclose(data.train_probs[:, 0], TARGETS + 2)
    assert data.test_probs.shape == (4, 1) and np.array_equal(data.true_train, TARGETS)


@pytest.mark.parametrize(("arrays", "task", "fragment"), [
    (dict(features=FEATURES, Y=Y, probs=np.full((30, 4), 1.5)), None, "probs must be per-tag sigmoid outputs"),
    (dict(features=FEATURES, Y=Y, probs=np.full((30, 3), 0.5)), None, "3 probability columns for 4 tags"),
    (dict(features=FEATURES, y=TARGETS, preds=np.zeros((30, 2))), None, "preds must have shape (30,) or (30, 1)"),
    (dict(features=FEATURES, y=np.r_[TARGETS[:29], np.nan], preds=TARGETS), None, "NaN or infinite values in "
                                                                                  "positions 29"),
    (dict(features=FEATURES, y=TARGETS, preds=TARGETS), "classification", "--task classification does not fit an "
                                                                          "outputs file with key preds"),
    (dict(features=FEATURES, y=np.arange(30) % 2, probs=np.full((30, 2), 0.5)), "multilabel", "--task multilabel "
                                                                                             "does not fit"),
])
def test_refused_outputs(tmp_path: Path, arrays: dict, task: str | None, fragment: str) -> None:
    with pytest.raises(DataError) as err:
        _load(_save(tmp_path, "bad.npz", **arrays), task=task)
    assert fragment in str(err.value) and "bad.npz" in str(err.value)


def test_outputs_parquet_of_each_kind(tmp_path: Path) -> None:
    split = ["train"] * 25 + ["test"] * 5
    tags = tmp_path / "tags.parquet"
    pd.DataFrame({"features": list(FEATURES.astype(np.float64)), "logits": [[0.0, 0.0]] * 30,
                  "labels": [[0], [0, 1], []] * 10, "split": split}).to_parquet(tags)
    data = _load(tags)
    assert data.task == "multilabel" and data.class_names == ["0", "1"] and len(data.y_test) == 5
    assert np.allclose(data.train_probs, 0.5) and data.given_train[:3].tolist() == [[1, 0], [1, 1], [0, 0]]
    values = tmp_path / "values.parquet"
    pd.DataFrame({"features": list(FEATURES.astype(np.float64)), "preds": TARGETS - 1, "target": TARGETS,
                  "true_target": TARGETS + 1, "split": split}).to_parquet(values)
    data = _load(values)
    assert data.task == "regression" and np.allclose(data.train_probs[:, 0], TARGETS[:25] - 1)
    assert np.array_equal(data.y_test, TARGETS[25:] + 1) and np.array_equal(data.given_train, TARGETS[:25])


def test_outputs_parquet_tags_must_be_probability_columns(tmp_path: Path) -> None:
    path = tmp_path / "tags.parquet"
    pd.DataFrame({"features": list(FEATURES[:4].astype(np.float64)), "probs": [[0.5, 0.5]] * 4,
                  "labels": [[0], [1], [2], []]}).to_parquet(path)
    with pytest.raises(DataError, match=r"column 'labels' row 2 holds tag\(s\) 2 that the tag list \(0, 1\) does "
                                        r"not hold \(1 rows in all\)"):
        _load(path)


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_api_arrays_of_tags_and_values_become_outputs_files(tmp_path: Path, monkeypatch, task: str) -> None:
    import types

    from core import api
    from core.pipeline import runner

    seen = {}

    def fake_analysis(config, out, **kwargs):
        seen["data"] = load_dataset(config.data, config.seed)
        return types.SimpleNamespace(path=Path(out))

    monkeypatch.setattr(api, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(runner, "analyze", fake_analysis)
    if task == "multilabel":
        api.analyze(features=FEATURES, probs=np.full((30, 4), 0.25), labels=Y, class_names=list("abcd"),
                    out=tmp_path / "run")
    else:
        api.analyze(features=FEATURES, preds=TARGETS + 1, labels=TARGETS, out=tmp_path / "run")
    data = seen["data"]
    assert data.task == task and data.kind == OUTPUTS
    if task == "multilabel":
        assert data.class_names == list("abcd") and np.array_equal(data.given_train, Y)
    else:
        assert np.allclose(data.train_probs[:, 0], TARGETS + 1) and np.array_equal(data.given_train, TARGETS)
