"""The feature values of a tabular run, reloaded from its dataset (runs do not store their inputs).

`core.pipeline.artifacts.load_run_dataset` reloads the dataset and refuses it when it changed
since the analysis (its fingerprint), so exported features are the ones the run analyzed.
Columns are named as the user's manifest named them; other sources (an .npz file, the
synthetic datasets) get `x0`, `x1`, ...
"""

from __future__ import annotations

import numpy as np

from core.errors import ConfigError
from core.export.source import ExportSource


def feature_names(source: ExportSource, width: int) -> list[str]:
    """The manifest's numeric feature columns when the run's dataset is a .csv/.parquet manifest, else x0.."""
    from core.data.manifest import read_feature_columns

    path = source.dataset_path()
    if path is not None and path.is_file() and path.suffix.lower() in (".csv", ".parquet"):
        names = read_feature_columns(path)
        if len(names) == width:
            return names
    return [f"x{i}" for i in range(width)]


def split_features(source: ExportSource) -> tuple[list[str], np.ndarray]:
    """(names, float32 (n, d)) features of the source's split, row = sample_id."""
    from core.pipeline.artifacts import load_run_dataset

    if source.is_image:
        raise ConfigError(f"{source.run.path} holds an image run; its inputs are images, not feature columns")
    dataset = load_run_dataset(source.run, source.manifest, source.config)
    values = dataset.x_train if source.split == "train" else dataset.x_test
    values = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
    return feature_names(source, values.shape[1]), values


def as_text(names: list[str], row: np.ndarray) -> str:
    """One sample's features as `name: value` lines (6 significant digits), for a text view."""
    return "\n".join(f"{name}: {float(value):.6g}" for name, value in zip(names, row))
