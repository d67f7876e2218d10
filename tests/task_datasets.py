"""Small seeded multi-label and regression datasets with known errors, for the engine's task tests.

Registered as dataset sources (`test_multilabel`, `test_regression`) so `analyze` and full-mode retraining
load them by name like any source; `register()` is idempotent. Both are tabular: features float32 (n, d).

- multi-label: C = 4 tags, each present with probability 0.35; x = Σ (present tags' prototypes) + noise.
  `NOISY_SHARE` of the training samples get one tag wrong (a given tag dropped, or a missing tag added).
- regression: y = w·x + a little noise, in units around 100; `NOISY_SHARE` of the training targets are
  corrupted (swapped with another record's, a digit dropped (÷10), or a unit change (×10)).
"""

from __future__ import annotations

import numpy as np

from core.config import DataConfig
from core.data.base import TABULAR, Dataset

NOISY_SHARE = 0.1
N_TRAIN, N_TEST, N_FEATURES, N_TAGS = 600, 200, 12, 4


def _split_sources(n: int) -> list[str]:
    return [f"row {i}" for i in range(n)]


def make_multilabel(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0,
                    noisy_share: float = NOISY_SHARE) -> Dataset:
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(0, 1.6, size=(N_TAGS, N_FEATURES))
    n = n_train + n_test
    tags = (rng.random((n, N_TAGS)) < 0.35).astype(np.uint8)
    x = (tags @ prototypes + rng.normal(0, 0.6, size=(n, N_FEATURES))).astype(np.float32)
    clean = tags[:n_train].copy()
    given = clean.copy()
    wrong = rng.choice(n_train, size=int(round(noisy_share * n_train)), replace=False)
    given[wrong, rng.integers(0, N_TAGS, len(wrong))] ^= 1
    return Dataset(name="test_multilabel", kind=TABULAR, x_train=x[:n_train], given_train=given, true_train=clean,
                   x_test=x[n_train:], y_test=tags[n_train:], class_names=[f"tag{c}" for c in range(N_TAGS)],
                   source_train=_split_sources(n_train), task="multilabel", test_labels_verified=True)


def corrupt_targets(values: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`values` with `rows` corrupted in turn: swapped with a random other record, ÷10 (a dropped digit), ×10."""
    out = values.copy()
    for k, row in enumerate(rows):
        kind = k % 3
        if kind == 0:
            other = int(rng.integers(0, len(values)))
            while abs(values[other] - values[row]) < 2 * values.std():
                other = int(rng.integers(0, len(values)))
            out[row] = values[other]
        elif kind == 1:
            out[row] = values[row] / 10
        else:
            out[row] = values[row] * 10
    return out


def make_regression(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0,
                    noisy_share: float = NOISY_SHARE) -> Dataset:
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.normal(0, 1, size=(n, N_FEATURES)).astype(np.float32)
    weights = rng.normal(0, 1, N_FEATURES)
    y = 100 + 15 * (x @ weights) / np.sqrt(N_FEATURES) + rng.normal(0, 2, n)
    clean = y[:n_train].copy()
    wrong = rng.choice(n_train, size=int(round(noisy_share * n_train)), replace=False)
    given = corrupt_targets(clean, wrong, rng)
    return Dataset(name="test_regression", kind=TABULAR, x_train=x[:n_train], given_train=given, true_train=clean,
                   x_test=x[n_train:], y_test=y[n_train:], class_names=["target"],
                   source_train=_split_sources(n_train), task="regression", test_labels_verified=True)


def make_diabetes(seed: int = 0, noisy_share: float = 0.08) -> Dataset:
    """scikit-learn's 442 diabetes records (10 standardized features; disease progression 25-346), a seeded 20%
    test split, `noisy_share` of the training targets corrupted by `corrupt_targets`."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = len(y) // 5
    test, train = order[:n_test], order[n_test:]
    clean = y[train].astype(np.float64)
    wrong = rng.choice(len(train), size=int(round(noisy_share * len(train))), replace=False)
    given = corrupt_targets(clean, wrong, rng)
    scale = x.std(axis=0)
    features = (x / scale).astype(np.float32)
    return Dataset(name="test_diabetes", kind=TABULAR, x_train=features[train], given_train=given, true_train=clean,
                   x_test=features[test], y_test=y[test].astype(np.float64), class_names=["progression"],
                   source_train=_split_sources(len(train)), task="regression", test_labels_verified=True)


def load_multilabel(cfg: DataConfig, seed: int) -> Dataset:
    return make_multilabel(seed=seed)


def load_regression(cfg: DataConfig, seed: int) -> Dataset:
    return make_regression(seed=seed)


def load_diabetes_noisy(cfg: DataConfig, seed: int) -> Dataset:
    return make_diabetes(seed=seed)


def load_multilabel_20(cfg: DataConfig, seed: int) -> Dataset:
    return make_multilabel(seed=seed, noisy_share=0.2)


def register() -> None:
    """Register the sources (once per process); each draws its data (and errors) with the run's seed."""
    from core.data.registry import DATASETS

    for name, target in (("test_multilabel", load_multilabel), ("test_regression", load_regression),
                         ("test_diabetes", load_diabetes_noisy), ("test_multilabel_20", load_multilabel_20)):
        if name not in DATASETS:
            DATASETS.add(name, f"{name}: the engine tests' small dataset", target, own_noise=True)
