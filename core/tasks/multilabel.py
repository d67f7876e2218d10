"""A set of tags per sample: C independent sigmoids under binary cross-entropy summed over the tags.

ℓ(z, y) = Σ_c −y_c log σ(z_c) − (1 − y_c) log(1 − σ(z_c)), so ∂ℓ/∂z_c = σ(z_c) − y_c: the same
r hᵀ gradient as softmax, with r's coordinate c near −1 when tag c is given but the model does not
see it, near +1 when the model sees a tag that is not given (docs/tasks.md).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from core.tasks.base import Task, label_error

THRESHOLD = 0.5
"""A tag is predicted when its sigmoid reaches this."""


class MultiLabel(Task):
    name = "multilabel"

    def check_labels(self, name: str, labels: np.ndarray, n: int, n_outputs: int) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.shape != (n, n_outputs):
            raise label_error(name, f"has shape {labels.shape}, expected ({n}, {n_outputs}) tag indicators")
        if len(labels) and not np.isin(labels, (0, 1)).all():
            raise label_error(name, "holds values other than 0 and 1")
        return labels.astype(np.uint8)

    def is_wrong(self, given: np.ndarray, true: np.ndarray) -> np.ndarray:
        return (np.asarray(given) != np.asarray(true)).any(axis=1)

    def targets(self, labels: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(labels, dtype=np.float32))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        per_sample = F.binary_cross_entropy_with_logits(outputs.float(), targets, reduction="none").sum(dim=1)
        return {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs.float())

    def loss_and_residual(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = F.binary_cross_entropy_with_logits(outputs, targets, reduction="sum").double()
        return loss, torch.sigmoid(outputs).sub_(targets)

    def residual(self, preds: np.ndarray, labels: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        return np.asarray(preds, dtype=dtype) - np.asarray(labels, dtype=dtype)

    def sample_loss(self, preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(preds, dtype=np.float64), 1e-12, 1 - 1e-12)
        y = np.asarray(labels, dtype=np.float64)
        return (-(y * np.log(p) + (1 - y) * np.log1p(-p)).sum(axis=1)).astype(np.float32)

    def metrics(self, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """micro-F1 over every (sample, tag) pair, and exact-set accuracy (every tag right)."""
        predicted = np.asarray(preds) >= THRESHOLD
        truth = np.asarray(labels).astype(bool)
        hits = int((predicted & truth).sum())
        denominator = int(predicted.sum() + truth.sum())
        return {"micro_f1": 2 * hits / denominator if denominator else 1.0,
                "exact_set_accuracy": float((predicted == truth).all(axis=1).mean())}

    def curvature_entry(self, preds: np.ndarray, a: int, b: int) -> np.ndarray | float:
        """J = diag(σ (1 − σ)): the tags' losses are independent."""
        return preds[:, a] * (1.0 - preds[:, a]) if a == b else 0.0

    def curvature_apply(self, preds: np.ndarray, z: np.ndarray) -> np.ndarray:
        return (preds * (1.0 - preds))[:, :, None] * z
