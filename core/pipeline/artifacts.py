"""What a finished stage left that later work needs back: the dataset (checked unchanged) and the model.

Used by the stages, by retraining and by the dashboard; reads only through `RunDir`.
"""

from __future__ import annotations

import dataclasses

import torch

from core.config import RunConfig
from core.data.base import TEXT, Dataset
from core.data.load import load_dataset
from core.errors import RunDirError
from core.models.choice import ModelChoice, choose_model
from core.models.nets import FeatureModel, build_model
from core.models.registry import MODELS
from core.models.training import load_model_state, starting_weights
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


def inputs_for_model(dataset: Dataset, model_name: str) -> Dataset:
    """The dataset as `model_name` reads it: a text dataset's token ids (n, 2, L) int64 instead of its embeddings
    for a model with token inputs (text_lora; the embeddings stay as `embeddings_train`, for the input map)."""
    if MODELS.entry(model_name).meta.get("inputs") != "tokens" or dataset.kind != TEXT:
        return dataset
    from core.models.encoder import encoder_info, token_inputs

    info = encoder_info(dataset.encoder["path"], dataset.encoder["max_length"])
    return dataclasses.replace(dataset, x_train=token_inputs(dataset.texts_train, info),
                               x_test=token_inputs(dataset.texts_test, info), embeddings_train=dataset.x_train)


def load_run_dataset(run: RunDir, manifest: dict, config: RunConfig) -> Dataset:
    """Reload the run's dataset (as its model reads it) and refuse if it changed since the run was made."""
    dataset = load_dataset(config.data, config.seed)
    check_dataset_fingerprint(run, manifest, config, dataset)
    return inputs_for_model(dataset, manifest["model"]["name"])


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
    name = manifest["model"]["name"]
    model = build_model(name, dataset.input_shape, dataset.n_classes, dataset.kind,
                        starting_weights(name, run.config().train, dataset.encoder).state
                        if MODELS.entry(name).meta.get("inputs") == "tokens" else None)
    try:
        return load_model_state(model, state)
    except (RuntimeError, KeyError) as exc:
        raise RunDirError(f"{path} does not match model {manifest['model']['name']!r}: {exc}") from exc
