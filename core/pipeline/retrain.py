"""Prune the flagged samples, retrain with the same recipe over several seeds, and record the paired test metric.

The metric is the run's task's primary one (core.tasks: accuracy, micro-F1 for multi-label, RMSE for
regression, where lower is better), stored in the `test_accuracy` / `baseline_accuracy` / `delta` columns
and named by `metric`. Every result row is one seed: the accuracy without the detector's top round(k·n) samples
(and the reviewer's removals and relabels, if any) and, paired with it, the accuracy of
the same seed at k = 0 without reviews, so a seed's luck cancels in the difference.
Rows append to `retrain.parquet` (core.run.results): an identical request is answered
from the table, and two processes retraining at once lose no row.

What a seed varies (docs/reproduce.md):
- `full` mode: a fresh model of the run's architecture trained on the kept samples
  (early stopping on the run's validation split minus what was removed, then a refit on
  every kept sample); the seed sets initialization and batch order. Seed = the run's seed
  at k = 0 without reviews *is* the analyzed model.
- `probe` mode: only a new last layer, fit on the analyzed model's cached features
  (seconds), with the L2 strength the train stage chose on the validation split. The
  refit is convex, so a seed instead draws a bootstrap resample of the training set:
  seed s fits k = 0 on the resample and k on the same resample minus the removed samples.

`retrain_seeds` runs N seeds and summarizes them with a t-interval (core.evaluate.intervals).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.data.base import Dataset
from core.detect.flagging import flag
from core.errors import ConfigError
from core.evaluate.intervals import t_interval
from core.models.probe import train_linear_probe
from core.models.training import predict_probs, train_model
from core.pipeline.artifacts import load_run_dataset
from core.pipeline.registry import RETRAIN_MODES
from core.run import schema
from core.run.io import now_iso, take_rows
from core.run.results import BASELINE, append_result, read_results, request_key
from core.run.reviews import ReviewEdits
from core.run.rundir import RunDir
from core.tasks.base import Task

SWEEP_BUDGETS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125)


class EmptiedClassError(ConfigError):
    """The samples left after pruning miss a class the run's labels hold: no model of every class can be fit."""


def check_every_class_kept(labels: np.ndarray, keep: np.ndarray, class_names: list[str],
                           task: str = "classification") -> None:
    """Refuse (EmptiedClassError, one line naming the classes) a pruning that leaves a given class no sample: for
    multi-label runs a tag that some sample carries but no kept sample does; regression runs keep no classes."""
    if task == "regression":
        return
    if task == "multilabel":
        carried = np.asarray(labels).astype(bool)
        emptied = np.flatnonzero(carried.any(axis=0) & ~carried[keep].any(axis=0)).tolist()
        what = "tag(s)"
    else:
        emptied = sorted(set(np.unique(labels).tolist()) - set(np.unique(labels[keep]).tolist()))
        what = "class(es)"
    if emptied:
        names = ", ".join(str(class_names[c]) if c < len(class_names) else str(c) for c in emptied)
        raise EmptiedClassError(f"removing these {int((~keep).sum())} samples leaves {what} {names} without a "
                                "training sample; choose a smaller budget or keep some of them")


def given_labels(samples, task: Task, n_outputs: int) -> np.ndarray:
    """The given training labels in the task's form, from the samples table's label column."""
    if task.name == "multilabel":
        indicators = np.zeros((len(samples), n_outputs), np.uint8)
        for row, tags in enumerate(samples[schema.GIVEN_TAGS]):
            indicators[row, np.asarray(tags, dtype=np.int64)] = 1
        return indicators
    if task.name == "regression":
        return samples[schema.GIVEN_VALUE].to_numpy(np.float64).copy()
    return samples[schema.GIVEN_LABEL].to_numpy().copy()


def label_column(task: Task) -> str:
    return {"multilabel": schema.GIVEN_TAGS, "regression": schema.GIVEN_VALUE}.get(task.name, schema.GIVEN_LABEL)


