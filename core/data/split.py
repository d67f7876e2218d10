"""Seeded splits: the held-out test split a source without one gets, and K-fold assignments.

Retraining after pruning is judged on this split, so it is stratified (every class keeps
its share) whenever that is possible, and seeded so a resumed run sees the same split.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from core.errors import DataError


def _test_size(n: int, fraction: float) -> int:
    """Number of test samples scikit-learn carves for a float `test_size` (ceil)."""
    return int(np.ceil(fraction * n))


def is_stratifiable(labels: np.ndarray) -> bool:
    """Class indices (1-D integers) can be stratified on; tag sets and regression targets are split plainly."""
    labels = np.asarray(labels)
    return labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)


def can_stratify(labels: np.ndarray, fraction: float) -> bool:
    """True when a stratified split exists: every class has >= 2 samples and both sides can hold every class."""
    if not is_stratifiable(labels):
        return False
    counts = np.unique(labels, return_counts=True)[1]
    n_test = _test_size(len(labels), fraction)
    return bool(counts.min() >= 2 and n_test >= len(counts) and len(labels) - n_test >= len(counts))


def carve_test_split(n: int, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): sorted int64 indices into the n samples; ceil(fraction * n) go to test.

    Stratified on `labels` (n,) when `can_stratify`, otherwise a plain seeded shuffle.
    Sorting keeps the source's order inside each split, so `source_train` stays readable.
    """
    labels = np.asarray(labels)
    if len(labels) != n:
        raise DataError(f"cannot split: {len(labels)} labels for {n} samples")
    if not 0 < fraction < 1:
        raise DataError(f"test fraction must be in (0, 1), got {fraction}")
    n_test = _test_size(n, fraction)
    if n < 2 or n_test >= n:
        raise DataError(f"cannot carve a {fraction:g} test split from {n} samples: too few samples")
    stratify = labels if can_stratify(labels, fraction) else None
    train_idx, test_idx = train_test_split(np.arange(n), test_size=n_test, random_state=seed, stratify=stratify)
    return np.sort(train_idx).astype(np.int64), np.sort(test_idx).astype(np.int64)


def split_note(labels: np.ndarray, fraction: float, seed: int) -> str:
    """The `Dataset.notes` line describing what `carve_test_split` did with these arguments."""
    labels = np.asarray(labels)
    if not is_stratifiable(labels):
        kind = "unstratified (tag sets and numeric targets are split plainly)"
    else:
        kind = ("stratified" if can_stratify(labels, fraction)
                else "unstratified (too few samples per class to stratify)")
    return f"carved {'an' if kind.startswith('un') else 'a'} {kind} {fraction * 100:g}% test split (seed {seed})"


def fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(n,) int64 fold in [0, folds) of each sample: a seeded shuffled K-fold split, stratified
    by `labels` when every class present has at least `folds` samples, plain otherwise."""
    labels = np.asarray(labels)
    stratify = is_stratifiable(labels) and np.unique(labels, return_counts=True)[1].min() >= folds
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True,
                                                                     random_state=seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels if stratify else None)):
        fold_of[held_out] = fold
    return fold_of


VALIDATION_SEED_OFFSET = 7919
"""The validation split is drawn with seed + this offset, so it never coincides with the test split's draw."""


def validation_rows(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(m,) sorted int64 rows of the training split held out for validation: round(fraction · n) of them,
    stratified on the given `labels` when every class can give some, seeded; empty when fraction is 0
    or the split would leave fewer than two training rows."""
    labels = np.asarray(labels)
    n = len(labels)
    n_val = int(round(fraction * n))
    if fraction <= 0 or n_val < 1 or n - n_val < 2:
        return np.empty(0, dtype=np.int64)
    counts = np.unique(labels, return_counts=True)[1] if is_stratifiable(labels) else np.zeros(1)
    stratify = labels if counts.min() >= 2 and n_val >= len(counts) and n - n_val >= len(counts) else None
    _, held_out = train_test_split(np.arange(n), test_size=n_val, random_state=seed + VALIDATION_SEED_OFFSET,
                                   stratify=stratify)
    return np.sort(held_out).astype(np.int64)
