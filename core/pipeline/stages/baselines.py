"""Stage 6, baselines: influence-function and label-quality scores, for comparison with the detectors.

Influence methods run on a last layer (core.influence.baselines) with v = the mean gradient
of the validation split. With a refit (the default) the analyzed model trained on that split
too, so its gradients there carry no validation signal; the influence baselines therefore
use the early-stopped model before the refit (baseline_outputs.npz), for which the
validation split is held out. The detectors and every view use the refit model;
cleanlab's label-quality methods need out-of-fold probabilities: the suggest stage stores them
(`out_of_fold_probs`: the cross-fitted models' when the gradients were cross-fitted, else K
last-layer refits or K full retrainings) in oof_probs.npy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from core.data.split import fold_assignment
from core.influence.baselines import (
    LastLayerState,
    influence_baselines,
    label_quality_baselines,
)
from core.models.probe import capped_rows, train_linear_probe
from core.models.training import predict_probs
from core.pipeline.context import StageContext
from core.pipeline.stages.train import fold_models
from core.run import schema
from core.run.io import release_pages, take_rows, write_parquet

PREDICT_ROWS = 65_536


def out_of_fold_probs(ctx: StageContext) -> np.ndarray:
    """(n, C) probabilities from models that never saw the sample's label: the cross-fitted models'
    when the gradients were cross-fitted; else by `baselines.oof`: K last-layer refits on the stored
    features (`head`, the default: seconds) or K full retrainings (`full`)."""
    if ctx.config.gradients.mode == "cross_fit":
        return ctx.run.read_npz(schema.FACTORS)["probs"]
    if ctx.config.baselines.oof == "head":
        return head_out_of_fold_probs(ctx.run.read_npy(schema.FEATURES, mmap=True), ctx.dataset.given_train,
                                      ctx.dataset.n_classes, ctx.manifest["model"]["probe_reg"],
                                      ctx.config.baselines.folds, ctx.config.seed, ctx.config.train.probe_max_iter,
                                      ctx.config.train.probe_max_rows)
    models, fold_of = fold_models(ctx, ctx.config.baselines.folds)
    probs = np.zeros((len(fold_of), ctx.dataset.n_classes), np.float32)
    for fold, model in enumerate(models):
        rows = np.flatnonzero(fold_of == fold)
        probs[rows] = predict_probs(model, ctx.dataset.x_train[rows])
    return probs


def head_out_of_fold_probs(features: np.ndarray, labels: np.ndarray, n_classes: int, reg: float, folds: int,
                           seed: int, max_iter: int, max_rows: int = 100_000) -> np.ndarray:
    """(n, C) float32: for each of K folds, a softmax head fit on the other folds' features (at most
    `max_rows` of them, seeded; L2 `reg`) predicts the fold, `PREDICT_ROWS` at a time. The features come from a model that saw every label, so these probabilities
    are out-of-fold for the head only; docs/reproduce.md measures what that costs against K full
    retrainings."""
    fold_of = fold_assignment(labels, folds, seed)
    probs = np.zeros((len(labels), n_classes), np.float32)
    for fold in range(folds):
        fit = capped_rows(np.flatnonzero(fold_of != fold), max_rows, seed + fold)
        fit_features = take_rows(features, fit)
        head = train_linear_probe(fit_features, labels[fit], n_classes, reg, seed, max_iter=max_iter)
        del fit_features
        held_out = np.flatnonzero(fold_of == fold)
        for start in range(0, len(held_out), PREDICT_ROWS):
            rows = held_out[start:start + PREDICT_ROWS]
            with torch.no_grad():
                logits = head(torch.as_tensor(np.asarray(features[rows], dtype=np.float32)))
            release_pages(features)
            probs[rows] = torch.softmax(logits, dim=1).numpy()
    return probs


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
            weight_decay=ctx.config.train.weight_decay)
        influence = influence_baselines(state, cfg)
        columns.update(influence.columns)
        notes += influence.notes
        facts = influence.facts
        if cfg.label_quality:
            quality = label_quality_baselines(data.given_train, ctx.run.read_npy(schema.OOF_PROBS), cfg.label_quality)
            columns.update(quality.columns)
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
