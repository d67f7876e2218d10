"""Label-quality baselines from cleanlab, oriented as harm scores.

cleanlab's `cleanlab.rank.get_label_quality_scores(labels, pred_probs, method=...)` returns
a label *quality* in [0, 1], higher = the given label is more likely correct. gradsift
scores point the other way everywhere (higher = more outlying / harmful), so this module
returns

    harm = 1 − quality,   (n,) float64 in [0, 1], higher = more likely mislabelled.

Methods (`LABEL_QUALITY_METHODS`), with k = given label and P = predicted probabilities:

- ``self_confidence``: quality P[k] (Müller & Markert 2019).
- ``normalized_margin``: quality from P[k] − max_{k'≠k} P[k'] (Northcutt et al. 2021).
- ``confidence_weighted_entropy``: quality from entropy(P) / P[k] (Kuan & Mueller 2022).

cleanlab's defaults are used (``adjust_pred_probs=False``), as in the paper. Multi-label runs
score ``cleanlab_multilabel`` (`cleanlab.multilabel_classification.rank.get_label_quality_scores`, its
defaults: each tag's self-confidence, aggregated); regression runs ``cleanlab_regression``
(`cleanlab.regression.rank.get_label_quality_scores`, OUTRE), as harm = −log(quality) (see
`regression_quality_scores`: the same order, no rounding to 1). The scores
are only meaningful with *out-of-sample* predicted probabilities (cleanlab's docs): the
pipeline's cross-fitted probabilities, or `out_of_fold_probs` below. The authors'
reference code used in-sample probabilities, which a model that has memorized a flipped
label scores as clean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from cleanlab.rank import get_label_quality_scores

from core.data.split import fold_assignment
from core.errors import ConfigError, DataError
from core.influence.registry import LABEL_QUALITY_METHODS

PROB_SUM_ATOL = 1e-3
"""How far a row of pred_probs may sum from 1 (float32 softmax outputs are off by ~1e-7)."""


def _validate(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    pred_probs = np.asarray(pred_probs)
    if labels.ndim != 1:
        raise DataError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if pred_probs.ndim != 2:
        raise DataError(f"pred_probs must be (n_samples, n_classes), got shape {pred_probs.shape}")
    if len(labels) != len(pred_probs):
        raise DataError(f"labels has {len(labels)} entries but pred_probs has {len(pred_probs)} rows")
    if len(labels) == 0:
        raise DataError("labels and pred_probs are empty")
    n_classes = pred_probs.shape[1]
    if n_classes < 2:
        raise DataError(f"pred_probs needs at least 2 class columns, got {n_classes}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise DataError("labels must be integer class indices")
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise DataError(f"labels must lie in [0, {n_classes}) to index pred_probs' columns; "
                        f"found [{labels.min()}, {labels.max()}]")
    pred_probs = pred_probs.astype(np.float64)
    if not np.all(np.isfinite(pred_probs)):
        raise DataError("pred_probs contains NaN or infinite values")
    if pred_probs.min() < -1e-6 or pred_probs.max() > 1 + 1e-6:
        raise DataError(f"pred_probs must be probabilities in [0, 1]; found [{pred_probs.min():g}, "
                        f"{pred_probs.max():g}] (logits? apply softmax first)")
    row_sums = pred_probs.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > PROB_SUM_ATOL:
        raise DataError(f"each row of pred_probs must sum to 1; row {worst} sums to {row_sums[worst]:.6g}")
    return labels, np.clip(pred_probs, 0.0, 1.0)


def label_quality_scores(labels: np.ndarray, pred_probs: np.ndarray, method: str = "self_confidence",
                         task: str = "classification", seed: int = 0) -> np.ndarray:
    """(n,) float64 harm = 1 − cleanlab label quality, in [0, 1], higher = more likely mislabelled.

    labels (n,) the given (possibly noisy) integer labels in [0, C); pred_probs (n, C)
    out-of-sample predicted class probabilities, rows summing to 1. Unknown methods are a
    ConfigError listing the registered ones; malformed inputs a DataError. Multi-label and
    regression runs: `multilabel_quality_scores` and `regression_quality_scores`.
    """
    cleanlab_method = LABEL_QUALITY_METHODS.entry(method).meta["cleanlab_method"]
    if task == "multilabel":
        return multilabel_quality_scores(labels, pred_probs, cleanlab_method)
    if task == "regression":
        return regression_quality_scores(labels, pred_probs, cleanlab_method, seed)
    labels, pred_probs = _validate(labels, pred_probs)
    quality = get_label_quality_scores(labels, pred_probs, method=cleanlab_method)
    return 1.0 - np.asarray(quality, dtype=np.float64)


def multilabel_quality_scores(tags: np.ndarray, sigmoids: np.ndarray, cleanlab_method: str) -> np.ndarray:
    """(n,) float64 harm = 1 − cleanlab.multilabel_classification's label quality (each tag scored as its own
    binary label by `cleanlab_method`, the scores aggregated by cleanlab's default exponential moving average),
    in [0, 1], higher = the tag set more likely wrong. tags (n, C) 0/1 given tag indicators, sigmoids (n, C)
    out-of-fold probabilities of each tag."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores as multilabel_scores

    tags = np.asarray(tags)
    sigmoids = np.clip(np.asarray(sigmoids, dtype=np.float64), 0.0, 1.0)
    if tags.ndim != 2 or tags.shape != sigmoids.shape:
        raise DataError(f"multi-label tags {tags.shape} and sigmoids {sigmoids.shape} must both be (n, C)")
    labels = [np.flatnonzero(row).tolist() for row in tags]
    quality = multilabel_scores(labels, sigmoids, method=cleanlab_method)
    return 1.0 - np.asarray(quality, dtype=np.float64)


