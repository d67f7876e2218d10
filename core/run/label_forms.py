"""What a review decision's label is for each task kind, and how the review store keeps it.

A relabel names the sample's right label in the run's task form (core.tasks):

- classification: a class index (int);
- multilabel: a tag set, kept as a sorted tuple of tag indices into the class names (`()`: no tag applies);
- regression: a value (float, the target's units): "set value".

The SQLite column `new_label` (INTEGER affinity) holds all three without a migration: a class as an integer, a
tag set as JSON text (`"[1, 3]"`, `"[]"`; the brackets keep SQLite from reading a single tag as a number), a
value as a REAL (SQLite stores a whole-valued REAL as an integer; `decode` turns it back into a float).

Agreement (core.run.votes): two votes agree when they lead to the same training label: the same class, the same
tag set, or, for values, values within `tolerance` of their median (`ValueForm.tolerance` = TOLERANCE_FRACTION ×
the target's robust scale, the scale the task fitted on the given training targets: core.tasks.regression). The
agreed value is the median of the votes. Two given labels conflict (`differ`: the near-duplicate search,
core.review.duplicates) when they are not the same class or tag set, or values more than `tolerance` apart.
This module is pure (no torch): the store, the consensus, the exports and
the dashboard all read labels through it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError, RunDirError
from core.run import schema

TOLERANCE_FRACTION = 0.1
"""Votes on a value agree when each lies within this fraction of the target's robust scale of their median."""
TASK_NAMES = ("classification", "multilabel", "regression")


class LabelForm:
    """One task kind's review labels: checked, encoded for SQLite, decoded, compared and combined."""

    name = ""

    def check(self, value: Any) -> Any:
        """`value` in canonical form (int / sorted tuple of ints / float), or a one-line ConfigError."""
        raise NotImplementedError

    def encode(self, value: Any) -> int | str | float:
        """What the `new_label` column stores for a canonical value."""
        raise NotImplementedError

    def decode(self, raw: Any) -> Any:
        """A stored `new_label` back in canonical form; None for NULL."""
        raise NotImplementedError

    def agree(self, outcomes: Sequence[Any]) -> bool:
        """Whether the votes' outcomes (canonical labels, or an int sentinel such as REMOVE) agree."""
        return len(set(outcomes)) <= 1

    def combine(self, outcomes: Sequence[Any]) -> Any:
        """The agreed label of agreeing outcomes (the common one; a value's median)."""
        return outcomes[-1]

    def same(self, a: Any, b: Any) -> bool:
        """Whether two canonical labels are the same training label (a relabel to the given one is a keep)."""
        return a == b

    def differ(self, a: Sequence[Any], b: Sequence[Any]) -> np.ndarray:
        """(m,) bool, elementwise: whether two given labels conflict (a near-duplicate pair's test,
        core.review.duplicates): not the same class or tag set; for values, more than `tolerance` apart."""
        return np.array([not self.same(x, y) for x, y in zip(a, b, strict=True)], dtype=bool)

    def describe(self, value: Any, names: Sequence[str]) -> str:
        """A canonical label as a person reads it: the class name, the tag names, the value."""
        return str(names[value]) if 0 <= value < len(names) else str(value)

    def given_labels(self, run_path: str | os.PathLike, split: str = "train") -> list | np.ndarray | None:
        """The split's given labels in canonical form (indexable by sample id); None when the run has none yet."""
        raise NotImplementedError


class ClassForm(LabelForm):
    name = "classification"

    def __init__(self, n_classes: int | None = None) -> None:
        self.n_classes = n_classes

    def check(self, value: Any) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"a relabel of a classification run needs a class index, not {value!r}")
        if value < 0 or (self.n_classes is not None and value >= self.n_classes):
            raise ConfigError(f"new label {value} is not a class index in [0, {self.n_classes})")
        return int(value)

    def encode(self, value: int) -> int:
        return int(value)

    def decode(self, raw: Any) -> int | None:
        return None if raw is None else int(raw)

    def differ(self, a, b):
        return np.asarray(a, np.int64) != np.asarray(b, np.int64)

    def given_labels(self, run_path, split="train"):
        run = Path(run_path)
        if split == "train" and (run / schema.SAMPLES).exists():
            return _column(run, schema.GIVEN_LABEL).to_numpy(np.int64)
        if split == "test" and (run / schema.TEST_LABELS).exists():
            return np.load(run / schema.TEST_LABELS).astype(np.int64)
        return None


class TagForm(LabelForm):
    name = "multilabel"

    def __init__(self, n_tags: int | None = None) -> None:
        self.n_tags = n_tags

    def check(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, (str, bytes, int, float, np.number)) or value is None:
            raise ConfigError(f"a relabel of a multi-label run needs a set of tag indices, not {value!r}")
        tags = list(value)
        if any(isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) for t in tags):
            raise ConfigError(f"tag indices must be integers, not {tags!r}")
        bad = [int(t) for t in tags if t < 0 or (self.n_tags is not None and t >= self.n_tags)]
        if bad:
            raise ConfigError(f"tag index(es) {bad} not in [0, {self.n_tags})")
        return tag_set(tags)

    def encode(self, value: tuple[int, ...]) -> str:
        return json.dumps(list(value))

    def decode(self, raw: Any) -> tuple[int, ...] | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise RunDirError(f"a multi-label review holds {raw!r}, not a JSON list of tag indices")
        return tag_set(json.loads(raw))

    def describe(self, value, names):
        return ", ".join(tag_names(value, names)) or "(no tag)"

    def given_labels(self, run_path, split="train"):
        run = Path(run_path)
        if split == "train" and (run / schema.SAMPLES).exists():
            return [tag_set(tags) for tags in _column(run, schema.GIVEN_TAGS)]
        if split == "test" and (run / schema.TEST_LABELS).exists():
            return [tuple(np.flatnonzero(row).tolist()) for row in np.load(run / schema.TEST_LABELS)]
        return None


