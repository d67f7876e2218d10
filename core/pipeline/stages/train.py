"""Stage 2, train: the ERM model on the given labels; its features and probabilities, one pass per split.

The in-sample gradient stage reads the stored features back instead of running the
backbone again. `train_on` and `fold_models` are the one way every stage trains a
model (the analyzed model, cross-fitting folds, out-of-fold baselines).
"""

from __future__ import annotations

import io

import numpy as np
import torch

from core.data.split import fold_assignment
from core.gradients.last_layer import last_layer_factors
from core.gradients.rows import FACTOR_BATCH
from core.models.nets import FeatureModel
from core.models.training import TrainResult, to_tensor, train_model
from core.pipeline.context import StageContext
from core.run import schema
from core.run.io import atomic_write, write_npy, write_npz


def train_on(ctx: StageContext, x: np.ndarray, labels: np.ndarray, seed: int, description: str) -> TrainResult:
    """A fresh model of the run's architecture and recipe on (x, labels)."""
    return train_model(ctx.model_name, ctx.dataset.kind, x, labels, ctx.dataset.n_classes, ctx.config.train,
                       seed, description=description, show_bar=ctx.reporter.show_bars)


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


def run(ctx: StageContext) -> dict:
    data = ctx.dataset
    result = train_on(ctx, data.x_train, data.given_train, ctx.config.seed, "train")
    model = result.model

    def save(handle) -> None:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        handle.write(buffer.getvalue())

    atomic_write(ctx.run.file(schema.MODEL), save)
    train = last_layer_factors(model, data.x_train, data.given_train, batch_size=FACTOR_BATCH,
                               input_transform=to_tensor)
    test = last_layer_factors(model, data.x_test, data.y_test, batch_size=FACTOR_BATCH, input_transform=to_tensor)
    train_probs, test_probs = train.probs, test.probs
    write_npy(ctx.run.file(schema.FEATURES), train.features)
    write_npy(ctx.run.file(schema.TEST_FEATURES), test.features)
    write_npz(ctx.run.file(schema.ERM_OUTPUTS), train_probs=train_probs, test_probs=test_probs,
              test_labels=data.y_test)
    test_accuracy = float((test_probs.argmax(1) == data.y_test).mean())
    ctx.manifest["model"].update({
        "feature_dim": model.feature_dim,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "test_accuracy": test_accuracy,
        "train_accuracy_given": float((train_probs.argmax(1) == data.given_train).mean()),
    })
    ctx.reporter.message(f"test accuracy {test_accuracy:.4f} (best epoch {result.best_epoch}/{result.epochs_run})")
    return {"test_accuracy": test_accuracy}