REGRESSION_BLOCK_ROWS = 5_000
"""cleanlab's OUTRE score compares every row with every other: memory and time grow with n² (1 GB and 28 s
for 10,000 rows here; 40,000 rows ran out of 24 GB). Above this many rows it scores seeded random blocks of
at most this size, each on its own."""


def regression_quality_scores(values: np.ndarray, predictions: np.ndarray, cleanlab_method: str,
                              seed: int = 0) -> np.ndarray:
    """(n,) float64 harm = −log(cleanlab.regression label quality), in [0, ∞), higher = the value more likely
    wrong: the order of cleanlab's quality, without 1 − q rounding to 1 for the tiny qualities of large
    residuals (`residual` is exp(−|y − ŷ|) in the target's units: its harm is |y − ŷ|). values (n,) given
    targets, predictions (n,) or (n, 1) out-of-fold predictions. Above REGRESSION_BLOCK_ROWS rows, scored in
    seeded random blocks."""
    from cleanlab.regression.rank import get_label_quality_scores as regression_scores

    values = np.asarray(values, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(len(values), -1)[:, 0]
    n_blocks = -(-len(values) // REGRESSION_BLOCK_ROWS)
    quality = np.empty(len(values), dtype=np.float64)
    for block in np.array_split(np.random.default_rng([seed, 23]).permutation(len(values)), max(n_blocks, 1)):
        quality[block] = regression_scores(values[block], predictions[block], method=cleanlab_method)
    return -np.log(np.clip(quality, np.finfo(np.float64).tiny, None))


def out_of_fold_probs(fit_predict_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], n_samples: int,
                      labels: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """(n, C) float64 out-of-sample predicted probabilities by K-fold cross-fitting.

    `fit_predict_fn(train_idx, test_idx)` fits a fresh model on the train indices and
    returns (len(test_idx), C) probabilities for the test indices. Folds are stratified
    by `labels` (seeded shuffle) when every class has at least `folds` members, plain
    shuffled K-fold otherwise. Every sample is predicted exactly once, by a model that
    never saw it.
    """
    labels = np.asarray(labels)
    if len(labels) != n_samples:
        raise DataError(f"labels has {len(labels)} entries for n_samples = {n_samples}")
    if folds < 2 or folds > n_samples:
        raise ConfigError(f"folds must be in [2, n_samples = {n_samples}], got {folds}")
    fold_of = fold_assignment(labels, folds, seed)
    out: np.ndarray | None = None
    for fold in range(folds):
        train_idx, test_idx = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        probs = np.asarray(fit_predict_fn(train_idx, test_idx), dtype=np.float64)
        if probs.ndim != 2 or len(probs) != len(test_idx):
            raise DataError(f"fit_predict_fn returned shape {probs.shape} for {len(test_idx)} test indices; "
                            "expected (len(test_idx), n_classes)")
        if out is None:
            out = np.full((n_samples, probs.shape[1]), np.nan)
        elif probs.shape[1] != out.shape[1]:
            raise DataError(f"fit_predict_fn returned {probs.shape[1]} classes in one fold, {out.shape[1]} in another")
        out[test_idx] = probs
    return out
