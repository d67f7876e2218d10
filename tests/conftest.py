"""Shared fixtures: small, seeded, CPU-only runs made once per session."""

import pytest
import torch

from core.config import (
    DataConfig,
    DetectConfig,
    EmbedConfig,
    GradientConfig,
    RunConfig,
    TrainConfig,
)

torch.set_num_threads(1)


def fast_config(dataset: str = "digits", **overrides) -> RunConfig:
    """A quick but real configuration: few epochs, PCA map, in-sample gradients unless overridden."""
    sections = {
        "data": DataConfig(dataset=dataset),
        "train": TrainConfig(epochs=4, patience=2, min_steps=0),
        "gradients": GradientConfig(mode="in_sample"),
        "detect": DetectConfig(),
        "embed": EmbedConfig(method="pca"),
    }
    sections.update(overrides)
    return RunConfig(**sections)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    from core.pipeline.runner import analyze

    return analyze(fast_config(), tmp_path_factory.mktemp("runs") / "digits")
