"""A trained model's outputs for tag sets and numeric targets (the classification form: core.data.outputs).

The last-layer gradient is r ⊗ [h, 1] whatever the loss (docs/tasks.md), so penultimate features h and
the model's predictions are again enough:

- multi-label: `.npz` with `features` (n, D), `Y` (n, C) 0/1 tag indicators and `probs` (n, C) sigmoid
  outputs in [0, 1] or `logits` (n, C) (a sigmoid is applied); optional `Y_true`, `tag_names` (C,), `id`
  and a test split `features_test`, `probs_test` / `logits_test`, `Y_test`. A `.parquet` holds the same
  as list-valued `features` and `probs` / `logits` columns, a `labels` column of tag sets whose tags are
  the probability columns' indices (lists of integers, or `|`-joined: "0|3"), optional `true_labels`,
  `split`, `id`.
- regression: `.npz` with `features`, float `y` (n,) and `preds` (n,) or (n, 1) in the target's units;
  optional `y_true`, `id`, `features_test`, `preds_test`, `y_test`. A `.parquet`: `features`, a numeric
  `target` and `preds` columns, optional `true_target`, `split`, `id`.

Predictions are stored as the run stores them (`Dataset.train_probs`): sigmoids (n, C), values (n, 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.data.base import OUTPUTS, Dataset
from core.data.task_labels import MULTILABEL, REGRESSION, encode_tags, finite_array, indicator_matrix, parse_targets
from core.errors import DataError


def sigmoids(logits: np.ndarray | None, probs: np.ndarray | None, where: str) -> np.ndarray:
    """(n, C) float32 per-tag probabilities: the sigmoid of `logits`, or `probs` checked to lie in [0, 1]."""
    if (logits is None) == (probs is None):
        raise DataError(f"{where}: give exactly one of logits or probs")
    values = finite_array(logits if logits is not None else probs, f"{where} {'logits' if probs is None else 'probs'}")
    values = values.astype(np.float64)
    if values.ndim != 2:
        raise DataError(f"{where} logits/probs must be (n, C), got shape {values.shape}")
    if logits is not None:
        return (1 / (1 + np.exp(-values))).astype(np.float32)
    if values.min() < 0 or values.max() > 1:
        raise DataError(f"{where} probs must be per-tag sigmoid outputs in [0, 1] (logits? pass them as logits)")
    return values.astype(np.float32)


def predictions(preds: np.ndarray, n: int, where: str) -> np.ndarray:
    """(n, 1) float32 predicted values from `preds` (n,) or (n, 1)."""
    values = finite_array(preds, f"{where} preds")
    if values.shape not in ((n,), (n, 1)):
        raise DataError(f"{where} preds must have shape ({n},) or ({n}, 1), got {values.shape}")
    return values.astype(np.float32).reshape(n, 1)


def _test_split(features: np.ndarray, features_test: np.ndarray | None, scores_test: np.ndarray | None,
                labels_test: np.ndarray | None, width: int, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(test features, test predictions) checked against the training ones, or None without a test split."""
    if features_test is None:
        return None
    features_test = finite_array(features_test, f"{where} test features").astype(np.float32, copy=False)
    if features_test.ndim != 2 or features_test.shape[1] != features.shape[1]:
        raise DataError(f"{where} test features have shape {features_test.shape}, expected (m, {features.shape[1]})")
    if scores_test is None or labels_test is None:
        raise DataError(f"{where}: test features need test predictions and test labels too")
    if scores_test.shape != (len(features_test), width):
        raise DataError(f"{where} test predictions have shape {scores_test.shape}, expected "
                        f"({len(features_test)}, {width})")
    if len(labels_test) != len(features_test):
        raise DataError(f"{where}: {len(labels_test)} test labels for {len(features_test)} test rows")
    return features_test, scores_test


def task_outputs_dataset(name: str, task: str, features: np.ndarray, preds: np.ndarray, labels: np.ndarray,
                         class_names: list[str], *, true_labels: np.ndarray | None = None,
                         ids: np.ndarray | None = None, features_test: np.ndarray | None = None,
                         preds_test: np.ndarray | None = None, labels_test: np.ndarray | None = None,
                         where: str = "outputs") -> Dataset:
    """The checked OUTPUTS `Dataset` of a multilabel or regression model: labels already in the task's form,
    `preds` (n, C) sigmoids or (n, 1) values."""
    features = finite_array(features, f"{where} features").astype(np.float32, copy=False)
    if features.ndim != 2 or len(features) == 0:
        raise DataError(f"{where} features must be a non-empty (n, D) array, got shape {features.shape}")
    n, width = len(features), preds.shape[1]
    for what, values in (("predictions", preds), ("labels", labels), ("true labels", true_labels)):
        if values is not None and len(values) != n:
            raise DataError(f"{where}: {len(values)} rows of {what} for {n} rows of features")
    if task == MULTILABEL and width != len(class_names):
        raise DataError(f"{where}: {width} probability columns for {len(class_names)} tags")
    test = _test_split(features, features_test, preds_test, labels_test, width, where)
    if test is None:
        features_test, preds_test = np.zeros((0, features.shape[1]), np.float32), np.zeros((0, width), np.float32)
        labels_test = np.zeros((0, width), np.uint8) if task == MULTILABEL else np.zeros(0, np.float64)
    else:
        features_test, preds_test = test
    sources = [str(i) for i in ids] if ids is not None else [f"row {i}" for i in range(n)]
    if len(sources) != n:
        raise DataError(f"{where}: {len(sources)} ids for {n} rows of features")
    what = f"{len(class_names)} tags" if task == MULTILABEL else f"target {class_names[0]!r}"
    notes = [f"model outputs handed in: {n} x {features.shape[1]} features, {what}; no training"]
    if test is None:
        notes.append("no test split given: the run has no test evaluation and no retraining")
    return Dataset(name=name, kind=OUTPUTS, x_train=features, given_train=labels, true_train=true_labels,
                   x_test=features_test, y_test=labels_test, class_names=list(class_names), source_train=sources,
                   default_model="given", notes=notes, train_probs=preds, test_probs=preds_test,
                   test_split_carved=False, task=task)


