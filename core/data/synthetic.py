"""The paper's two synthetic setups (Table 1, Figure 1), where every flipped label is known.

- `blobs` (convex): two Gaussian blobs in 2-D, 150 train / 100 test, exactly 5 training
  labels flipped per class (10 in all); logistic regression.
- `moons` (non-convex): two half moons, 250 train / 100 test, exactly 10 flipped per class
  (20 in all); an MLP with two hidden ReLU layers.

Both classes are balanced in each split. A `noise_rate` in the config replaces the fixed
flips with `inject_noise` (model `cfg.noise`, default symmetric). Test labels stay clean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import make_blobs, make_moons
from sklearn.model_selection import train_test_split

from core.config import DataConfig
from core.data.base import TABULAR, Dataset
from core.data.noise import (
    describe_noise,
    flip_per_class,
    inject_noise,
    noise_from_config,
)

Generator = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
"""(samples per class, seed) -> (features (2n, 2), labels (2n,))."""


@dataclass(frozen=True)
class SyntheticSetup:
    """Sizes and flips of one toy problem."""

    name: str
    make: Generator
    n_train: int
    n_test: int
    flips_per_class: int
    default_model: str


def _blobs(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n_samples=[per_class, per_class], centers=[[-2.0, -2.0], [2.0, 2.0]], cluster_std=1.25,
                      n_features=2, random_state=seed)


def _moons(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_moons(n_samples=(per_class, per_class), noise=0.2, random_state=seed)


BLOBS = SyntheticSetup("blobs", _blobs, n_train=150, n_test=100, flips_per_class=5, default_model="logreg")
MOONS = SyntheticSetup("moons", _moons, n_train=250, n_test=100, flips_per_class=10, default_model="mlp")


def make_synthetic(setup: SyntheticSetup, cfg: DataConfig, seed: int) -> Dataset:
    """Generate `setup`: features float32 (n, 2), two balanced classes, known flipped labels."""
    features, labels = setup.make((setup.n_train + setup.n_test) // 2, seed)
    x_train, x_test, clean_train, y_test = train_test_split(
        features.astype(np.float32), labels.astype(np.int64), train_size=setup.n_train, test_size=setup.n_test,
        stratify=labels, random_state=seed)
    rng = np.random.default_rng([seed, 1])
    notes = [f"generated {setup.n_train} train / {setup.n_test} test samples (seed {seed})"]
    if cfg.noise_rate is not None:
        model, rate = noise_from_config(cfg, "symmetric", 0.0)
        given_train = inject_noise(clean_train, 2, model, rate, rng, x_train)
        notes.append(describe_noise(model, rate, int((given_train != clean_train).sum())))
    else:
        given_train = flip_per_class(clean_train, setup.flips_per_class, rng)
        notes.append(f"flipped exactly {setup.flips_per_class} training labels per class "
                     f"({2 * setup.flips_per_class} in all)")
    return Dataset(
        name=setup.name,
        kind=TABULAR,
        x_train=x_train,
        given_train=given_train,
        true_train=clean_train,
        x_test=x_test,
        y_test=y_test,
        class_names=["0", "1"],
        source_train=[f"row {i}" for i in range(setup.n_train)],
        default_model=setup.default_model,
        notes=notes,
        test_labels_verified=True,
    )


def load_blobs(cfg: DataConfig, seed: int) -> Dataset:
    """blobs: tabular (150, 2) train, (100, 2) test; 5 flips per class; logistic regression."""
    return make_synthetic(BLOBS, cfg, seed)


def load_moons(cfg: DataConfig, seed: int) -> Dataset:
    """moons: tabular (250, 2) train, (100, 2) test; 10 flips per class; two-layer MLP."""
    return make_synthetic(MOONS, cfg, seed)
