"""Stage 6, baselines: influence-function and label-quality scores, for comparison with the detectors.

Influence methods run on a last layer (core.influence.baselines) with v = the mean gradient
of the validation split. With a refit (the default) the analyzed model trained on that split
too, so its gradients there carry no validation signal; the influence baselines therefore
use the early-stopped model before the refit (baseline_outputs.npz), for which the
validation split is held out. The detectors and every view use the refit model;
cleanlab's label-quality methods need out-of-fold probabilities: the suggest stage stores them
(core.estimate.out_of_fold: the cross-fitted models' when the gradients were cross-fitted, else K
last-layer refits or K full retrainings) in oof_probs.npy.

Multi-label and regression runs: the influence methods run on the task's last-layer gradients kron(r, h̃)
and Hessian mean_i J_i ⊗ h̃_i h̃_iᵀ (core.tasks); each label-quality method runs on the task kinds its
registry entry names (cleanlab's multi-label scores for tags, its regression scores for values), and the
manifest's `baselines.skipped` says which configured methods did not apply and why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.influence.baselines import (
    LastLayerState,
    influence_baselines,
    label_quality_baselines,
)
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import write_parquet


def run(ctx: StageContext) -> dict:
    cfg, data = ctx.config.baselines, ctx.dataset
    columns: dict[str, np.ndarray] = {}
    notes: list[str] = []
    val_rows = ctx.run.validation_rows()
    early_stopped = ctx.run.file(schema.BASELINE_OUTPUTS).exists()
    if cfg.enabled:
        outputs = ctx.run.read_npz(schema.BASELINE_OUTPUTS) if early_stopped else {
            "features": ctx.run.read_npy(schema.FEATURES, mmap=True),
            "probs": ctx.run.read_npz(schema.ERM_OUTPUTS)["train_probs"]}
        state = LastLayerState(
            features=outputs["features"], probs=outputs["probs"],
            labels=data.given_train, val_rows=val_rows, include_bias=ctx.config.gradients.include_bias,
            weight_decay=ctx.config.train.weight_decay, task=ctx.task)
        influence = influence_baselines(state, cfg)
        columns.update(influence.columns)
        notes += influence.notes
        facts = influence.facts
        if cfg.label_quality:
            quality = label_quality_baselines(data.given_train, ctx.run.read_npy(schema.OOF_PROBS), cfg.label_quality,
                                              ctx.task.name, ctx.config.seed)
            columns.update(quality.columns)
            facts.update(quality.facts)
    else:
        facts = {}
    frame = pd.DataFrame({schema.score_column(name): values for name, values in columns.items()},
                         index=pd.RangeIndex(len(data.x_train)))
    write_parquet(ctx.run.file(schema.BASELINES), frame)
    ctx.manifest["baselines"] = {
        "influence": [m for m in cfg.influence if m in columns],
        "label_quality": [m for m in cfg.label_quality if m in columns],
        "validation": f"the validation split: {len(val_rows)} training samples, given labels" if len(val_rows)
                      else "every training sample (no validation split)",
        "model": "the early-stopped model before the refit (the validation split is held out for it)"
                 if early_stopped else "the analyzed model",
        "notes": notes,
        **facts,
    }
    for note in notes:
        ctx.reporter.message(note)
    return {}
