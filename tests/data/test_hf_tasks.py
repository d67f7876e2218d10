"""Hugging Face datasets of tag sets (Sequence/List of ClassLabel) and float targets, saved with save_to_disk
(no network): the mapping by feature type, truth, splits, --task readings and refusals, noise."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from core.config import DataConfig
from core.data.hf_columns import choose_columns
from core.data.load import load_dataset
from core.errors import ConfigError, DataError

TAG_NAMES = ["sky", "dog", "car", "unused"]
"""In no sorted order (kept as declared), with a tag no sample holds (kept too)."""
TAG_LISTS = [[0], [1, 2], [], [2], [0, 1]] * 6


def _numbers(n: int, seed: int = 0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=n).tolist(), "b": rng.normal(size=n).tolist()}


def _save(dataset, path) -> str:
    dataset.save_to_disk(str(path))
    return str(path)


def _load(dataset: str, **fields):
    return load_dataset(DataConfig(dataset=dataset, **fields), 0)


def _rows(data) -> list[int]:
    return [int(s.rsplit(" ", 1)[1]) for s in data.source_train]


def _tag_feature(kind):
    return kind(ClassLabel(names=TAG_NAMES))


TAG_KINDS = [Sequence] + ([datasets.List] if hasattr(datasets, "List") else [])


@pytest.mark.parametrize("kind", TAG_KINDS)
def test_sequence_of_class_labels_is_multilabel(tmp_path, kind) -> None:
    features = Features({"a": Value("float64"), "b": Value("float64"), "topics": _tag_feature(kind)})
    saved = Dataset.from_dict({**_numbers(30), "topics": TAG_LISTS}, features=features)
    data = _load(_save(saved, tmp_path / "tags"))
    assert data.task == "multilabel" and data.class_names == TAG_NAMES
    assert data.given_train.shape == (24, 4) and data.given_train.dtype == np.uint8
    for row, tags in zip(_rows(data), data.given_train):
        assert np.flatnonzero(tags).tolist() == sorted(TAG_LISTS[row])
    assert any("multilabel labels from multi-label column 'topics'" in note for note in data.notes)


def test_dataset_dict_test_split_and_truth(tmp_path) -> None:
    features = Features({"a": Value("float64"), "b": Value("float64"), "labels": _tag_feature(Sequence),
                         "true_labels": _tag_feature(Sequence)})
    truth = [[0]] * 10
    train = Dataset.from_dict({**_numbers(30), "labels": TAG_LISTS, "true_labels": TAG_LISTS[:20] + truth},
                              features=features)
    test = Dataset.from_dict({**_numbers(5, 1), "labels": [[1]] * 5, "true_labels": [[2]] * 5}, features=features)
    data = _load(_save(DatasetDict({"train": train, "test": test}), tmp_path / "dict"))
    assert data.task == "multilabel" and not data.test_split_carved and data.test_labels_verified
    assert data.true_train[20:].tolist() == [[1, 0, 0, 0]] * 10
    assert data.y_test.tolist() == [[0, 0, 1, 0]] * 5  # the test split's truth


def test_float_target_is_regression(tmp_path) -> None:
    target = np.round(np.linspace(3.5, 90, 30), 3).tolist()
    saved = Dataset.from_dict({**_numbers(30), "target": target, "true_target": [t + 1 for t in target]},
                              features=Features({"a": Value("float64"), "b": Value("float64"),
                                                 "target": Value("float32"), "true_target": Value("float32")}))
    data = _load(_save(saved, tmp_path / "values"))
    assert data.task == "regression" and data.class_names == ["target"] and data.x_train.shape == (24, 2)
    rows = _rows(data)
    assert np.allclose(data.given_train, np.asarray(target, dtype=np.float32)[rows])
    assert np.allclose(data.true_train - data.given_train, 1, atol=1e-4)
    scored = Dataset.from_dict({**_numbers(30), "score": target})
    named = _load(_save(scored, tmp_path / "score"), label_column="score")
    assert named.task == "regression" and named.class_names == ["score"]


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), r"@train: label column 'target' has 1 missing values, in rows 7"),
    (None, r"@train: label column 'target' has 1 missing values, in rows 7"),
    (float("inf"), r"target column 'target' holds 1 NaN or infinite values in rows 7"),
])
def test_bad_targets_name_column_and_row(tmp_path, value, message) -> None:
    target = [1.5] * 30
    target[7] = value
    saved = Dataset.from_dict({**_numbers(30), "target": target},
                              features=Features({"a": Value("float64"), "b": Value("float64"),
                                                 "target": Value("float64")}))
    with pytest.raises(DataError, match=message) as err:
        _load(_save(saved, tmp_path / "bad"))
    assert "\n" not in str(err.value)


def test_task_readings(tmp_path) -> None:
    counts = Dataset.from_dict({**_numbers(30), "label": [i % 7 for i in range(30)]})
    path = _save(counts, tmp_path / "counts")
    assert _load(path).task == "classification"
    data = _load(path, task="regression")
    assert data.task == "regression" and set(data.given_train.tolist()) <= set(map(float, range(7)))
    texts = Dataset.from_dict({**_numbers(30), "label": ["x|y", "y", "", "z|x", "z"] * 6})
    tags = _load(_save(texts, tmp_path / "texts"), task="multilabel")
    assert tags.task == "multilabel" and tags.class_names == ["x", "y", "z"]
    assert (tags.given_train.sum(axis=1) == 0).any()  # the empty text: no tag
    whole = Dataset.from_dict({**_numbers(30), "target": [float(i % 3) for i in range(30)]},
                              features=Features({"a": Value("float64"), "b": Value("float64"),
                                                 "target": Value("float64")}))
    classes = _load(_save(whole, tmp_path / "whole"), task="classification")
    assert classes.task == "classification" and classes.class_names == ["0", "1", "2"]


@pytest.mark.parametrize(("column", "feature", "task", "message"), [
    ([0, 1] * 15, ClassLabel(names=["a", "b"]), "regression", r"--task regression does not fit label column "
                                                                r"'label' \(ClassLabel\(2 names\)\), which makes a "
                                                                r"classification dataset"),
    ([[0], [1]] * 15, Sequence(ClassLabel(names=["a", "b"])), "classification", r"--task classification does not "
                                                                                r"fit label column 'label' .*which "
                                                                                r"makes a multilabel dataset"),
    ([0.5, 1.5] * 15, Value("float32"), "multilabel", r"which makes a regression or classification dataset"),
])
def test_refused_tasks(tmp_path, column, feature, task, message) -> None:
    saved = Dataset.from_dict({**_numbers(30), "label": column},
                              features=Features({"a": Value("float64"), "b": Value("float64"), "label": feature}))
    with pytest.raises(ConfigError, match=message) as err:
        _load(_save(saved, tmp_path / "data"), task=task)
    assert "\n" not in str(err.value)


def test_injected_tag_noise_on_a_saved_dataset(tmp_path) -> None:
    features = Features({"a": Value("float64"), "b": Value("float64"), "topics": _tag_feature(Sequence)})
    saved = _save(Dataset.from_dict({**_numbers(30), "topics": TAG_LISTS}, features=features), tmp_path / "tags")
    plain, noisy = _load(saved), _load(saved, noise_rate=0.25)
    assert np.array_equal(noisy.true_train, plain.given_train)
    assert (noisy.given_train != noisy.true_train).any(axis=1).sum() == 6
    with pytest.raises(DataError, match="noise model 'pairflip' corrupts classification labels"):
        _load(saved, noise_rate=0.25, noise="pairflip")


def test_choose_columns_by_type() -> None:
    chosen = choose_columns({"x": Value("float32"), "anything": Sequence(ClassLabel(names=["p", "q"]))}, "w")
    assert (chosen.label, chosen.task, chosen.inputs) == ("anything", "multilabel", ("x",))
    target = choose_columns({"x": Value("int64"), "target": Value("float64")}, "w")
    assert (target.label, target.task, target.inputs) == ("target", "regression", ("x",))
    with pytest.raises(ConfigError, match="several truth columns: true_label, true_target"):
        choose_columns({"x": Value("float32"), "label": Value("float64"), "true_label": Value("float64"),
                        "true_target": Value("float64")}, "w")
