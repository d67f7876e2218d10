"""`mnist_pairs`: a multi-label image set made offline from the bundled mnist5k digits.

Each image is two MNIST digits side by side, uint8 (1, 28, 56); its tags are the digits shown
(a pair of the same digit has one tag), over the ten tags "0".."9". The 5,000 mnist5k digits are
first split (stratified, seeded) into a training and a test pool with `data.test_fraction`, so no
digit image appears on both sides; `N_PAIRS` composites are then drawn, the same share from the
test pool, each pool image used at most once per side. The training tag sets get 10% tag errors by
default (core.data.task_noise `tags`: a tag dropped, swapped for a confusable digit, or added),
with `DIGIT_CONFUSIONS` naming which digits a swap confuses; the test tag sets stay clean.
"""

from __future__ import annotations

import math

import numpy as np

from core.config import DataConfig
from core.data.base import IMAGE, Dataset
from core.data.embedded import DIGIT_NAMES, read_mnist5k
from core.data.noise import noisy_train_labels
from core.data.split import carve_test_split

N_PAIRS = 3000
"""Composite images in all (train and test)."""
DEFAULT_NOISE_RATE = 0.10
DIGIT_CONFUSIONS: dict[int, tuple[int, ...]] = {0: (6, 8), 1: (7, 4), 2: (7, 3), 3: (5, 8), 4: (9, 1), 5: (3, 6),
                                                6: (0, 5), 7: (1, 9), 8: (3, 9), 9: (4, 7)}
"""Per digit, the digits a handwritten one is most often read as, most confusable first (the usual MNIST
confusions: 4/9, 3/5/8, 1/7, 0/6, 7/9); a tag swap puts the first one the sample does not already hold."""


def _pairs(pool: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) (n,) indices from `pool`, each pool index at most once per side, never the same image twice
    in one composite."""
    left = rng.permutation(pool)[:n]
    right = rng.permutation(pool)[:n]
    while (same := np.flatnonzero(left == right)).size:
        others = rng.integers(n, size=len(same))
        right[same], right[others] = right[others], right[same].copy()
    return left, right


def _compose(images: np.ndarray, digits: np.ndarray, left: np.ndarray,
             right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(composites (n, 1, 28, 56) uint8, tag indicators (n, 10) uint8)."""
    composites = np.concatenate([images[left], images[right]], axis=3)
    tags = np.zeros((len(left), len(DIGIT_NAMES)), dtype=np.uint8)
    rows = np.arange(len(left))
    tags[rows, digits[left]] = 1
    tags[rows, digits[right]] = 1
    return composites, tags


def load_mnist_pairs(cfg: DataConfig, seed: int) -> Dataset:
    """mnist_pairs: images (N_PAIRS, 1, 28, 56) uint8 split train/test; multilabel over the ten digits."""
    images, digits = read_mnist5k()
    train_pool, test_pool = carve_test_split(len(digits), digits, cfg.test_fraction, seed)
    n_test = math.ceil(cfg.test_fraction * N_PAIRS)
    rng = np.random.default_rng([seed, 0])
    train_left, train_right = _pairs(train_pool, N_PAIRS - n_test, rng)
    test_left, test_right = _pairs(test_pool, n_test, rng)
    x_train, clean_train = _compose(images, digits, train_left, train_right)
    x_test, y_test = _compose(images, digits, test_left, test_right)
    given_train, noise_note = noisy_train_labels(clean_train, len(DIGIT_NAMES), cfg, np.random.default_rng([seed, 1]),
                                                 x_train, DEFAULT_NOISE_RATE, task="multilabel",
                                                 confusions=DIGIT_CONFUSIONS)
    single = int((clean_train.sum(axis=1) == 1).sum())
    notes = [f"composed {len(x_train)} train / {len(x_test)} test images of two mnist5k digits side by side "
             f"(28x56; seed {seed}) from a stratified {cfg.test_fraction * 100:g}% split of the 5,000 digits, so no "
             f"digit image is in both; tags = the digits shown ({single} training pairs of one digit have one tag)",
             noise_note]
    return Dataset(
        name="mnist_pairs",
        kind=IMAGE,
        x_train=x_train,
        given_train=given_train,
        true_train=clean_train,
        x_test=x_test,
        y_test=y_test,
        class_names=list(DIGIT_NAMES),
        source_train=[f"mnist5k rows {a}+{b}" for a, b in zip(train_left, train_right)],
        notes=notes,
        test_labels_verified=True,
        task="multilabel",
    )
