"""One class per sample: softmax cross-entropy, r = p − e_y (the paper's setting)."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from core.tasks.base import Task, label_error


class Classification(Task):
    name = "classification"

    def check_labels(self, name: str, labels: np.ndarray, n: int, n_outputs: int) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise label_error(name, f"has shape {labels.shape}, expected ({n},)")
        if len(labels) and (labels.min() < 0 or labels.max() >= n_outputs):
            raise label_error(name, f"has values outside [0, {n_outputs - 1}]")
        return labels.astype(np.int64)

    def is_wrong(self, given: np.ndarray, true: np.ndarray) -> np.ndarray:
        return np.asarray(given) != np.asarray(true)

    def targets(self, labels: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(labels, dtype=np.int64))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(outputs.float(), targets, reduction=reduction)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs.float(), dim=1)

    def loss_and_residual(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = torch.log_softmax(outputs, dim=1)
        column = targets[:, None]
        taken = log_probs.gather(1, column)
        residual = log_probs.exp_().scatter_add_(1, column, torch.full_like(taken, -1.0))
        return -taken.sum(dtype=torch.float64), residual

    def residual(self, preds: np.ndarray, labels: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        out = np.array(preds, dtype=dtype)
        out[np.arange(len(out)), np.asarray(labels, dtype=np.int64)] -= 1.0
        return out

    def sample_loss(self, preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels, dtype=np.int64)
        given = np.asarray(preds)[np.arange(len(labels)), labels].astype(np.float64)
        return (-np.log(np.clip(given, 1e-12, None))).astype(np.float32)

    def metrics(self, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return {"accuracy": float((np.asarray(preds).argmax(axis=1) == np.asarray(labels)).mean())}

    def curvature_entry(self, preds: np.ndarray, a: int, b: int) -> np.ndarray:
        """J = diag(p) − p pᵀ."""
        return (preds[:, a] if a == b else 0.0) - preds[:, a] * preds[:, b]

    def curvature_apply(self, preds: np.ndarray, z: np.ndarray) -> np.ndarray:
        mean_z = np.einsum("ic,ick->ik", preds, z)
        return preds[:, :, None] * (z - mean_z[:, None, :])