def apply_relabels(labels: np.ndarray, relabelled: dict, task: Task) -> np.ndarray:
    """`labels` with the reviewers' new labels: a class index, a multi-label run's tag indices (a sequence; the
    sample's whole tag set), or a regression run's value."""
    for sample_id, new_label in relabelled.items():
        if task.name == "multilabel":
            labels[sample_id] = 0
            labels[sample_id, np.asarray(list(new_label), dtype=np.int64)] = 1
        else:
            labels[sample_id] = new_label
    return labels


def test_metric(task: Task, preds: np.ndarray, test_labels: np.ndarray) -> float:
    """The task's primary test metric (accuracy, micro-F1, RMSE) of `preds` in the task's prediction form."""
    return float(task.metrics(preds, test_labels)[task.metric])
BOOTSTRAP_STREAM = 4
"""Seed-sequence stream of probe-mode bootstrap resamples (independent of every other draw of a run)."""


def _kept_mask(scores: np.ndarray, budget: float) -> np.ndarray:
    if budget == 0:
        return np.ones(len(scores), dtype=bool)
    return ~flag(scores, budget)


def bootstrap_rows(n: int, seed: int, max_rows: int | None = None) -> np.ndarray:
    """(m,) int64 row indices drawn with replacement, m = min(n, max_rows): seed's resample of the
    training set (probe mode; an m-out-of-n bootstrap when the training set is larger than the cap)."""
    size = n if max_rows is None else min(n, max_rows)
    return np.random.default_rng([seed, BOOTSTRAP_STREAM]).integers(0, n, size=size)


def probe_retrain(run: RunDir, keep: np.ndarray, labels: np.ndarray, seed: int, *, test_labels: np.ndarray,
                  **_: Any) -> tuple[float, int]:
    """(test metric, training rows) of a new last layer fit on the cached features of seed's bootstrap resample
    minus the removed samples (`keep` (n,) bool; `labels` the labels to train on, in the task's form), with the
    L2 strength the train stage chose, under the run's task's loss. Needs no network, so it also serves runs on
    handed-in outputs."""
    config, manifest, task = run.config(), run.read_manifest(), run.task()
    rows = bootstrap_rows(len(keep), seed, config.train.probe_max_rows)
    rows = rows[keep[rows]]
    features = run.read_npy(schema.FEATURES, mmap=True)
    fit_features = take_rows(features, rows)
    head = train_linear_probe(fit_features, labels[rows], len(manifest["dataset"]["class_names"]),
                              manifest["model"]["probe_reg"], seed, max_iter=config.train.probe_max_iter, task=task)
    with torch.no_grad():
        outputs = head(torch.as_tensor(run.read_npy(schema.TEST_FEATURES)))
    if task.name != "classification":
        return test_metric(task, task.predict(outputs).numpy(), test_labels), len(rows)
    test_pred = outputs.argmax(1).numpy()
    return float((test_pred == test_labels).mean()), len(rows)


