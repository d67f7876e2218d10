"""A number per sample: a linear output, fit robustly, whose squared error's gradient is analyzed.

Targets are standardized with the given training targets' median and scale (1.4826 · median absolute
deviation, robust to the corrupted values the analysis looks for; the standard deviation when the MAD
is 0): ỹ = (y − center) / scale, and ŷ = center + scale · z.

- Training minimizes the Huber loss of z − ỹ with threshold δ (`train.huber_delta`, 1.345 by default:
  the classic 95%-efficiency choice): quadratic near the fit, linear beyond δ, so a target typed a hundred
  times too large pulls the fit as hard as one δ away, not a hundred times harder (measured in
  docs/tasks.md: with squared-error training such targets drag the fit and clean rows get flagged).
  δ = 0 trains on the squared error.
- The analyzed loss is half the squared error, ℓ = ½ (z − ỹ)², so r = z − ỹ = (ŷ − y) / scale keeps
  growing with the error (Huber's own gradient stops at δ, and every wild target would tie). The
  gradient's direction does not depend on the units the target was typed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from core.tasks.base import Task, label_error


class Regression(Task):
    name = "regression"

    def __init__(self, center: float = 0.0, scale: float = 1.0, huber_delta: float = 0.0) -> None:
        self.center = float(center)
        self.scale = float(scale)
        self.huber_delta = float(huber_delta)

    @classmethod
    def fit(cls, given: np.ndarray | None, huber_delta: float = 0.0) -> Regression:
        if given is None or len(given) == 0:
            return cls(huber_delta=huber_delta)
        values = np.asarray(given, dtype=np.float64)
        center = float(np.median(values))
        scale = 1.4826 * float(np.median(np.abs(values - center)))
        if not scale > 0:
            scale = float(values.std())
        return cls(center, scale if scale > 0 else 1.0, huber_delta)

    def params(self) -> dict[str, Any]:
        return {"center": self.center, "scale": self.scale, "huber_delta": self.huber_delta}

    def check_labels(self, name: str, labels: np.ndarray, n: int, n_outputs: int) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise label_error(name, f"has shape {labels.shape}, expected ({n},) target values")
        if not np.issubdtype(labels.dtype, np.number) or not np.isfinite(labels.astype(np.float64)).all():
            raise label_error(name, "must hold finite numbers")
        return labels.astype(np.float64)

    def is_wrong(self, given: np.ndarray, true: np.ndarray) -> np.ndarray:
        given, true = np.asarray(given, dtype=np.float64), np.asarray(true, dtype=np.float64)
        return ~np.isclose(given, true, rtol=1e-6, atol=1e-9)

    def targets(self, labels: np.ndarray) -> torch.Tensor:
        values = (np.asarray(labels, dtype=np.float64) - self.center) / self.scale
        return torch.as_tensor(values.astype(np.float32)[:, None])

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if not self.huber_delta:
            return self.analysis_loss(outputs, targets, reduction)
        per_sample = F.huber_loss(outputs.float(), targets.float(), reduction="none", delta=self.huber_delta).sum(dim=1)
        return {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]

    def analysis_loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        per_sample = 0.5 * (outputs.float() - targets).pow(2).sum(dim=1)
        return {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float() * self.scale + self.center

    def loss_and_residual(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        residual = outputs - targets
        if not self.huber_delta:
            return 0.5 * residual.double().pow(2).sum(), residual
        loss = F.huber_loss(outputs, targets, reduction="sum", delta=self.huber_delta).double()
        return loss, residual.clamp_(-self.huber_delta, self.huber_delta)

    def residual(self, preds: np.ndarray, labels: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        values = np.asarray(preds, dtype=np.float64).reshape(len(preds), -1)
        return ((values - np.asarray(labels, dtype=np.float64)[:, None]) / self.scale).astype(dtype)

    def sample_loss(self, preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return (0.5 * self.residual(preds, labels, np.float64) ** 2).sum(axis=1).astype(np.float32)

    def metrics(self, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        error = np.asarray(preds, dtype=np.float64).reshape(-1) - np.asarray(labels, dtype=np.float64)
        return {"rmse": float(np.sqrt(np.mean(error ** 2))), "mae": float(np.mean(np.abs(error)))}

    def curvature_entry(self, preds: np.ndarray, a: int, b: int) -> np.ndarray | float:
        """J = 1: half the squared error of the standardized target, whatever the prediction."""
        return np.ones(len(preds)) if a == b else 0.0

    def curvature_apply(self, preds: np.ndarray, z: np.ndarray) -> np.ndarray:
        return z
