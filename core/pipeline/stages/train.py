"""Stage 2, train: the ERM model on the given labels; its features and probabilities, one pass per split.

The validation split (`train.val_fraction` of the training samples, stratified on the
given labels, seeded) is carved here and stored (erm_outputs.npz `val_rows`, samples
column `split`): early stopping watches it, the influence baselines average their v over
it, and with `train.refit` the final model trains on it too, so it is scored like every
other training sample. The test split's inputs pass through the model once for their
features and probabilities; its labels are not read here (core.pipeline.stages.evaluate).

The in-sample gradient stage reads the stored features back instead of running the
backbone again. The model trains through `core.pipeline.fitting.train_on`, the one way
the pipeline trains a model (the analyzed model, cross-fitting folds, out-of-fold probabilities).
"""

from __future__ import annotations

import io

import numpy as np
import torch

from core.data.split import validation_rows
from core.gradients.last_layer import last_layer_factors
from core.models.nets import FeatureModel
from core.models.probe import select_probe_reg
from core.models.training import extract_features, to_tensor
from core.pipeline.context import StageContext
from core.pipeline.fitting import train_on
from core.run import schema
from core.run.io import atomic_write, write_npy, write_npz
from core.tasks.base import Task


def given_outputs(ctx: StageContext, val_rows: np.ndarray) -> dict:
    """The train stage of a run on handed-in outputs: store them as a trained model's would be."""
    data = ctx.dataset
    atomic_write(ctx.run.file(schema.MODEL), lambda handle: torch.save({}, handle))  # no network: empty
    write_npy(ctx.run.file(schema.FEATURES), data.x_train)
    write_npy(ctx.run.file(schema.TEST_FEATURES), data.x_test)
    write_npz(ctx.run.file(schema.ERM_OUTPUTS), train_probs=data.train_probs, test_probs=data.test_probs,
              val_rows=val_rows)
    probe_reg, probe_losses = select_probe_reg(
        data.x_train,
        data.given_train,
        val_rows,
        data.n_classes,
        ctx.config.seed,
        ctx.config.train.probe_max_iter,
        max_rows=ctx.config.train.probe_max_rows,
        task=ctx.task,
    )
    ctx.manifest["model"].update({
        "feature_dim": int(data.x_train.shape[1]), "solver": "given", "epochs_run": 0, "best_epoch": 0,
        "max_epochs": 0, "refit": False, "notes": [], "n_validation": int(len(val_rows)), "probe_reg": probe_reg,
        "probe_validation_loss": {f"{reg:g}": loss for reg, loss in probe_losses.items()},
        **given_label_fit(ctx, data.train_probs, data.given_train, np.arange(len(data.given_train)), "train"),
    })
    ctx.reporter.message("outputs handed in: nothing to train")
    return {"best_epoch": 0}


def run(ctx: StageContext) -> dict:
    data = ctx.dataset
    val_rows = validation_rows(data.given_train, ctx.config.train.val_fraction, ctx.config.seed)
    if data.train_probs is not None:
        return given_outputs(ctx, val_rows)
    result = train_on(ctx, data.x_train, data.given_train, ctx.config.seed, "train", val_rows=val_rows)
    model = result.model

    def save(handle) -> None:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        handle.write(buffer.getvalue())

    atomic_write(ctx.run.file(schema.MODEL), save)
    train = last_layer_factors(model, data.x_train, data.given_train, batch_size=model.forward_batch,
                               input_transform=to_tensor, task=ctx.task)
    test_features, test_probs = model_outputs(model, data.x_test, ctx.task)
    train_probs = train.probs
    write_npy(ctx.run.file(schema.FEATURES), train.features)
    write_npy(ctx.run.file(schema.TEST_FEATURES), test_features)
    write_npz(ctx.run.file(schema.ERM_OUTPUTS), train_probs=train_probs, test_probs=test_probs, val_rows=val_rows)
    if result.early_stopped is not None and ctx.config.baselines.enabled:
        held_out = last_layer_factors(result.early_stopped, data.x_train, data.given_train,
                                      batch_size=model.forward_batch,
                                      input_transform=to_tensor, task=ctx.task)
        write_npz(ctx.run.file(schema.BASELINE_OUTPUTS), features=held_out.features, probs=held_out.probs)
    given = data.given_train
    # A probe whose L2 strength was chosen on this validation split (the text probe) is its own probe refit.
    probe_reg, probe_losses = result.probe_reg or select_probe_reg(
        train.features, given, val_rows, data.n_classes, ctx.config.seed, ctx.config.train.probe_max_iter,
        max_rows=ctx.config.train.probe_max_rows, task=ctx.task)
    fit = np.setdiff1d(np.arange(len(given)), val_rows)
    ctx.manifest["model"].update({
        "feature_dim": model.feature_dim,
        "solver": result.solver,
        "weights": result.weights,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "max_epochs": result.max_epochs,
        "refit": result.refit,
        "notes": result.notes,
        "n_validation": int(len(val_rows)),
        "probe_reg": probe_reg,
        "probe_validation_loss": {f"{reg:g}": loss for reg, loss in probe_losses.items()},
        **given_label_fit(ctx, train_probs, given, fit, "train"),
        **given_label_fit(ctx, train_probs, given, val_rows, "validation"),
    })
    schedule = ("exact L-BFGS solution" if result.solver == "lbfgs" else
                f"best epoch {result.best_epoch} of {result.epochs_run}" + (", refit on all" if result.refit else ""))
    ctx.reporter.message(f"trained {ctx.model_name}: {schedule}; backbone weights: {result.weights}")
    return {"best_epoch": result.best_epoch}


def model_outputs(model: FeatureModel, x: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, D), predictions (n, C)) of inputs whose labels this stage does not read."""
    features = extract_features(model, x)
    with torch.no_grad():
        device = next(model.head.parameters()).device
        preds = task.predict(model.head(torch.as_tensor(features).to(device))).cpu().numpy().astype(np.float32)
    return features, preds


def given_label_fit(ctx: StageContext, preds: np.ndarray, given: np.ndarray, rows: np.ndarray, split: str) -> dict:
    """How well the model fits the given labels of `rows`: `{split}_{metric}_given` per task metric (None
    when there are no rows), e.g. train_accuracy_given."""
    metrics = ctx.task.metrics(preds[rows], given[rows]) if len(rows) else dict.fromkeys(
        ctx.task.metrics(preds[:1], given[:1]))
    return {f"{split}_{name}_given": value for name, value in metrics.items()}
