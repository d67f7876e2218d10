"""Stage 8, samples: the flagging decision, and samples.parquet, one row per training sample — the table the
dashboard reads.

The decision (`flag.primary`, or the task's own detector: `primary_of`, at `flag.budget`, or at the suggested
budget when it is None: `--budget auto`) is resolved once into a `Flagging` and stored as the manifest's
`flagging`, with its estimated precision and recall (from the suggest stage's per-sample probabilities of a
wrong label); `is_flagged` is its mask.

Multi-label and regression runs hold their task's label columns (tag lists or values: core.pipeline.task_columns,
core/run/schema.py) instead of the class columns; `is_noisy` is the task's `is_wrong` of given and true labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.base import IMAGE
from core.detect.flagging import Flagging, primary_of
from core.estimate.noise_rate import precision_recall
from core.pipeline.context import StageContext
from core.pipeline.task_columns import label_columns, suggestion_column_names
from core.run import schema
from core.run.io import write_parquet


def run(ctx: StageContext) -> dict:
    data, decision = ctx.dataset, ctx.config.flag
    factors = ctx.run.read_npz(schema.FACTORS)
    scores = pd.concat([ctx.run.read_parquet(schema.SCORES), ctx.run.read_parquet(schema.BASELINES)], axis=1)
    embedding = ctx.run.read_parquet(schema.EMBEDDING)
    n = len(data.x_train)
    split = np.full(n, schema.TRAIN_SPLIT, dtype=object)
    split[ctx.run.validation_rows()] = schema.VALIDATION_SPLIT
    probs = factors["probs"]
    task = ctx.task.name
    noisy = (pd.array(ctx.task.is_wrong(data.given_train, data.true_train), dtype="boolean")
             if data.true_train is not None else pd.array([pd.NA] * n, dtype="boolean"))
    head = {schema.SAMPLE_ID: np.arange(n, dtype=np.int64), schema.SOURCE: data.source_train, schema.SPLIT: split}
    if task == "classification":
        pred = probs.argmax(axis=1)
        true = (
            pd.array(data.true_train, dtype="Int64")
            if data.true_train is not None
            else pd.array([pd.NA] * n, dtype="Int64")
        )
        labels = {
            schema.GIVEN_LABEL: data.given_train,
            schema.TRUE_LABEL: true,
            schema.IS_NOISY: noisy,
            schema.PRED_LABEL: pred.astype(np.int64),
            schema.CONFIDENCE: probs.max(axis=1),
            schema.GIVEN_PROB: probs[np.arange(n), data.given_train],
        }
    else:
        labels = {**label_columns(task, data, probs), schema.IS_NOISY: noisy}
    frame = pd.DataFrame({
        **head,
        **labels,
        schema.LOSS: factors["loss"],
        schema.FOLD: factors["fold"],
        schema.GRAD_L1: factors["grad_l1"],
        schema.GRAD_L2: factors["grad_l2"],
    })
    for column in scores.columns:
        frame[column] = scores[column].to_numpy()
    suggestions = ctx.run.read_parquet(schema.SUGGESTIONS)
    suggested = ctx.manifest.get("suggested_budget", {}).get("budget")
    flagging = Flagging.resolve(primary_of(decision.primary, ctx.config.detect.detectors, data.task), decision.budget,
                                n, suggested=suggested,
                                n_classes=data.n_classes)
    primary = frame[schema.score_column(flagging.detector)].to_numpy()
    frame[schema.IS_FLAGGED] = flagging.mask(primary)
    precision, recall = precision_recall(suggestions[schema.NOISE_PROBABILITY].to_numpy(), primary, flagging.budget)
    ctx.manifest["flagging"] = {**flagging.as_dict(), "estimated_precision": precision, "estimated_recall": recall}
    for column in suggestion_column_names(task):
        frame[column] = suggestions[column].to_numpy()
    for column in embedding.columns:
        frame[column] = embedding[column].to_numpy()
    frame[schema.THUMBNAIL_ROW] = pd.array(np.arange(n) if data.kind == IMAGE else [pd.NA] * n, dtype="Int64")
    if data.texts_train is not None:
        frame[schema.TEXT] = pd.array(data.texts_train, dtype="string")
    write_parquet(ctx.run.file(schema.SAMPLES), frame)
    return {"n_flagged": int(frame[schema.IS_FLAGGED].sum())}
