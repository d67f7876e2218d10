"""`--model auto`: the model that fits the data and the machine (docs/models.md states the rule).

1. A trained model's outputs handed in → `given` (nothing to train).
2. Tabular data → the dataset's own default (`mlp`; `logreg` for the paper's blobs); text → a
   linear probe on the frozen encoder's embeddings (`text_probe`).
3. Images that are grayscale or smaller than 32 px on a side → `cnn` (the small CNN trains in
   seconds to a minute on a CPU, and ImageNet features do not fit such images); multi-label ones →
   `cnn_pool`, the same pooled over positions, since a tag is shown anywhere in the image.
4. Colour images of 32 px or more → a linear probe on a pretrained ResNet-18 (`probe_resnet18`)
   when pretrained weights can be had (`--weights PATH`, torch's cache, or a download); without
   them, a ResNet-18 from scratch on a GPU, and the small CNN on a CPU (a from-scratch ResNet-18
   on two CPU cores takes minutes per epoch). The reason is stored and printed in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.config import TrainConfig
from core.data.base import IMAGE, OUTPUTS, TABULAR, TEXT, Dataset
from core.models.nets import select_device
from core.models.weights import backbone_weights

SMALL_IMAGE_SIDE = 32
"""Images below this many pixels on their shorter side get the small CNN."""


@dataclass(frozen=True)
class ModelChoice:
    name: str
    reason: str


def choose_model(dataset: Dataset, cfg: TrainConfig) -> ModelChoice:
    """The model `--model auto` means for this dataset, device and weights (see the module docstring)."""
    if dataset.kind == OUTPUTS:
        return ModelChoice("given", "model outputs were handed in: nothing to train")
    if dataset.kind == TEXT:
        return ModelChoice("text_probe", "text: a linear probe on the frozen encoder's embeddings")
    if dataset.kind == TABULAR or dataset.kind != IMAGE:
        return ModelChoice(dataset.default_model, f"{dataset.kind} data: the dataset's default model")
    channels, height, width = dataset.input_shape
    side = min(height, width)
    if channels == 1 or side < SMALL_IMAGE_SIDE:
        what = "grayscale" if channels == 1 else f"small ({height}x{width})"
        if dataset.task == "multilabel":
            return ModelChoice("cnn_pool", f"{what} multi-label images: the small CNN pooled over positions (a tag "
                                           "is shown anywhere)")
        return ModelChoice("cnn", f"{what} images: the small CNN")
    weights = backbone_weights("resnet18", cfg.pretrained, cfg.weights)
    if weights.state is not None:
        return ModelChoice("probe_resnet18", f"colour {height}x{width} images: a linear probe on {weights.description}")
    device = select_device(cfg.device)
    if device.type != "cpu" and torch.cuda.is_available():
        return ModelChoice("resnet18", f"colour images, {weights.description}: ResNet-18 from scratch on {device}")
    return ModelChoice("cnn", f"colour images, {weights.description}, and no GPU: the small CNN (a ResNet-18 "
                              "from scratch would take minutes per epoch on this CPU)")
