"""The export table of multi-label and regression runs, and their labels after the reviews.

`kind_table` is core.export.source's table for these kinds: one row per training sample with `sample_id`,
`source`, `score`, `is_flagged` as for classes, and the run's own label columns (core.run.schema):

- multilabel: `given_tags`, `suggested_tags`, `true_tags` (None when unknown) as sorted tuples of tag indices,
  `suggested_tag_confidence` and `tag_probs` as (C,) float lists;
- regression: `given_value`, `pred_value`, `suggested_value`, `suggested_low`, `suggested_high`, `residual_value`
  (float64) and `true_value` (Float64, NA when unknown).

A samples table without one of these columns is refused (RunDirError naming it): the exports never fall back to a
classification column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.errors import RunDirError
from core.run import schema
from core.run.label_forms import tag_set

if TYPE_CHECKING:
    from core.run.rundir import RunDir

TAG_SEPARATOR = "|"
"""How a tag set is written as text (a manifest's `labels` cell, a CSV): its names joined; '' = no tag."""


def _tags(cell: object) -> tuple[int, ...] | None:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None
    return tag_set(cell)


def _floats(cell: object) -> list[float] | None:
    return None if cell is None else [float(v) for v in cell]


def _require(samples: pd.DataFrame, columns: tuple[str, ...], run: RunDir, task: str) -> None:
    missing = [c for c in columns if c not in samples.columns]
    if missing:
        raise RunDirError(f"{run.file(schema.SAMPLES)} lacks the {task} column(s) {', '.join(missing)}")


def identity_table(samples: pd.DataFrame, primary: str, run: RunDir) -> tuple[pd.DataFrame, str]:
    """(sample ids and sources of the training split, the primary detector's score column), for every kind;
    a RunDirError when the samples table lacks that column."""
    column = schema.score_column(primary)
    if column not in samples.columns:
        raise RunDirError(f"{run.file(schema.SAMPLES)} has no {column} column for the primary detector {primary!r}")
    return pd.DataFrame({
        schema.SAMPLE_ID: samples[schema.SAMPLE_ID].to_numpy(dtype=np.int64),
        schema.SOURCE: samples[schema.SOURCE].astype(str).to_numpy(),
    }), column


def kind_table(samples: pd.DataFrame, primary: str, run: RunDir, task: str) -> pd.DataFrame:
    """The export table of a multilabel or regression run's training split (module docstring)."""
    table, column = identity_table(samples, primary, run)
    if task == "multilabel":
        _require(samples, schema.TAG_COLUMNS, run, task)
        for name in (schema.GIVEN_TAGS, schema.SUGGESTED_TAGS, schema.PRED_TAGS, schema.TRUE_TAGS):
            table[name] = pd.Series([_tags(c) for c in samples[name]], dtype=object)
        if table[schema.GIVEN_TAGS].isna().any():
            raise RunDirError(f"{run.file(schema.SAMPLES)}: {schema.GIVEN_TAGS} has missing tag sets")
        for name in (schema.SUGGESTED_TAG_CONFIDENCE, schema.TAG_PROBS):
            table[name] = pd.Series([_floats(c) for c in samples[name]], dtype=object)
    elif task == "regression":
        _require(samples, schema.VALUE_COLUMNS, run, task)
        for name in (schema.GIVEN_VALUE, schema.PRED_VALUE, schema.SUGGESTED_VALUE, schema.SUGGESTED_LOW,
                     schema.SUGGESTED_HIGH, schema.RESIDUAL_VALUE):
            table[name] = samples[name].to_numpy(dtype=np.float64)
        table[schema.TRUE_VALUE] = pd.array(samples[schema.TRUE_VALUE], dtype="Float64")
    else:
        raise RunDirError(f"{run.path}: unknown task {task!r} for an export")
    table["score"] = samples[column].to_numpy(dtype=np.float64)
    table[schema.IS_FLAGGED] = samples[schema.IS_FLAGGED].to_numpy(dtype=bool)
    return table


def tag_text(tags: tuple[int, ...] | None, class_names: list[str]) -> str:
    """A tag set as `|`-joined names ('' for the empty set or None)."""
    return "" if tags is None else TAG_SEPARATOR.join(class_names[t] for t in tags)
