"""A trained model's outputs, from any framework: the closed-form gradient needs nothing else.

The last-layer gradient of a sample is (p − e_y) ⊗ [h, 1], so a model's penultimate features h,
its logits (or probabilities) p and the labels y are enough for every in-sample score: no
training, no network. Two forms:

- `.npz` with `features` (n, D) float, `logits` (n, C) or `probs` (n, C), `y` (n,) integer class
  indices (or class names when `class_names` is given), and optional `y_true` (n,), `id` (n,)
  (carried into `source`), `class_names` (C,), and a test split `features_test`,
  `logits_test` / `probs_test`, `y_test`.
- `.parquet` with list-valued `features` and `logits` or `probs` columns, `label`, and optional
  `true_label`, `split` ('train' / 'test'), `id`.

Tag sets (`Y`, a `labels` column) and numeric targets (`preds`) are read by core.data.outputs_tasks;
`--task` must agree with what the file holds.

A file is an outputs file when it holds `features` (the loader of core.data.load dispatches on
the keys present). Refused with one line naming the key: mismatched shapes, NaN or infinite
values, probabilities that do not sum to 1 (tolerance 1e-3), labels outside the logits' classes.
Without a test split, the run has no test evaluation (nothing is carved: the given outputs of a
carved split would be the model's outputs on its own training data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.config import DataConfig
from core.data.base import OUTPUTS, Dataset
from core.data.outputs_tasks import load_task_outputs_npz, load_task_outputs_table, npz_task, table_task
from core.data.task_labels import CLASSIFICATION, finite_array, resolve_task
from core.errors import DataError

PROB_SUM_TOLERANCE = 1e-3
OUTPUT_KEYS = ("features", "logits", "probs", "y", "y_true", "id", "class_names", "features_test", "logits_test",
               "probs_test", "y_test")


def is_outputs_npz(keys: list[str] | set[str]) -> bool:
    return "features" in keys


def probabilities(logits: np.ndarray | None, probs: np.ndarray | None, where: str) -> np.ndarray:
    """(n, C) float32 probabilities: softmax of `logits`, or `probs` checked to be distributions."""
    if (logits is None) == (probs is None):
        raise DataError(f"{where}: give exactly one of logits or probs")
    if logits is not None:
        logits = finite_array(logits, f"{where} logits").astype(np.float64)
        if logits.ndim != 2:
            raise DataError(f"{where} logits must be (n, C), got shape {logits.shape}")
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    probs = finite_array(probs, f"{where} probs").astype(np.float64)
    if probs.ndim != 2:
        raise DataError(f"{where} probs must be (n, C), got shape {probs.shape}")
    if probs.min() < 0:
        raise DataError(f"{where} probs holds negative values (logits? pass them as logits)")
    sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    if abs(sums[worst] - 1) > PROB_SUM_TOLERANCE:
        raise DataError(f"{where} probs rows must sum to 1 (±{PROB_SUM_TOLERANCE:g}); row {worst} sums to "
                        f"{sums[worst]:.6g}")
    return (probs / sums[:, None]).astype(np.float32)


def _labels(values: np.ndarray, n_classes: int, names: list[str], where: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "USO":
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(v) for v in values if str(v) not in index})
        if unknown:
            raise DataError(f"{where} names classes not in class_names: {', '.join(unknown[:5])}")
        return np.array([index[str(v)] for v in values], dtype=np.int64)
    if not np.issubdtype(values.dtype, np.number) or not np.all(np.isfinite(values)) or \
            not np.all(values == np.round(values)):
        raise DataError(f"{where} must be integer class indices (or class names with class_names given)")
    labels = values.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{where} goes from {labels.min()} to {labels.max()}, but the logits have {n_classes} "
                        f"classes (indices 0..{n_classes - 1})")
    return labels


def outputs_dataset(name: str, features: np.ndarray, probs: np.ndarray, labels: np.ndarray, *,
                    true_labels: np.ndarray | None = None, ids: np.ndarray | None = None,
                    class_names: list[str] | None = None, features_test: np.ndarray | None = None,
                    probs_test: np.ndarray | None = None, labels_test: np.ndarray | None = None,
                    where: str = "outputs") -> Dataset:
    """The checked `Dataset` of a model's outputs (shapes, classes and values validated, naming `where`)."""
    features = finite_array(features, f"{where} features").astype(np.float32, copy=False)
    if features.ndim != 2 or len(features) == 0:
        raise DataError(f"{where} features must be a non-empty (n, D) array, got shape {features.shape}")
    n, n_classes = len(features), probs.shape[1]
    if len(probs) != n:
        raise DataError(f"{where}: {len(probs)} rows of logits/probs for {n} rows of features")
    names = [str(c) for c in class_names] if class_names is not None else [str(c) for c in range(n_classes)]
    if len(names) != n_classes:
        raise DataError(f"{where}: {len(names)} class_names for {n_classes} logit columns")
    given = _labels(labels, n_classes, names, f"{where} labels")
    if len(given) != n:
        raise DataError(f"{where}: {len(given)} labels for {n} rows of features")
    truth = None if true_labels is None else _labels(true_labels, n_classes, names, f"{where} true labels")
    if truth is not None and len(truth) != n:
        raise DataError(f"{where}: {len(truth)} true labels for {n} rows of features")
    has_test = features_test is not None
    if has_test:
        features_test = finite_array(features_test, f"{where} test features").astype(np.float32, copy=False)
        if features_test.ndim != 2 or features_test.shape[1] != features.shape[1]:
            raise DataError(f"{where} test features have shape {features_test.shape}, expected (m, "
                            f"{features.shape[1]}) to match the training features")
        if probs_test is None or labels_test is None:
            raise DataError(f"{where}: test features need test logits/probs and test labels too")
        if probs_test.shape != (len(features_test), n_classes):
            raise DataError(f"{where} test logits/probs have shape {probs_test.shape}, expected "
                            f"({len(features_test)}, {n_classes})")
        y_test = _labels(labels_test, n_classes, names, f"{where} test labels")
        if len(y_test) != len(features_test):
            raise DataError(f"{where}: {len(y_test)} test labels for {len(features_test)} test rows")
    else:
        features_test = np.zeros((0, features.shape[1]), np.float32)
        probs_test = np.zeros((0, n_classes), np.float32)
        y_test = np.zeros(0, dtype=np.int64)
    sources = [str(i) for i in ids] if ids is not None else [f"row {i}" for i in range(n)]
    if len(sources) != n:
        raise DataError(f"{where}: {len(sources)} ids for {n} rows of features")
    notes = [f"model outputs handed in: {n} x {features.shape[1]} features, {n_classes} classes; no training"]
    if not has_test:
        notes.append("no test split given: the run has no test evaluation and no retraining")
    return Dataset(name=name, kind=OUTPUTS, x_train=features, given_train=given, true_train=truth,
                   x_test=features_test, y_test=y_test, class_names=names, source_train=sources,
                   default_model="given", notes=notes, train_probs=probs, test_probs=probs_test,
                   test_split_carved=False)


