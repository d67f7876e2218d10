"""The test split's labels next to the analyzed model's predictions, for the runs whose test samples have no class.

A classification run's test samples are explored through attribution (core.influence.run_attribution); a
multi-label or a regression run's are shown as what the model predicted against the test label, read from the
evaluate stage's `test_labels.npy` and the train stage's `erm_outputs.npz` (`test_probs`, the predictions in the
task's form). Nothing here reads the dataset.

- multi-label: `true_tags` / `pred_tags` (tag-index lists, a tag predicted when its sigmoid is ≥ the task's
  threshold) and `exact` (the whole set right);
- regression: `true_value`, `pred_value` and `residual_value` = predicted − true, in the target's units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.pipeline.task_columns import tag_lists
from core.run import schema
from core.run.rundir import RunDir

TEST_ID = "test_id"
EXACT = "exact"
KINDS = ("multilabel", "regression")


def test_predictions(run: RunDir) -> pd.DataFrame | None:
    """One row per test sample (columns above), or None when the run has no test predictions in its task's form
    (no test split, files missing, a classification run, or labels of another shape)."""
    task = run.task()
    if task.name not in KINDS or not (run.file(schema.TEST_LABELS).exists()
                                      and run.file(schema.ERM_OUTPUTS).exists()):
        return None
    labels = run.read_npy(schema.TEST_LABELS)
    preds = run.read_npz(schema.ERM_OUTPUTS)["test_probs"]
    if len(labels) == 0 or len(preds) != len(labels):
        return None
    ids = np.arange(len(labels), dtype=np.int64)
    if task.name == "multilabel":
        from core.tasks.multilabel import THRESHOLD

        if labels.ndim != 2 or preds.shape != labels.shape:
            return None
        predicted = np.asarray(preds) >= THRESHOLD
        return pd.DataFrame({TEST_ID: ids, schema.TRUE_TAGS: tag_lists(labels), schema.PRED_TAGS: tag_lists(predicted),
                             EXACT: (predicted == labels.astype(bool)).all(axis=1)})
    values = np.asarray(preds, dtype=np.float64).reshape(len(preds), -1)
    if labels.ndim != 1 or values.shape[1] != 1 or labels.dtype.kind != "f":
        return None
    true = labels.astype(np.float64)
    return pd.DataFrame({TEST_ID: ids, schema.TRUE_VALUE: true, schema.PRED_VALUE: values[:, 0],
                         schema.RESIDUAL_VALUE: values[:, 0] - true})
