"""Regression datasets that need no download, with corrupted training targets whose truth is kept.

- `diabetes`: scikit-learn's 442 diabetes records (Efron et al. 2004): ten baseline variables (age,
  sex, BMI, blood pressure, six serum measurements; as scikit-learn scales them) and the disease
  progression one year later (integers 25..346).
- `regression_synth`: `SYNTH_ROWS` generated rows of ten standard-normal features and a target in
  the hundreds: a linear part, a sine and a product term (nonlinear, so the MLP has something to
  learn) and Gaussian noise, rounded to cents as typed values are.

Both carve a seeded `data.test_fraction` test split (plain: targets are not stratified) and corrupt
8% of the training targets by default (core.data.task_noise `targets`: another record's target, a
dropped digit, a unit change); the test targets stay clean.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_diabetes

from core.config import DataConfig
from core.data.base import TABULAR, Dataset
from core.data.noise import noisy_train_labels
from core.data.split import carve_test_split, split_note

DEFAULT_NOISE_RATE = 0.08
SYNTH_ROWS = 50_000
SYNTH_FEATURES = 10


def _noisy_regression(name: str, features: np.ndarray, targets: np.ndarray, target_name: str, cfg: DataConfig,
                      seed: int, notes: list[str], default_model: str) -> Dataset:
    """Split float32 features (n, d) and clean float64 targets (n,), and corrupt the training targets."""
    train_idx, test_idx = carve_test_split(len(targets), targets, cfg.test_fraction, seed)
    clean_train = targets[train_idx]
    given_train, noise_note = noisy_train_labels(clean_train, 1, cfg, np.random.default_rng([seed, 1]),
                                                 features[train_idx], DEFAULT_NOISE_RATE, task="regression")
    return Dataset(
        name=name,
        kind=TABULAR,
        x_train=features[train_idx],
        given_train=given_train,
        true_train=clean_train,
        x_test=features[test_idx],
        y_test=targets[test_idx],
        class_names=[target_name],
        source_train=[f"row {i}" for i in train_idx],
        default_model=default_model,
        notes=[*notes, split_note(targets, cfg.test_fraction, seed), noise_note],
        test_labels_verified=True,
        task="regression",
    )


def load_diabetes_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """diabetes: tabular (442, 10) float32; target: disease progression after one year (25..346)."""
    bunch = load_diabetes()
    notes = [f"scikit-learn's diabetes records: {len(bunch.target)} patients, features "
             f"{', '.join(bunch.feature_names)} (mean-centred and scaled by scikit-learn)"]
    return _noisy_regression("diabetes", bunch.data.astype(np.float32), bunch.target.astype(np.float64),
                             "progression", cfg, seed, notes, default_model="logreg")


def make_regression_synth(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, 10) float32, targets (n,) float64 rounded to 0.01): y = 300 + 40·(x·w)/‖w‖ + 25·sin(2·x0)
    + 15·x1·x2 + ε, ε ~ N(0, 5²), w a fixed descending weight vector; almost every target lies in 100..500."""
    rng = np.random.default_rng([seed, 11])
    features = rng.standard_normal((n, SYNTH_FEATURES))
    weights = np.linspace(1.0, 0.1, SYNTH_FEATURES)
    signal = 40 * features @ weights / np.linalg.norm(weights)
    targets = 300 + signal + 25 * np.sin(2 * features[:, 0]) + 15 * features[:, 1] * features[:, 2]
    targets = np.round(targets + rng.normal(0, 5, n), 2)
    return features.astype(np.float32), targets


def load_regression_synth(cfg: DataConfig, seed: int) -> Dataset:
    """regression_synth: tabular (SYNTH_ROWS, 10) float32 generated with `seed`; a target in the hundreds."""
    features, targets = make_regression_synth(SYNTH_ROWS, seed)
    notes = [f"generated {SYNTH_ROWS} rows (seed {seed}): 10 standard-normal features, target = 300 + a linear "
             "part (sd 40) + 25 sin(2 x0) + 15 x1 x2 + N(0, 5^2) noise, rounded to 0.01"]
    return _noisy_regression("regression_synth", features, targets, "target", cfg, seed, notes, default_model="mlp")
