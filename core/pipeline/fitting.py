"""Training a model of the run's architecture and recipe: the one way the pipeline trains one.

The train stage trains the analyzed model with `train_on`; cross-fitted gradients
(core.pipeline.gradient_modes) and out-of-fold probabilities by full retraining
(core.estimate.out_of_fold) train K fold models with `fold_models`. It lives outside
core/pipeline/stages so that no stage imports another.
"""

from __future__ import annotations

import numpy as np

from core.data.split import fold_assignment
from core.models.nets import FeatureModel
from core.models.training import TrainResult, train_model
from core.pipeline.context import StageContext


def train_on(ctx: StageContext, x: np.ndarray, labels: np.ndarray, seed: int, description: str,
             val_rows: np.ndarray | None = None) -> TrainResult:
    """A fresh model of the run's architecture and recipe on (x, labels); its warnings go to the reporter."""
    result = train_model(ctx.model_name, ctx.dataset.kind, x, labels, ctx.dataset.n_classes, ctx.config.train,
                         seed, val_rows=val_rows, description=description, show_bar=ctx.reporter.show_bars,
                         encoder=ctx.dataset.encoder, task=ctx.task)
    for note in result.notes:
        ctx.reporter.message(note)
    return result


def fold_models(ctx: StageContext, folds: int) -> tuple[list[FeatureModel], np.ndarray]:
    """K models, model k trained (same recipe, seed + 1 + k) on every fold but k; and each sample's fold."""
    data = ctx.dataset
    fold_of = fold_assignment(data.given_train, folds, ctx.config.seed)
    models = []
    for fold in range(folds):
        keep = fold_of != fold
        ctx.reporter.message(f"cross-fitting: fold {fold + 1}/{folds}")
        result = train_on(ctx, data.x_train[keep], data.given_train[keep], ctx.config.seed + 1 + fold,
                          f"fold {fold + 1}/{folds}")
        models.append(result.model)
    return models, fold_of
