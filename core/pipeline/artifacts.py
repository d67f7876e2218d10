"""What a finished stage left that later work needs back: the dataset (checked unchanged) and the model.

Used by the stages, by retraining and by the dashboard; reads only through `RunDir`.
"""

from __future__ import annotations

import torch

from core.config import RunConfig
from core.data.base import Dataset
from core.data.load import load_dataset
from core.errors import RunDirError
from core.models.choice import ModelChoice, choose_model
from core.models.nets import FeatureModel, build_model
from core.models.training import load_model_state
from core.run import schema
from core.run.rundir import RunDir


def resolve_model(config: RunConfig, dataset: Dataset) -> ModelChoice:
    """The model `train.model` names, or what `auto` means for this dataset and machine (core.models.choice)."""
    if config.train.model != "auto":
        return ModelChoice(config.train.model, "named by --model")
    return choose_model(dataset, config.train)


def check_dataset_fingerprint(run: RunDir, manifest: dict, config: RunConfig, dataset: Dataset) -> None:
    """Refuse (RunDirError) a dataset whose contents changed since the run recorded its fingerprint."""
    recorded = manifest.get("dataset", {}).get("fingerprint")
    if recorded and recorded != dataset.fingerprint():
        raise RunDirError(
            f"the dataset {config.data.dataset!r} changed since {run.path} was analyzed "
            f"(fingerprint {recorded} -> {dataset.fingerprint()}); analyze it into a new directory"
        )


def load_run_dataset(run: RunDir, manifest: dict, config: RunConfig) -> Dataset:
    """Reload the run's dataset and refuse if it changed since the run was made."""
    dataset = load_dataset(config.data, config.seed)
    check_dataset_fingerprint(run, manifest, config, dataset)
    return dataset


def load_run_model(run: RunDir, manifest: dict, dataset: Dataset) -> FeatureModel:
    """The analyzed model from model.pt, loaded with weights_only=True (no pickle)."""
    path = run.file(schema.MODEL)
    if not path.exists():
        raise RunDirError(f"{path} is missing; rerun `gradsift analyze` on this directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RunDirError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc}); "
                          "delete it and rerun `gradsift analyze`") from exc
    model = build_model(manifest["model"]["name"], dataset.input_shape, dataset.n_classes, dataset.kind)
    try:
        return load_model_state(model, state)
    except (RuntimeError, KeyError) as exc:
        raise RunDirError(f"{path} does not match model {manifest['model']['name']!r}: {exc}") from exc