def full_retrain(run: RunDir, keep: np.ndarray, labels: np.ndarray, seed: int, *, test_labels: np.ndarray,
                 unpruned: bool, dataset: Dataset | None, reporter=None,
                 progress: Callable[[int, int], None] | None = None, what: str = "") -> tuple[float, int]:
    """(test metric, training rows) of a fresh model of the run's architecture and recipe on the kept samples.

    `unpruned` (budget 0, no reviews) at the run's own seed is the analyzed model itself: its recorded accuracy,
    no training. `what` names the request in the progress message.
    """
    config, manifest, task = run.config(), run.read_manifest(), run.task()
    if manifest["model"].get("solver") == "given":
        raise ConfigError(f"{run.path} was analyzed from handed-in outputs: there is no model to retrain; "
                          "use --mode probe")
    if unpruned and seed == config.seed:
        # The analyzed model *is* the unpruned model under the same recipe and seed.
        return float(manifest["model"][f"test_{task.metric}"]), int(keep.sum())
    dataset = dataset or load_run_dataset(run, manifest, config)
    model_name = manifest["model"]["name"]
    kept = np.flatnonzero(keep)
    val_rows = np.flatnonzero(np.isin(kept, run.validation_rows()))
    if reporter is not None:
        reporter.message(f"retraining {model_name} on {len(kept)} samples ({what}, seed {seed})")
    result = train_model(model_name, dataset.kind, dataset.x_train[kept], labels[kept], dataset.n_classes,
                         config.train, seed, val_rows=val_rows, description="retrain", progress=progress,
                         show_bar=bool(reporter is not None and reporter.show_bars), encoder=dataset.encoder,
                         task=task)
    return test_metric(task, predict_probs(result.model, dataset.x_test, task=task), test_labels), len(kept)


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
    """One seed: retrain without detector's top round(budget · n) samples; returns the result row.

    The row carries `test_accuracy`, the paired `baseline_accuracy` (k = 0, same seed and
    mode, no reviews; itself recorded as a row) and `delta` = their difference. budget 0
    without reviews is the baseline itself. `seed` defaults to the run's.
    """
    RETRAIN_MODES.check(mode, "mode")
    if not 0 <= budget < 1:
        raise ConfigError(f"budget must be in [0, 1), got {budget}")
    config = run.config()
    seed = config.seed if seed is None else seed
    reviews = reviews or ReviewEdits()
    score_col = schema.score_column(detector)
    present = run.sample_columns()
    if score_col not in present:
        raise ConfigError(f"detector {detector!r} was not run on {run.path}; "
                          f"available: {', '.join(schema.score_names(present))}")
    is_baseline = budget == 0 and not reviews.key()
    baseline = None if is_baseline else retrain(run, detector, 0.0, mode=mode, seed=seed, dataset=dataset,
                                                reporter=reporter)
    manifest = run.read_manifest()
    key = request_key(manifest["analysis_fingerprint"], BASELINE if is_baseline else detector, budget, seed, mode,
                      reviews.key())
    existing = read_results(run)
    if key in set(existing["request_key"]):
        return {**existing[existing["request_key"] == key].iloc[-1].to_dict(), "detector": detector}

    started = time.perf_counter()
    task = run.task()
    class_names = manifest["dataset"]["class_names"]
    samples = run.read_samples([score_col, label_column(task), schema.IS_NOISY])
    keep = _kept_mask(samples[score_col].to_numpy(), budget)
    n_removed_by_budget = int((~keep).sum())
    labels = apply_relabels(given_labels(samples, task, len(class_names)), reviews.relabelled, task)
    if reviews.removed:
        keep[np.fromiter(reviews.removed, dtype=np.int64)] = False
    check_every_class_kept(labels, keep, class_names, task.name)
    noisy = samples[schema.IS_NOISY]
    n_removed_noisy = None if noisy.isna().all() else int((noisy.fillna(False).to_numpy() & ~keep).sum())
    test_labels = run.test_labels()
    if len(test_labels) == 0:
        raise ConfigError(f"{run.path} has no test split, so there is no test accuracy to retrain for")
    test_accuracy, n_train = RETRAIN_MODES.get(mode)(
        run, keep, labels, seed, test_labels=test_labels, unpruned=is_baseline, dataset=dataset, reporter=reporter,
        progress=progress, what=f"{detector}, budget {budget:g}")

    baseline_accuracy = test_accuracy if is_baseline else float(baseline["test_accuracy"])
    row = {
        "request_key": key, "detector": BASELINE if is_baseline else detector, "budget": float(budget),
        "seed": int(seed), "mode": mode, "reviews_key": reviews.key(), "n_train": int(n_train),
        "n_removed": n_removed_by_budget, "n_relabelled": len(reviews.relabelled), "n_removed_noisy": n_removed_noisy,
        "test_accuracy": test_accuracy, "baseline_accuracy": baseline_accuracy,
        "delta": test_accuracy - baseline_accuracy, "metric": task.metric,
        "seconds": round(time.perf_counter() - started, 3), "created": now_iso(),
    }
    append_result(run, row)
    return {**row, "detector": detector}