def npz_task(arrays: dict[str, np.ndarray]) -> str | None:
    """multilabel for an outputs archive with `Y`, regression for one with `preds`, else None (classification)."""
    return MULTILABEL if "Y" in arrays else REGRESSION if "preds" in arrays else None


def load_task_outputs_npz(path: Path, arrays: dict[str, np.ndarray], task: str) -> Dataset:
    """Dataset from a multilabel or regression outputs .npz (module docstring)."""
    where = str(path)
    has_test = "features_test" in arrays
    if task == MULTILABEL:
        given = indicator_matrix(arrays["Y"], f"{where}: key Y")
        names = [str(t) for t in arrays["tag_names"].tolist()] if "tag_names" in arrays else \
            [str(c) for c in range(given.shape[1])]
        if len(names) != given.shape[1]:
            raise DataError(f"{where}: {len(names)} tag_names for {given.shape[1]} columns of Y")
        truth = indicator_matrix(arrays["Y_true"], f"{where}: key Y_true") if "Y_true" in arrays else None
        labels_test = indicator_matrix(arrays["Y_test"], f"{where}: key Y_test") if "Y_test" in arrays else None
        preds = sigmoids(arrays.get("logits"), arrays.get("probs"), where)
        preds_test = sigmoids(arrays.get("logits_test"), arrays.get("probs_test"), f"{where} (test)") \
            if has_test and ("logits_test" in arrays or "probs_test" in arrays) else None
    else:
        if "y" not in arrays:
            raise DataError(f"{where}: a regression outputs file needs key 'y'; found {', '.join(arrays)}")
        given = parse_targets(np.asarray(arrays["y"]).tolist(), where, "y", "position")
        truth = parse_targets(arrays["y_true"].tolist(), where, "y_true", "position") if "y_true" in arrays else None
        labels_test = parse_targets(arrays["y_test"].tolist(), where, "y_test", "position") \
            if "y_test" in arrays else None
        names = ["target"]
        preds = predictions(arrays["preds"], len(given), where)
        preds_test = predictions(arrays["preds_test"], len(arrays["preds_test"]), f"{where} (test)") \
            if "preds_test" in arrays else None
    return task_outputs_dataset(path.name, task, arrays["features"], preds, given, names, true_labels=truth,
                                ids=arrays.get("id"), features_test=arrays.get("features_test"),
                                preds_test=preds_test, labels_test=labels_test, where=where)


def table_task(columns: list[str]) -> str | None:
    """multilabel for an outputs table with `labels`, regression for one with `target` and `preds`, else None."""
    return MULTILABEL if "labels" in columns else REGRESSION if "target" in columns and "preds" in columns else None


def load_task_outputs_table(path: Path, table: pd.DataFrame, task: str, matrix, train: np.ndarray,
                            test: np.ndarray) -> Dataset:
    """Dataset from a multilabel or regression outputs parquet; `matrix(column, rows)` stacks a list column,
    `train` / `test` are the rows of each split."""
    where = str(path)
    if task == MULTILABEL:
        score = "logits" if "logits" in table.columns else "probs" if "probs" in table.columns else None
        if score is None:
            raise DataError(f"{path}: a multi-label outputs table needs a list-valued 'logits' or 'probs' column")
        columns = {c: table[c].to_numpy(dtype=object) for c in ("labels", "true_labels") if c in table.columns}
        width = matrix(score, np.arange(min(len(table), 1))).shape[1] if len(table) else 0
        codes, names = encode_tags(columns, where, tag_names=[str(c) for c in range(width)])

        def scores(rows: np.ndarray, label: str) -> np.ndarray:
            values = matrix(score, rows)
            return sigmoids(values if score == "logits" else None, values if score == "probs" else None,
                            f"{where}{label}")
        given, truth = codes["labels"], codes.get("true_labels")
    else:
        given = parse_targets(table["target"].to_numpy(dtype=object), where, "target")
        truth = parse_targets(table["true_target"].to_numpy(dtype=object), where, "true_target") \
            if "true_target" in table.columns else None
        names = ["target"]
        preds_all = table["preds"].to_numpy(dtype=object)

        def scores(rows: np.ndarray, label: str) -> np.ndarray:
            return predictions(np.asarray(preds_all[rows].tolist(), dtype=np.float64), len(rows), f"{where}{label}")
    ids = table["id"].to_numpy() if "id" in table.columns else None
    has_test = len(test) > 0
    return task_outputs_dataset(path.name, task, matrix("features", train), scores(train, ""), given[train], names,
                                true_labels=None if truth is None else truth[train],
                                ids=None if ids is None else ids[train],
                                features_test=matrix("features", test) if has_test else None,
                                preds_test=scores(test, " (test)") if has_test else None,
                                labels_test=(truth if truth is not None else given)[test] if has_test else None,
                                where=where)
