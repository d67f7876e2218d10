"""Out-of-fold predictions: for each training sample, (C,) predictions from a model that never saw its label.

In the run's prediction form (core.tasks): softmax probabilities (n, C) for classification, sigmoids
(n, C) for multi-label, values in the target's units (n, 1) for regression.

The suggest stage stores them (oof_probs.npy); the noise-rate estimators and cleanlab's
label-quality baselines read them there. Where they come from:

- the gradient mode's own models, when its stored probabilities are already out-of-fold
  (meta `oof_from_factors` of core.gradients.registry.GRADIENT_MODES: cross-fitting);
- else the `baselines.oof` method (core.influence.registry.OOF_METHODS; target `(ctx) ->
  (n, C)`): K last-layer refits on the stored features (`head`, the default: seconds) or
  K full retrainings (`full`).
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.split import fold_assignment
from core.gradients.registry import GRADIENT_MODES
from core.influence.registry import OOF_METHODS
from core.models.probe import capped_rows, train_linear_probe
from core.models.training import predict_probs
from core.pipeline.context import StageContext
from core.pipeline.fitting import fold_models
from core.run import schema
from core.run.io import release_pages, take_rows
from core.tasks.base import Task
from core.tasks.classification import Classification

PREDICT_ROWS = 65_536


def out_of_fold_probs(ctx: StageContext) -> np.ndarray:
    """(n, C) probabilities from models that never saw the sample's label: the gradient mode's models when
    they are out-of-fold, else by `baselines.oof`."""
    if GRADIENT_MODES.entry(ctx.config.gradients.mode).meta["oof_from_factors"]:
        return ctx.run.read_npz(schema.FACTORS)["probs"]
    return OOF_METHODS.get(ctx.config.baselines.oof)(ctx)


def head_oof_probs(ctx: StageContext) -> np.ndarray:
    """`head_out_of_fold_probs` on the run's stored features, with the L2 strength the train stage chose."""
    return head_out_of_fold_probs(ctx.run.read_npy(schema.FEATURES, mmap=True), ctx.dataset.given_train,
                                  ctx.dataset.n_classes, ctx.manifest["model"]["probe_reg"],
                                  ctx.config.baselines.folds, ctx.config.seed, ctx.config.train.probe_max_iter,
                                  ctx.config.train.probe_max_rows, task=ctx.task)


def full_oof_probs(ctx: StageContext) -> np.ndarray:
    """(n, C) float32: K fresh models of the run's recipe (core.pipeline.fitting.fold_models), model k
    predicting fold k."""
    models, fold_of = fold_models(ctx, ctx.config.baselines.folds)
    probs = np.zeros((len(fold_of), ctx.dataset.n_classes), np.float32)
    for fold, model in enumerate(models):
        rows = np.flatnonzero(fold_of == fold)
        probs[rows] = predict_probs(model, ctx.dataset.x_train[rows], task=ctx.task)
    return probs


def head_out_of_fold_probs(features: np.ndarray, labels: np.ndarray, n_classes: int, reg: float, folds: int,
                           seed: int, max_iter: int, max_rows: int = 100_000, task: Task | None = None) -> np.ndarray:
    """(n, C) float32: for each of K folds, a head under the `task`'s loss (softmax by default) fit on the other
    folds' features (at most `max_rows` of them, seeded; L2 `reg`) predicts the fold, `PREDICT_ROWS` at a time,
    in the task's prediction form. The features come from a model that saw every label, so these predictions
    are out-of-fold for the head only;
    docs/reproduce.md measures what that costs against K full retrainings."""
    task = task or Classification()
    fold_of = fold_assignment(labels, folds, seed)
    probs = np.zeros((len(labels), n_classes), np.float32)
    for fold in range(folds):
        fit = capped_rows(np.flatnonzero(fold_of != fold), max_rows, seed + fold)
        fit_features = take_rows(features, fit)
        head = train_linear_probe(fit_features, labels[fit], n_classes, reg, seed, max_iter=max_iter, task=task)
        del fit_features
        held_out = np.flatnonzero(fold_of == fold)
        for start in range(0, len(held_out), PREDICT_ROWS):
            rows = held_out[start:start + PREDICT_ROWS]
            with torch.no_grad():
                logits = head(torch.as_tensor(np.asarray(features[rows], dtype=np.float32)))
            release_pages(features)
            probs[rows] = task.predict(logits).numpy()
    return probs
