"""Prune the flagged samples, retrain with the same recipe, and record test accuracy.

Results append to `retrain.parquet` in the run directory, one row per request. A
request is identified by (config fingerprint, detector, budget, seed, mode, review
edits); an identical request is answered from the table instead of retraining. The
table is updated under a file lock, so two processes retraining at once lose no row.

Modes:
- `full`: a fresh model of the run's architecture trained on the kept samples (the paper).
- `probe`: only a new last layer, fit on the analyzed model's cached features of the
  kept samples (seconds; what the dashboard's slider uses for quick feedback).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from core.run import schema
from core.run.rundir import RunDir, now_iso, write_parquet
from core.data import Dataset
from core.detect.estimators import flag
from core.errors import ConfigError
from core.models.training import predict_probs, train_linear_probe, train_model

RETRAIN_MODES = ("full", "probe")
SWEEP_BUDGETS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125)


@dataclass
class ReviewEdits:
    """Reviewer decisions applied before retraining: samples removed and labels changed."""

    removed: set[int] = field(default_factory=set)
    relabelled: dict[int, int] = field(default_factory=dict)

    def key(self) -> str:
        if not self.removed and not self.relabelled:
            return ""
        blob = json.dumps({"removed": sorted(self.removed),
                           "relabelled": sorted(self.relabelled.items())}).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@contextmanager
def _locked(run: RunDir):
    lock_path = run.file(".retrain.lock")
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_results(run: RunDir) -> pd.DataFrame:
    """All retraining results recorded for the run (empty frame with the schema's columns if none)."""
    if not run.file(schema.RETRAIN).exists():
        return pd.DataFrame({column: pd.Series(dtype=object) for column in schema.RETRAIN_COLUMNS})
    return run.read_parquet(schema.RETRAIN)


def _request_key(fingerprint: str, detector: str, budget: float, seed: int, mode: str, reviews_key: str) -> str:
    blob = json.dumps([fingerprint, detector, round(budget, 6), seed, mode, reviews_key]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


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
    from core.pipeline.runner import load_run_dataset, resolve_model_name, run_test_labels  # pipeline imports this module

    if mode not in RETRAIN_MODES:
        raise ConfigError(f"unknown retrain mode {mode!r}; valid modes: {', '.join(RETRAIN_MODES)}")
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
    key = _request_key(manifest["config_fingerprint"], detector, budget, seed, mode, reviews.key())
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
        test_labels = run_test_labels(run, manifest, config, dataset)
        n_classes = len(manifest["dataset"]["class_names"])
        head = train_linear_probe(features[keep], labels[keep], n_classes, config.train.weight_decay, seed)
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
    with _locked(run):
        table = read_results(run)
        if key not in set(table["request_key"]):
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True) if len(table) else pd.DataFrame([row])
            write_parquet(run.file(schema.RETRAIN), table[list(schema.RETRAIN_COLUMNS)])
    return row
