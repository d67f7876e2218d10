"""Stage 5, baselines: influence-function and label-quality scores, for comparison with the detectors.

Influence methods run on the analyzed model's last layer (core.influence.baselines);
cleanlab's label-quality methods need out-of-fold probabilities: the cross-fitted
models' when the gradients were cross-fitted, else K fold models trained here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.influence.baselines import (
    LastLayerState,
    influence_baselines,
    label_quality_baselines,
)
from core.models.training import predict_probs
from core.pipeline.context import StageContext
from core.pipeline.stages.train import fold_models
from core.run import schema
from core.run.io import write_parquet


def out_of_fold_probs(ctx: StageContext) -> np.ndarray:
    """(n, C) probabilities from models that never saw the sample: cross-fitted ones when available."""
    if ctx.config.gradients.mode == "cross_fit":
        return ctx.run.read_npz(schema.FACTORS)["probs"]
    models, fold_of = fold_models(ctx, ctx.config.baselines.folds)
    probs = np.zeros((len(fold_of), ctx.dataset.n_classes), np.float32)
    for fold, model in enumerate(models):
        rows = np.flatnonzero(fold_of == fold)
        probs[rows] = predict_probs(model, ctx.dataset.x_train[rows])
    return probs


def run(ctx: StageContext) -> dict:
    cfg, data = ctx.config.baselines, ctx.dataset
    columns: dict[str, np.ndarray] = {}
    notes: list[str] = []
    if cfg.enabled:
        erm = ctx.run.read_npz(schema.ERM_OUTPUTS)
        state = LastLayerState(
            features=ctx.run.read_npy(schema.FEATURES), probs=erm["train_probs"], labels=data.given_train,
            test_features=ctx.run.read_npy(schema.TEST_FEATURES), test_probs=erm["test_probs"],
            test_labels=data.y_test, include_bias=ctx.config.gradients.include_bias,
            weight_decay=ctx.config.train.weight_decay)
        influence = influence_baselines(state, cfg)
        columns.update(influence.columns)
        notes += influence.notes
        if cfg.label_quality:
            quality = label_quality_baselines(data.given_train, out_of_fold_probs(ctx), cfg.label_quality)
            columns.update(quality.columns)
    frame = pd.DataFrame({schema.score_column(name): values for name, values in columns.items()},
                         index=pd.RangeIndex(len(data.x_train)))
    write_parquet(ctx.run.file(schema.BASELINES), frame)
    ctx.manifest["baselines"] = {
        "influence": [m for m in cfg.influence if m in columns],
        "label_quality": [m for m in cfg.label_quality if m in columns],
        "validation": "test split (influence)",
        "notes": notes,
    }
    for note in notes:
        ctx.reporter.message(note)
    return {}