class ValueForm(LabelForm):
    name = "regression"

    def __init__(self, tolerance: float = 0.0) -> None:
        self.tolerance = float(tolerance)
        """Target units: votes within this of their median agree."""

    def check(self, value: Any) -> float:
        if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (int, float, np.number)):
            raise ConfigError(f"a set-value review of a regression run needs a number, not {value!r}")
        if not math.isfinite(float(value)):
            raise ConfigError(f"a set-value review needs a finite number, not {value!r}")
        return float(value)

    def encode(self, value: float) -> float:
        return float(value)

    def decode(self, raw: Any) -> float | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            raise RunDirError(f"a regression review holds {raw!r}, not a number")
        return float(raw)

    def agree(self, outcomes):
        values = [o for o in outcomes if isinstance(o, float)]
        if len(values) != len(outcomes):  # a remove (an int sentinel) agrees only with removes
            return not values and len(set(outcomes)) <= 1
        return bool(np.max(np.abs(np.asarray(values) - np.median(values))) <= self.tolerance) if values else True

    def combine(self, outcomes):
        values = [o for o in outcomes if isinstance(o, float)]
        return float(np.median(values)) if values else outcomes[-1]

    def same(self, a, b):
        if isinstance(a, float) and isinstance(b, float):
            return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))
        return a == b

    def differ(self, a, b):
        return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) > self.tolerance

    def describe(self, value, names):
        return f"{float(value):.6g}"

    def given_labels(self, run_path, split="train"):
        run = Path(run_path)
        if split == "train" and (run / schema.SAMPLES).exists():
            return _column(run, schema.GIVEN_VALUE).to_numpy(np.float64)
        if split == "test" and (run / schema.TEST_LABELS).exists():
            return np.load(run / schema.TEST_LABELS).astype(np.float64).reshape(-1)
        return None


def _column(run: Path, column: str):
    """One column of samples.parquet; a one-line RunDirError when the table lacks it (a run of another kind or an
    older writer: never a silent fallback to another column)."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = run / schema.SAMPLES
    if column not in pq.read_schema(path).names:
        raise RunDirError(f"{path} lacks column {column}, which this run's task kind needs")
    return pd.read_parquet(path, columns=[column])[column]


def task_of_run(run_path: str | os.PathLike) -> dict:
    """manifest.json's `task` entry ({"name": ...}, with a regression's center and scale); classification for a run
    written before task kinds, or with no manifest yet."""
    path = Path(run_path) / schema.MANIFEST
    if not path.exists():
        return {"name": "classification"}
    manifest = json.loads(path.read_text())
    task = manifest.get("task") or {"name": "classification"}
    if task.get("name") not in TASK_NAMES:
        raise RunDirError(f"{path} names task {task.get('name')!r}; valid: {', '.join(TASK_NAMES)}")
    task = dict(task)
    task["class_names"] = list((manifest.get("dataset") or {}).get("class_names") or [])
    return task


def make_form(task: dict | str | None, n_classes: int | None = None) -> LabelForm:
    """The label form of a task entry (task_of_run) or name; `n_classes` bounds classes and tags when given."""
    task = {"name": task or "classification"} if not isinstance(task, dict) else task
    name = task.get("name", "classification")
    n = n_classes if n_classes is not None else (len(task.get("class_names") or []) or None)
    if name == "classification":
        return ClassForm(n)
    if name == "multilabel":
        return TagForm(n)
    if name == "regression":
        return ValueForm(TOLERANCE_FRACTION * float(task.get("scale", 1.0)))
    raise ConfigError(f"unknown task kind {name!r}; valid: {', '.join(TASK_NAMES)}")


def form_of_run(run_path: str | os.PathLike, n_classes: int | None = None) -> LabelForm:
    """The label form of the run at `run_path` (from its manifest)."""
    return make_form(task_of_run(run_path), n_classes)


def tag_set(tags: Iterable[Any]) -> tuple[int, ...]:
    """A tag-index list (a list, an array, a tuple) in canonical form: a sorted tuple of distinct ints."""
    return tuple(sorted({int(t) for t in tags}))


def tag_names(tags: Sequence[int], class_names: Sequence[str]) -> list[str]:
    """Tag indices → their names (an index past the names is shown as its number)."""
    return [class_names[t] if 0 <= t < len(class_names) else str(t) for t in tags]


def indicator_rows(tag_sets: Sequence[Sequence[int]], n_tags: int) -> np.ndarray:
    """(n, n_tags) uint8 0/1 rows of tag sets (the multilabel task's label form)."""
    out = np.zeros((len(tag_sets), n_tags), np.uint8)
    for row, tags in enumerate(tag_sets):
        out[row, list(tags)] = 1
    return out

