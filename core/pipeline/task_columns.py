"""The samples table's label columns for each task kind (core.run.schema): what the suggest and samples stages
write about a sample's labels, its prediction and its suggestion.

- classification: class indices (`given_label`, `pred_label`, `suggested_label` with its runner-up, ...);
- multi-label: tag-index lists (`given_tags`, `pred_tags`, `suggested_tags`), the per-tag sigmoids
  (`tag_probs`) and the suggestion's per-tag confidence;
- regression: values in the target's units (`given_value`, `pred_value`, `suggested_value` with its
  interval, `residual_value`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.base import Dataset
from core.estimate.noise_rate import EstimateInputs
from core.estimate.suggest import suggest_labels, suggest_tags, suggest_values
from core.run import schema


def tag_lists(indicators: np.ndarray | None, n: int = 0) -> list:
    """(n, C) 0/1 → per row an int64 array of the present tags' indices (parquet list<int64>); n nulls when
    `indicators` is None (an all-null column: no sample's truth is known)."""
    if indicators is None:
        return [None] * n
    indicators = np.asarray(indicators).astype(bool)
    columns = np.arange(indicators.shape[1], dtype=np.int64)
    return [columns[row] for row in indicators]


def float_lists(values: np.ndarray) -> list[np.ndarray]:
    """(n, C) → per row a float32 array (parquet list<float>)."""
    return list(np.asarray(values, dtype=np.float32))


def suggestion_columns(task: str, inputs: EstimateInputs, source: str, noise_probability: np.ndarray,
                       level: float) -> dict[str, object]:
    """suggestions.parquet's columns: the suggestion read from `source` (a field of `inputs`) in the task's form,
    and each sample's probability of a wrong label."""
    read = getattr(inputs, source)
    if task == "multilabel":
        tags = suggest_tags(read)
        columns = {schema.SUGGESTED_TAGS: tag_lists(tags.tags),
                   schema.SUGGESTED_TAG_CONFIDENCE: float_lists(tags.confidence)}
    elif task == "regression":
        values = suggest_values(read, inputs.given, inputs.oof_probs, noise_probability, level)
        columns = {schema.SUGGESTED_VALUE: values.value, schema.SUGGESTED_LOW: values.low,
                   schema.SUGGESTED_HIGH: values.high}
    else:
        labels = suggest_labels(read)
        columns = {schema.SUGGESTED_LABEL: labels.label, schema.SUGGESTED_LABEL_CONFIDENCE: labels.confidence,
                   schema.RUNNER_UP_LABEL: labels.runner_up, schema.RUNNER_UP_CONFIDENCE: labels.runner_up_confidence}
    return {**columns, schema.NOISE_PROBABILITY: noise_probability}


def suggestion_column_names(task: str) -> tuple[str, ...]:
    """The columns `suggestion_columns` writes for `task`, in order."""
    own = {"multilabel": (schema.SUGGESTED_TAGS, schema.SUGGESTED_TAG_CONFIDENCE),
           "regression": (schema.SUGGESTED_VALUE, schema.SUGGESTED_LOW, schema.SUGGESTED_HIGH)}
    return (*own[task], schema.NOISE_PROBABILITY) if task in own else schema.SUGGESTION_COLUMNS


def label_columns(task: str, data: Dataset, preds: np.ndarray) -> dict[str, object]:
    """The samples table's given / true / predicted label columns of a multi-label or regression run (in-sample
    `preds` of the analyzed model); classification's stay in the samples stage, as they always were."""
    n = len(data.given_train)
    if task == "multilabel":
        from core.tasks.multilabel import THRESHOLD

        true = tag_lists(data.true_train, n)
        return {schema.GIVEN_TAGS: tag_lists(data.given_train), schema.TRUE_TAGS: true,
                schema.PRED_TAGS: tag_lists(np.asarray(preds) >= THRESHOLD), schema.TAG_PROBS: float_lists(preds)}
    values = np.asarray(preds, dtype=np.float64).reshape(n, -1)[:, 0]
    given = np.asarray(data.given_train, dtype=np.float64)
    true = pd.array(data.true_train if data.true_train is not None else [pd.NA] * n, dtype="Float64")
    return {schema.GIVEN_VALUE: given, schema.TRUE_VALUE: true, schema.PRED_VALUE: values,
            schema.RESIDUAL_VALUE: values - given}
