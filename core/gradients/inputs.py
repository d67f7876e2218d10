"""What every per-sample gradient computation shares: inputs, device, eval mode, label checks.

Every gradient function puts the model in eval mode for the duration of the call and
restores its previous mode afterwards (`eval_mode`): gradients are those of the model as
it predicts, with dropout off and BatchNorm using its running statistics. That is also
what makes `vmap` possible — in train mode BatchNorm would mix the samples of a batch and
update its running statistics in place.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from core.errors import DataError

InputTransform = Callable[[np.ndarray | torch.Tensor], torch.Tensor]
"""Maps a batch of raw inputs (e.g. uint8 images as numpy) to a float32 tensor."""

def default_transform(batch: np.ndarray | torch.Tensor) -> torch.Tensor:
    """`torch.as_tensor(batch, dtype=float32)`: no scaling. Pass the training transform instead."""
    return torch.as_tensor(batch, dtype=torch.float32)


@contextmanager
def eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def check_labels(x: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, n_classes: int,
                 task=None) -> np.ndarray:
    """Labels as numpy in the task's form (core.tasks; class indices in [0, n_classes) by default), or a DataError."""
    labels_np = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if task is not None and task.name != "classification":
        return task.check_labels("labels", labels_np, len(x), n_classes)
    labels_np = labels_np.astype(np.int64, copy=False).reshape(-1)
    if len(labels_np) != len(x):
        raise DataError(f"got {len(x)} inputs but {len(labels_np)} labels")
    if len(labels_np) and (labels_np.min() < 0 or labels_np.max() >= n_classes):
        raise DataError(f"labels must lie in [0, {n_classes}); found [{labels_np.min()}, {labels_np.max()}]")
    return labels_np