@dataclass
class RetrainSummary:
    """A retraining over seeds: per-seed rows and their t-intervals (95%). `accuracy_*` hold the task's primary
    metric, named by `metric` (accuracy, micro_f1, rmse; `higher_is_better` False for RMSE)."""

    detector: str
    budget: float
    mode: str
    seeds: list[int]
    reviews_key: str
    rows: list[dict] = field(default_factory=list)
    accuracy_mean: float = float("nan")
    accuracy_ci: tuple[float, float] = (float("nan"), float("nan"))
    delta_mean: float = float("nan")
    """Mean over seeds of metric(k) − metric(k = 0) on the same seed."""
    delta_ci: tuple[float, float] = (float("nan"), float("nan"))
    metric: str = "accuracy"
    higher_is_better: bool = True

    @classmethod
    def of(cls, rows: list[dict]) -> RetrainSummary:
        from core.tasks.registry import TASKS

        first = rows[0]
        metric = first.get("metric") or "accuracy"
        higher = next((bool(entry.meta["higher"]) for entry in map(TASKS.entry, TASKS.names())
                       if entry.meta["metric"] == metric), True)
        bounds = (0.0, 1.0) if higher else (0.0, float("inf"))
        accuracy, accuracy_lo, accuracy_hi = t_interval([row["test_accuracy"] for row in rows], bounds=bounds)
        delta, delta_lo, delta_hi = t_interval([row["delta"] for row in rows])
        return cls(first["detector"], float(first["budget"]), first["mode"], [int(row["seed"]) for row in rows],
                   first["reviews_key"] or "", rows, accuracy, (accuracy_lo, accuracy_hi), delta, (delta_lo, delta_hi),
                   metric, higher)

    @property
    def improved(self) -> bool:
        """Whether pruning helped on average: a higher metric, or a lower one for RMSE."""
        return bool(self.delta_mean > 0 if self.higher_is_better else self.delta_mean < 0)

    @property
    def distinguishable(self) -> bool:
        """Whether the paired difference's interval excludes zero."""
        low, high = self.delta_ci
        return bool(low > 0 or high < 0)


def seed_list(first_seed: int, count: int) -> list[int]:
    """The seeds of a retraining over `count` seeds: first_seed, first_seed + 1, ..."""
    if count < 1:
        raise ConfigError(f"--seeds must be >= 1, got {count}")
    return [first_seed + offset for offset in range(count)]


def retrain_seeds(run: RunDir, detector: str, budget: float, *, mode: str = "full", seeds: int | None = None,
                  first_seed: int | None = None, reviews: ReviewEdits | None = None, dataset: Dataset | None = None,
                  reporter=None, progress: Callable[[int, int], None] | None = None) -> RetrainSummary:
    """`retrain` for each of `seeds` seeds (default: 5 in probe mode, 3 in full mode) starting at
    `first_seed` (default: the run's), summarized with 95% t-intervals."""
    from core.config import DEFAULT_SEEDS

    config = run.config()
    chosen = seed_list(config.seed if first_seed is None else first_seed,
                       DEFAULT_SEEDS[mode] if seeds is None else seeds)
    rows = []
    for index, seed in enumerate(chosen):
        step = None if progress is None else (
            lambda done, total, index=index: progress(index * total + done, len(chosen) * total))
        rows.append(retrain(run, detector, budget, mode=mode, seed=seed, reviews=reviews, dataset=dataset,
                            reporter=reporter, progress=step))
    return RetrainSummary.of(rows)