def load_outputs_npz(path: Path, arrays: dict[str, np.ndarray], cfg: DataConfig, seed: int) -> Dataset:
    """Dataset from an outputs .npz (see the module docstring); `arrays` were read without pickle."""
    where = str(path)
    task = npz_task(arrays)
    resolve_task(task or CLASSIFICATION, cfg.task, where, "an outputs file with " + (
        "key Y" if "Y" in arrays else "key preds" if task else "class probabilities"))
    if task is not None:
        return load_task_outputs_npz(path, arrays, task)
    for key in ("features", "y"):
        if key not in arrays:
            raise DataError(f"{path}: an outputs file needs key {key!r}; found {', '.join(arrays)}")
    probs = probabilities(arrays.get("logits"), arrays.get("probs"), where)
    has_test = "features_test" in arrays
    probs_test = probabilities(arrays.get("logits_test"), arrays.get("probs_test"), f"{where} (test)") \
        if has_test and ("logits_test" in arrays or "probs_test" in arrays) else None
    names = arrays["class_names"].tolist() if "class_names" in arrays else None
    return outputs_dataset(path.name, arrays["features"], probs, arrays["y"], true_labels=arrays.get("y_true"),
                           ids=arrays.get("id"), class_names=names, features_test=arrays.get("features_test"),
                           probs_test=probs_test, labels_test=arrays.get("y_test"), where=where)


def is_outputs_table(columns: list[str]) -> bool:
    return "features" in columns


def load_outputs_table(path: Path, table: pd.DataFrame, cfg: DataConfig, seed: int) -> Dataset:
    """Dataset from an outputs parquet: list-valued `features` and `logits`/`probs` columns, `label`, optional
    `true_label`, `split` and `id`."""
    where = str(path)
    task = table_task(list(table.columns))
    shown = {"multilabel": "a 'labels' column", "regression": "'target' and 'preds' columns"}.get(task,
                                                                                               "a 'label' column")
    resolve_task(task or CLASSIFICATION, cfg.task, where, f"an outputs table with {shown}")

    def matrix(column: str, rows: np.ndarray) -> np.ndarray:
        values = table[column].to_numpy()[rows]
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise DataError(f"{path}: column {column!r} holds lists of different lengths ({sorted(lengths)[:5]})")
        return np.asarray(np.stack([np.asarray(v, dtype=np.float64) for v in values]))

    split = table["split"].astype(str).str.lower().to_numpy() if "split" in table.columns else None
    if split is not None and not set(split) <= {"train", "test"}:
        raise DataError(f"{path}: column 'split' must hold 'train' or 'test'")
    train = np.flatnonzero(split != "test") if split is not None else np.arange(len(table))
    test = np.flatnonzero(split == "test") if split is not None else np.arange(0)
    if task is not None:
        return load_task_outputs_table(path, table, task, matrix, train, test)
    if "label" not in table.columns:
        raise DataError(f"{path}: an outputs table needs a 'label' column (or 'labels' for tag sets, 'target' and "
                        "'preds' for numbers)")
    score_column = "logits" if "logits" in table.columns else "probs" if "probs" in table.columns else None
    if score_column is None:
        raise DataError(f"{path}: an outputs table needs a list-valued 'logits' or 'probs' column")

    def probs_of(rows: np.ndarray, label: str) -> np.ndarray:
        values = matrix(score_column, rows)
        return probabilities(values if score_column == "logits" else None,
                             values if score_column == "probs" else None, f"{where}{label}")

    labels = table["label"].to_numpy()
    true = table["true_label"].to_numpy() if "true_label" in table.columns else None
    ids = table["id"].to_numpy() if "id" in table.columns else None
    return outputs_dataset(path.name, matrix("features", train), probs_of(train, ""), labels[train],
                           true_labels=None if true is None else true[train],
                           ids=None if ids is None else ids[train],
                           features_test=matrix("features", test) if len(test) else None,
                           probs_test=probs_of(test, " (test)") if len(test) else None,
                           labels_test=labels[test] if len(test) else None, where=where)
