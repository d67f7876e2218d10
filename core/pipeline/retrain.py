"""Prune the flagged samples, retrain with the same recipe, and record test accuracy.

Results append to `retrain.parquet` in the run directory, one row per request
(core.run.results): an identical request is answered from the table instead of
retraining, and two processes retraining at once lose no row.

Modes (core.pipeline.registry `RETRAIN_MODES`):
- `full`: a fresh model of the run's architecture trained on the kept samples (the paper).
- `probe`: only a new last layer, fit on the analyzed model's cached features of the
  kept samples (seconds; what the dashboard's slider uses for quick feedback).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from core.data.base import Dataset
from core.detect.flagging import flag
from core.errors import ConfigError
from core.models.probe import train_linear_probe
from core.models.training import predict_probs, train_model
from core.pipeline.artifacts import load_run_dataset, resolve_model_name
from core.pipeline.registry import RETRAIN_MODES
from core.run import schema
from core.run.io import now_iso
from core.run.results import append_result, read_results, request_key
from core.run.reviews import ReviewEdits
from core.run.rundir import RunDir

SWEEP_BUDGETS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125)


def _kept_mask(scores: np.ndarray, budget: float) -> np.ndarray:
    if budget == 0:
        return np.ones(len(scores), dtype=bool)
    return ~flag(scores, budget)


def retrain(
    run: RunDir,
    detector: str,
    budget: float,
    *,
    mode: str = "full",
    seed: int | None = None,
    reviews: ReviewEdits | None = None,
    dataset: Dataset | None = None,
    reporter=None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Retrain without detector's top round(budget * n) samples; returns the result row.

    budget 0 gives the unpruned baseline under the same recipe. `seed` defaults to the run's.
    """
    RETRAIN_MODES.check(mode, "mode")
    if not 0 <= budget < 1:
        raise ConfigError(f"budget must be in [0, 1), got {budget}")
    manifest = run.read_manifest()
    config = run.config()
    seed = config.seed if seed is None else seed
    reviews = reviews or ReviewEdits()
    samples = run.read_samples()
    score_col = schema.score_column(detector)
    if score_col not in samples.columns:
        raise ConfigError(f"detector {detector!r} was not run on {run.path}; "
                          f"available: {', '.join(schema.score_names(samples.columns))}")
    key = request_key(manifest["config_fingerprint"], detector, budget, seed, mode, reviews.key())
    existing = read_results(run)
    if key in set(existing["request_key"]):
        return existing[existing["request_key"] == key].iloc[-1].to_dict()

    started = time.perf_counter()
    keep = _kept_mask(samples[score_col].to_numpy(), budget)
    n_removed_by_budget = int((~keep).sum())
    labels = samples[schema.GIVEN_LABEL].to_numpy().copy()
    for sample_id, new_label in reviews.relabelled.items():
        labels[sample_id] = new_label
    if reviews.removed:
        keep[np.fromiter(reviews.removed, dtype=np.int64)] = False
    noisy = samples[schema.IS_NOISY]
    n_removed_noisy = None if noisy.isna().all() else int((noisy.fillna(False).to_numpy() & ~keep).sum())

    if mode == "probe":
        features = run.read_npy(schema.FEATURES)
        test_features = run.read_npy(schema.TEST_FEATURES)
        test_labels = run.test_labels()
        n_classes = len(manifest["dataset"]["class_names"])
        head = train_linear_probe(features[keep], labels[keep], n_classes, config.train.weight_decay, seed,
                                  max_iter=config.train.probe_max_iter)
        with torch.no_grad():
            test_pred = head(torch.as_tensor(test_features)).argmax(1).numpy()
        test_accuracy = float((test_pred == test_labels).mean())
    elif budget == 0 and not reviews.key() and seed == config.seed:
        # The analyzed model *is* the unpruned model under the same recipe and seed.
        test_accuracy = float(manifest["model"]["test_accuracy"])
    else:
        dataset = dataset or load_run_dataset(run, manifest, config)
        model_name = resolve_model_name(config, dataset)
        if reporter is not None:
            reporter.message(f"retraining {model_name} on {int(keep.sum())} samples ({detector}, budget {budget:g})")
        result = train_model(model_name, dataset.kind, dataset.x_train[keep], labels[keep], dataset.n_classes,
                             config.train, seed, description="retrain", progress=progress,
                             show_bar=bool(reporter is not None and reporter.show_bars))
        test_accuracy = float((predict_probs(result.model, dataset.x_test).argmax(1) == dataset.y_test).mean())

    row = {
        "request_key": key, "detector": detector, "budget": float(budget), "seed": int(seed), "mode": mode,
        "reviews_key": reviews.key(), "n_train": int(keep.sum()), "n_removed": n_removed_by_budget,
        "n_relabelled": len(reviews.relabelled), "n_removed_noisy": n_removed_noisy,
        "test_accuracy": test_accuracy, "seconds": round(time.perf_counter() - started, 3), "created": now_iso(),
    }
    append_result(run, row)
    return row
