"""Hand-built multi-label and regression run directories for the review, export and dashboard tests.

Until the pipeline writes these kinds end to end, a classification run (its config, flagging, thumbnails and
score columns) is turned into a run of another kind by rewriting its manifest's task and its samples table with the
contract's columns (core.run.schema TAG_COLUMNS / VALUE_COLUMNS), every value derived by a stated rule from the
classification labels, so each test can compute its expectations by hand.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from core.run import schema
from core.run.rundir import RunDir

CLASS_COLUMNS = (schema.GIVEN_LABEL, schema.TRUE_LABEL, schema.PRED_LABEL, schema.CONFIDENCE, schema.GIVEN_PROB,
                 *schema.SUGGESTION_COLUMNS[:4])
SCALE = 1.5
"""The regression fixture's values: class index × SCALE (+ 0.25 on odd samples for the given value)."""


def _rewrite(run: RunDir, task: dict, class_names: list[str] | None, columns: dict) -> RunDir:
    manifest = json.loads(run.file(schema.MANIFEST).read_text())
    manifest["task"] = task
    if class_names is not None:
        manifest["dataset"]["class_names"] = class_names
    run.file(schema.MANIFEST).write_text(json.dumps(manifest))
    samples = pd.read_parquet(run.file(schema.SAMPLES))
    kept = samples.drop(columns=[c for c in CLASS_COLUMNS if c in samples.columns])
    for name, values in columns.items():
        kept[name] = values
    kept.to_parquet(run.file(schema.SAMPLES))
    return RunDir(run.path)


def copy_as(run: RunDir, target: Path) -> RunDir:
    shutil.copytree(run.path, target)
    for name in (schema.REVIEWS, schema.TEST_REVIEWS):
        (target / name).unlink(missing_ok=True)
    return RunDir(target)


def multilabel_run(run: RunDir, target: Path) -> RunDir:
    """Tags = the classes' names. Given: {given_label}, plus given_label + 1 (mod C) on every 4th sample; truth:
    {true_label}; suggested and predicted: {pred_label}, its sigmoid 0.9 and every other tag's 0.05."""
    copy = copy_as(run, target)
    samples = pd.read_parquet(copy.file(schema.SAMPLES))
    n_tags = len(json.loads(copy.file(schema.MANIFEST).read_text())["dataset"]["class_names"])
    given = samples[schema.GIVEN_LABEL].to_numpy(np.int64)
    pred = samples[schema.PRED_LABEL].to_numpy(np.int64)
    tags = [sorted({int(g), int((g + 1) % n_tags)}) if i % 4 == 0 else [int(g)] for i, g in enumerate(given)]
    probs = np.full((len(samples), n_tags), 0.05, np.float32)
    probs[np.arange(len(samples)), pred] = 0.9
    return _rewrite(copy, {"name": "multilabel"}, None, {
        schema.GIVEN_TAGS: tags,
        schema.TRUE_TAGS: [[int(t)] for t in samples[schema.TRUE_LABEL]],
        schema.PRED_TAGS: [[int(p)] for p in pred],
        schema.SUGGESTED_TAGS: [[int(p)] for p in pred],
        schema.TAG_PROBS: list(probs),
        schema.SUGGESTED_TAG_CONFIDENCE: list(np.maximum(probs, 1 - probs)),
    })


def regression_run(run: RunDir, target: Path) -> RunDir:
    """One target, "value". Given: given_label × 1.5 (+ 0.25 on odd samples); truth: true_label × 1.5; predicted
    and suggested: pred_label × 1.5, interval ± 0.5; robust scale 2.0 (tolerance 0.2)."""
    copy = copy_as(run, target)
    samples = pd.read_parquet(copy.file(schema.SAMPLES))
    given = samples[schema.GIVEN_LABEL].to_numpy(np.float64) * SCALE + 0.25 * (np.arange(len(samples)) % 2)
    pred = samples[schema.PRED_LABEL].to_numpy(np.float64) * SCALE
    return _rewrite(copy, {"name": "regression", "center": 6.0, "scale": 2.0}, ["value"], {
        schema.GIVEN_VALUE: given,
        schema.TRUE_VALUE: pd.array(samples[schema.TRUE_LABEL].to_numpy(np.float64) * SCALE, dtype="Float64"),
        schema.PRED_VALUE: pred, schema.SUGGESTED_VALUE: pred,
        schema.SUGGESTED_LOW: pred - 0.5, schema.SUGGESTED_HIGH: pred + 0.5,
        schema.RESIDUAL_VALUE: pred - given,
    })
