"""Every dataset gradsift can analyze, behind one call: `load_dataset(cfg, seed) -> Dataset`.

`cfg.dataset` is either a registered name (core.data.registry `DATASETS`: digits, mnist5k,
blobs, moons, cifar10n, cifar100n), a prefixed name (`PREFIXES`: `hf:NAME[:CONFIG][@SPLIT]`, a
Hugging Face Hub dataset) or a path, dispatched by what it is (`PATH_FORMATS`): a folder written by
`save_to_disk` is a Hugging Face dataset (`FOLDER@SPLIT` picks a split), another directory an image
folder, .csv/.parquet a manifest, .npz an array archive. The source reads the task kind from
its input (`Dataset.task`; `DataConfig.task`, `--task`, overrides it where the input allows, and a
task the dataset cannot be is refused). Afterwards, a configured `noise_rate` is injected into the
given labels of sources that do not handle noise themselves, with the task's noise model unless
`noise` names another of that task; the labels before injection become `true_train`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from core.config import DataConfig
from core.data.base import Dataset
from core.data.hf import is_saved_dataset, load_saved, saved_dataset_split
from core.data.noise import check_noise_model, corrupt_labels, default_noise_model
from core.data.registry import DATASETS, DIRECTORY, PATH_FORMATS, PREFIXES, SAVED_DATASET
from core.errors import ConfigError, DataError


def _load_path(path: Path, cfg: DataConfig, seed: int) -> Dataset:
    if path.is_dir():
        key = SAVED_DATASET if is_saved_dataset(path) else DIRECTORY
    else:
        key = path.suffix.lower()
    if key not in PATH_FORMATS:
        suffixes = ", ".join(k for k in PATH_FORMATS if k not in (DIRECTORY, SAVED_DATASET))
        raise DataError(f"{path}: cannot read a {path.suffix or 'suffix-less'} file; a path dataset must be a "
                        f"directory of class folders or a {suffixes} file")
    return PATH_FORMATS.get(key)(path, cfg, seed)


def _check_column_options(cfg: DataConfig, is_hf: bool) -> None:
    """--label-column / --input-column choose among a Hugging Face dataset's columns; elsewhere they would be
    silently ignored (a manifest's columns have fixed names), so they are refused."""
    named = [f"data.{f}" for f in ("label_column", "input_column") if getattr(cfg, f) is not None]
    if named and not is_hf:
        raise ConfigError(f"{' and '.join(named)} appl{'y' if len(named) > 1 else 'ies'} to Hugging Face datasets "
                          "(hf:NAME or a save_to_disk "
                          f"folder); {cfg.dataset!r} is not one")


def _apply_configured_noise(dataset: Dataset, cfg: DataConfig, seed: int) -> Dataset:
    """Inject `cfg.noise_rate` of `cfg.noise` (default: the task's, symmetric, tags or targets) into the given
    labels."""
    task = dataset.task
    model = check_noise_model(cfg.noise, task) if cfg.noise is not None else default_noise_model(task)
    if not cfg.noise_rate:
        if cfg.noise is not None:
            dataset.notes.append(f"noise model {model!r} not applied: noise_rate is 0 for this dataset")
        return dataset
    if dataset.true_train is not None:
        raise DataError(f"dataset {dataset.name!r} already has known clean labels (true_train), so injected "
                        "noise would have no ground truth to score against; drop noise_rate, or export the "
                        "clean labels as the dataset's labels and inject noise into those")
    rng = np.random.default_rng([seed, 2])
    clean = dataset.given_train
    noisy, note = corrupt_labels(clean, task, dataset.n_classes, model, cfg.noise_rate, rng, dataset.x_train)
    return dataclasses.replace(dataset, given_train=noisy, true_train=clean.copy(), notes=[*dataset.notes, note])


def load_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """Load the dataset `cfg.dataset` names: a registered source or a path to user data.

    Returns a `Dataset`: images uint8 (n, C, H, W) or features float32 (n, d), int64 labels,
    `true_train` when clean labels are known, and notes on everything done while loading.
    Raises DataError when the name is neither registered nor an existing path, or the data
    is malformed.
    """
    name = cfg.dataset
    prefix = next((p for p in PREFIXES if name.startswith(p)), None)
    _check_column_options(cfg, prefix is not None or saved_dataset_split(name) is not None
                          or is_saved_dataset(Path(name).expanduser()))
    if name in DATASETS:
        dataset = DATASETS.get(name)(cfg, seed)
        if not DATASETS.entry(name).meta["own_noise"]:
            dataset = _apply_configured_noise(dataset, cfg, seed)
    elif prefix is not None:
        dataset = _apply_configured_noise(PREFIXES.get(prefix)(cfg, seed), cfg, seed)
    elif not Path(name).expanduser().exists() and saved_dataset_split(name) is not None:
        folder, split = saved_dataset_split(name)
        dataset = _apply_configured_noise(load_saved(folder, cfg, seed, split), cfg, seed)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise DataError(f"{name!r} is neither a registered dataset ({', '.join(DATASETS.names())}), a "
                            f"{'/'.join(PREFIXES.names())} dataset nor an existing path (image folder, saved Hugging "
                            "Face dataset, .csv/.parquet manifest or .npz file)")
        dataset = _apply_configured_noise(_load_path(path, cfg, seed), cfg, seed)
    if cfg.task is not None and dataset.task != cfg.task:
        raise DataError(f"dataset {dataset.name!r} is a {dataset.task} dataset; --task {cfg.task} does not fit it")
    if cfg.test_labels_verified is not None:
        dataset.test_labels_verified = cfg.test_labels_verified
    return dataset
